"""The HMAC secret behind JWTs and download tokens.

Taken from ``security.jwt_secret``, else the file ``security.jwt_secret_file``, else
``<state_dir>/jwt_secret`` — generated there (mode 0600) at first start. There is
no built-in default: a shipped secret would let anyone mint admin tokens.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..config import Config

#: shortest secret accepted (HS256 wants at least the hash size)
MIN_SECRET_BYTES = 32
GENERATED_NAME = "jwt_secret"


class SecretError(ValueError):
    """The configured secret cannot be used; the message says why and where."""


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise SecretError(f"security.jwt_secret_file: {path} does not exist") from None
    except OSError as exc:
        raise SecretError(f"security.jwt_secret_file: cannot read {path}: {exc.strerror}") from None
    if len(text.encode()) < MIN_SECRET_BYTES:
        raise SecretError(f"security.jwt_secret_file: {path} holds fewer than {MIN_SECRET_BYTES} bytes")
    return text


def _generate(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not each write a different secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")
    return value


def load_secret(config: Config) -> bytes:
    """The secret as bytes, creating ``<state_dir>/jwt_secret`` when nothing is configured."""
    sec = config.security
    if sec.jwt_secret:
        if len(sec.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise SecretError(f"security.jwt_secret: must be at least {MIN_SECRET_BYTES} bytes")
        return sec.jwt_secret.encode()
    if sec.jwt_secret_file:
        return _read(Path(sec.jwt_secret_file)).encode()
    path = Path(config.storage.state_dir) / GENERATED_NAME
    if path.exists():
        return _read(path).encode()
    return _generate(path).encode()
