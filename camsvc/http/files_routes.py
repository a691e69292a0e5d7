"""``GET|HEAD /files/recordings/<name>`` and ``/files/snapshots/<name>`` (spec §7).

Auth: ``Authorization: Bearer <jwt or API key>``, ``X-API-Key``, or the ``token``
query parameter from get_download_url (valid for that one file only); viewer role.
Files are streamed in chunks straight from an ``O_NOFOLLOW`` descriptor (never
loaded whole), with ``Accept-Ranges: bytes`` (single-range 206 / 416),
``ETag``/``Last-Modified`` and ``If-None-Match``/``If-Modified-Since`` → 304.

The name is checked before anything touches the disk: the route captures the
rest of the path (so ``%2f``/``%2e%2e`` decode into something we see and reject
with 400 rather than a router 404), it must be a bare safe name, and the file
must be a regular file directly inside the media directory (symlinks refused).
Errors are JSON ``{error, reason}``: 400 bad name, 401, 403, 404.
"""

from __future__ import annotations

import email.utils
import logging
import os
import stat
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response, request

from ..errors import AuthFailed, NotFound, RateLimited
from ..security.roles import Role
from ..storage import names
from ..storage.files import FileKind

if TYPE_CHECKING:
    from ..services import Services

log = logging.getLogger("camsvc.http.files")

CHUNK = 256 * 1024


def _error(status: int, reason: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = Response(
        _json({"error": message, "reason": reason}),
        status=status,
        mimetype="application/json",
        headers=headers or {},
    )
    return response


def _json(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc)


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """A single ``bytes=`` range → (first, last) inclusive; "unsatisfiable"; None = serve the whole file.

    Malformed or multi-range headers are ignored (RFC 9110 allows serving the whole representation).
    """
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first_text == "":
            suffix = int(last_text)
            if suffix < 0:
                return None
            if suffix == 0 or size == 0:
                return "unsatisfiable"
            return max(0, size - suffix), size - 1
        first = int(first_text)
        last = int(last_text) if last_text else size - 1
    except ValueError:
        return None
    if first < 0 or (last_text and last < first):
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


def _etag(st: os.stat_result) -> str:
    return f'"{st.st_mtime_ns:x}-{st.st_size:x}"'


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    # Weak comparison: W/"x" matches "x".
    candidates = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in candidates


def _not_modified_since(header: str | None, st: os.stat_result) -> bool:
    if not header:
        return False
    try:
        since = email.utils.parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since is None:
        return False
    return int(st.st_mtime) <= since.timestamp()


def _open(directory: str, name: str, kind: FileKind) -> tuple[int, os.stat_result]:
    """An O_NOFOLLOW descriptor of a regular file directly inside ``directory`` (NotFound otherwise)."""
    if not name.lower().endswith(kind.extensions):
        raise NotFound("file", name)
    path = names.resolve_inside(directory, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        raise NotFound("file", name) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotFound("file", name)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


async def _stream(fd: int, start: int, length: int) -> AsyncIterator[bytes]:
    try:
        offset, left = start, length
        while left > 0:
            chunk = await trio.to_thread.run_sync(os.pread, fd, min(CHUNK, left), offset)
            if not chunk:
                break  # the file shrank under us; the client sees a short body
            offset += len(chunk)
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)


def files_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("files", __name__)

    async def authorize(kind: FileKind, name: str) -> Response | None:
        auth = services.auth
        if auth is None:
            return _error(401, "auth_unavailable", "authentication is not available")
        token = request.args.get("token")
        if token is not None:
            if auth.verify_download(token, kind.value, name):
                return None
            return _error(401, "invalid_token", "download token is invalid, expired, or for another file")
        credential = None
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            credential = header[7:].strip()
        elif request.headers.get("X-API-Key"):
            credential = request.headers["X-API-Key"].strip()
        if not credential:
            return _error(401, "auth_required", "credentials required", {"WWW-Authenticate": "Bearer"})
        try:
            identity = await auth.authenticate_credential(credential, request.remote_addr or "unknown")
        except AuthFailed as exc:
            return _error(401, exc.reason, str(exc))
        except RateLimited as exc:
            retry_ms = int(exc.data.get("retry_after_ms", 1000))
            return _error(429, exc.reason, "too many failed authentications; retry later",
                          {"Retry-After": str(max(1, -(-retry_ms // 1000)))})
        if not identity.role.allows(Role.VIEWER):
            return _error(403, "insufficient_role", "requires role viewer")
        return None

    async def serve(kind: FileKind, name: str) -> Response:
        try:
            names.check_name(name)
        except names.BadName as exc:
            return _error(400, exc.reason, str(exc))
        denied = await authorize(kind, name)
        if denied is not None:
            return denied
        media = services.media
        directory = media.files(kind).directory if media is not None else None
        if directory is None:
            return _error(404, "file_not_found", f"file {name!r} not found")
        try:
            fd, st = await trio.to_thread.run_sync(_open, directory, name, kind)
        except NotFound:
            return _error(404, "file_not_found", f"file {name!r} not found")
        try:
            return _respond(fd, st, name)
        except BaseException:
            os.close(fd)
            raise

    def _respond(fd: int, st: os.stat_result, name: str) -> Response:
        size = st.st_size
        etag = _etag(st)
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": etag,
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-cache",
        }
        if_none_match = request.headers.get("If-None-Match")
        if (if_none_match and _etag_matches(if_none_match, etag)) or (
            not if_none_match and _not_modified_since(request.headers.get("If-Modified-Since"), st)
        ):
            os.close(fd)
            return Response(b"", status=304, headers=headers)
        wanted = parse_range(request.headers.get("Range"), size)
        if_range = request.headers.get("If-Range")
        if (
            wanted is not None
            and if_range
            and if_range.strip() != etag
            and if_range.strip() != headers["Last-Modified"]
        ):
            wanted = None  # the client's copy is stale: send the whole new file
        status, start, length = 200, 0, size
        if wanted == "unsatisfiable":
            os.close(fd)
            return _error(
                416,
                "range_not_satisfiable",
                "requested range is outside the file",
                {**headers, "Content-Range": f"bytes */{size}"},
            )
        if isinstance(wanted, tuple):
            first, last = wanted
            status, start, length = 206, first, last - first + 1
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        content_type = names.content_type(name)
        if request.method == "HEAD":
            os.close(fd)
            response = Response(b"", status=status, headers=headers, content_type=content_type)
        else:
            response = Response(
                _stream(fd, start, length), status=status, headers=headers, content_type=content_type
            )
        response.headers["Content-Length"] = str(length)
        return response

    # merge_slashes=False: werkzeug would otherwise 308-redirect "//etc/passwd" instead of letting us refuse it.
    @bp.route("/files/<segment>/<path:name>", methods=["GET", "HEAD"], merge_slashes=False)
    async def download(segment: str, name: str) -> Response:
        kind = FileKind.from_url_segment(segment)
        if kind is None:
            return _error(404, "not_found", "no such file collection")
        return await serve(kind, name)

    @bp.route("/files/<segment>/", methods=["GET", "HEAD"], merge_slashes=False)
    async def no_name(segment: str) -> Response:
        if FileKind.from_url_segment(segment) is None:
            return _error(404, "not_found", "no such file collection")
        return _error(400, "invalid_filename", "filename must not be empty")

    return bp
