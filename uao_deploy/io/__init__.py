"""Files in and out: skeleton layouts, 2D detector outputs, and lifted results for other tools."""
