"""Cameras: device discovery, V4L2 capability probing, format policy, camera actors and registry."""
