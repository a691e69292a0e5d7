"""The HTTP side (port 8003): health, supervisor status, files, metrics."""
