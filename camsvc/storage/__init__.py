"""Storage: the SQLite state store, media files, retention."""
