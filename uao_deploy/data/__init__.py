"""Reading data: Human3.6M, motion capture, 2D keypoint files, and the shipped Human3.6M calibration."""
