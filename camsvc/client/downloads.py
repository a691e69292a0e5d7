"""Fetching files through the signed URLs of ``get_download_url`` (HTTP, no headers needed).

The body is streamed into a hidden ``.part`` file beside the target and renamed
into place only when complete, so an interrupted download never leaves a file
that looks whole.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import httpx
import trio

from .errors import DownloadError

CHUNK = 256 * 1024
#: seconds without progress (connect, or between two reads) before a download fails
STALL_TIMEOUT = 60.0


def target_path(dest: str | os.PathLike[str] | None, filename: str) -> Path:
    """``dest`` itself, or ``dest/filename`` when it is a directory (default: the working directory)."""
    path = Path(dest) if dest is not None else Path.cwd()
    return path / filename if path.is_dir() else path


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"http_{response.status_code}"
    return str(body.get("reason") or body.get("error") or f"http_{response.status_code}") if isinstance(body, dict) else f"http_{response.status_code}"


async def save(url: str, target: Path, *, verify: ssl.SSLContext | bool = True) -> int:
    """Download ``url`` to ``target``; the number of bytes written."""
    part = target.with_name(f".{target.name}.part")
    written = 0
    try:
        async with httpx.AsyncClient(timeout=STALL_TIMEOUT, verify=verify) as http, http.stream("GET", url) as response:
            if response.status_code != 200:
                await response.aread()
                reason = _reason(response)
                raise DownloadError(response.status_code, reason, f"download failed: HTTP {response.status_code} ({reason})")
            async with await trio.open_file(part, "wb") as out:
                async for chunk in response.aiter_bytes(CHUNK):
                    await out.write(chunk)
                    written += len(chunk)
        await trio.Path(part).rename(target)
    except httpx.HTTPError as exc:
        raise DownloadError(0, "http_error", f"download failed: {exc}") from None
    finally:
        await trio.Path(part).unlink(missing_ok=True)
    return written
