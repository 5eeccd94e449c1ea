"""Steps after lifting: the world frame of a camera-frame result."""
