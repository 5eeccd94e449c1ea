"""Pictures of results: animations (gif/mp4)."""
