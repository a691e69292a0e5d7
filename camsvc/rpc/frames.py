"""WebSocket data frames the server sends (RFC 6455 §5.2).

Server → client frames are never masked and we negotiate no extensions, so a
text frame is a fixed function of its payload: one notification frame can be
built once and queued on every subscribed connection.
"""

from __future__ import annotations

import struct


def text_frame(payload: bytes) -> bytes:
    """An unmasked, final text frame."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload
