"""Signed, expiring download tokens for ``get_download_url`` (one token, one file).

A token is ``<expires>.<signature>``: the signature is an HMAC-SHA256, under the
service secret, of the file type, the file name and the expiry, so it opens that
one file until then and nothing else. No state is kept.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

#: separates these MACs from any other use of the same secret
_DOMAIN = b"camsvc-download-v1"


def _mac(secret: bytes, file_type: str, filename: str, expires: int) -> str:
    message = b"\n".join((_DOMAIN, file_type.encode(), filename.encode(), str(expires).encode()))
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: bytes, file_type: str, filename: str, expires_in: float, *, now: float | None = None) -> tuple[str, float]:
    """(token, expires_at wall clock)."""
    expires = int((time.time() if now is None else now) + expires_in)
    return f"{expires}.{_mac(secret, file_type, filename, expires)}", float(expires)


def verify(secret: bytes, token: str, file_type: str, filename: str, *, now: float | None = None) -> bool:
    expires_text, dot, signature = token.partition(".")
    if not dot or not expires_text.isdigit() or len(expires_text) > 12:
        return False
    expires = int(expires_text)
    if (time.time() if now is None else now) >= expires:
        return False
    return hmac.compare_digest(signature, _mac(secret, file_type, filename, expires))
