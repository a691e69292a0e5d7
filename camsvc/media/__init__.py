"""Media: the ffmpeg runner, snapshots and recording sessions."""
