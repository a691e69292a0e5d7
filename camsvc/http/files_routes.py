"""``GET|HEAD /files/recordings/<name>`` and ``/files/snapshots/<name>`` (spec §7).

Auth: ``Authorization: Bearer <jwt or API key>``, ``X-API-Key``, or the ``token``
query parameter from get_download_url (valid for that one file only); viewer role.
Files are streamed in chunks straight from an ``O_NOFOLLOW`` descriptor (never
loaded whole; closed when the client goes away), with ``Accept-Ranges: bytes``
(single-range 206 / 416, ``If-Range``), ``ETag``/``Last-Modified`` and
``If-None-Match``/``If-Modified-Since`` → 304; werkzeug.http parses those headers.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response, request
from werkzeug.http import parse_date, parse_etags, parse_if_range_header, parse_range_header, quote_etag

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

    Parsed by werkzeug.http. Malformed, non-byte and multi-range headers are ignored (RFC 9110
    allows serving the whole representation); werkzeug counts ``bytes=-0`` as malformed.
    """
    wanted = parse_range_header(header)
    if wanted is None or wanted.units != "bytes" or len(wanted.ranges) != 1:
        return None
    span = wanted.range_for_length(size)
    if span is None:
        return "unsatisfiable"
    return span[0], span[1] - 1


def _etag(st: os.stat_result) -> str:
    """The entity tag, unquoted (werkzeug's ETags hold them so)."""
    return f"{st.st_mtime_ns:x}-{st.st_size:x}"


def _not_modified(st: os.stat_result, etag: str) -> bool:
    """If-None-Match (weak comparison), else If-Modified-Since (whole seconds), per RFC 9110 §13.2.2."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match:
        return parse_etags(if_none_match).contains_weak(etag)
    since = parse_date(request.headers.get("If-Modified-Since"))
    return since is not None and int(st.st_mtime) <= since.timestamp()


def _range_still_valid(st: os.stat_result, etag: str) -> bool:
    """If-Range: the client's partial copy is of this version (strong ETag or exact date)."""
    header = request.headers.get("If-Range")
    if not header:
        return True
    if_range = parse_if_range_header(header)
    if if_range.etag is not None:
        return if_range.etag == etag
    return if_range.date is not None and int(if_range.date.timestamp()) == int(st.st_mtime)


def _stat(directory: str, name: str, kind: FileKind) -> tuple[Path, os.stat_result]:
    """Path and status of a regular file directly inside ``directory`` (NotFound otherwise, symlinks too)."""
    if not name.lower().endswith(kind.extensions):
        raise NotFound("file", name)
    path = names.resolve_inside(directory, name)
    fd = _open_regular(path)
    if fd is None:
        raise NotFound("file", name)
    try:
        return path, os.fstat(fd)
    finally:
        os.close(fd)


def _open_regular(path: Path) -> int | None:
    """An O_NOFOLLOW descriptor of ``path`` when it is a regular file, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            return fd
    except OSError:
        pass
    os.close(fd)
    return None


class FileBody:
    """``length`` bytes of a file from ``start``, read in chunks off the event loop.

    The descriptor is opened on the first read (so a response that is never sent holds
    nothing) and closed when the body is exhausted or by :meth:`aclose`, which Quart calls
    when the client goes away mid-download. A file replaced since it was stat-ed (another
    inode) or shrunk ends the body early; the client sees a short body, never other data.
    """

    def __init__(self, path: Path, st: os.stat_result, start: int, length: int) -> None:
        self._path = path
        self._inode = (st.st_dev, st.st_ino)
        self._offset = start
        self._left = length
        self._fd: int | None = None
        self._closed = False

    def __aiter__(self) -> FileBody:
        return self

    async def __anext__(self) -> bytes:
        if self._closed or self._left <= 0:
            await self.aclose()
            raise StopAsyncIteration
        if self._fd is None:
            self._fd = await trio.to_thread.run_sync(self._open)
            if self._fd is None:
                await self.aclose()
                raise StopAsyncIteration
        chunk = await trio.to_thread.run_sync(os.pread, self._fd, min(CHUNK, self._left), self._offset)
        if not chunk:  # the file shrank under us
            await self.aclose()
            raise StopAsyncIteration
        self._offset += len(chunk)
        self._left -= len(chunk)
        return chunk

    def _open(self) -> int | None:
        fd = _open_regular(self._path)
        if fd is None:
            return None
        st = os.fstat(fd)
        if (st.st_dev, st.st_ino) != self._inode:
            os.close(fd)
            return None
        return fd

    async def aclose(self) -> None:
        self._closed = True
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def files_blueprint(services: Services) -> Blueprint:
    bp = Blueprint("files", __name__)

    async def authorize(kind: FileKind, name: str) -> Response | None:
        auth = services.auth
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
        directory = services.media.files(kind).directory
        try:
            path, st = await trio.to_thread.run_sync(_stat, directory, name, kind)
        except NotFound:
            return _error(404, "file_not_found", f"file {name!r} not found")
        return _respond(path, st, name)

    def _respond(path: Path, st: os.stat_result, name: str) -> Response:
        size = st.st_size
        etag = _etag(st)
        headers = {
            "Accept-Ranges": "bytes",
            "ETag": quote_etag(etag),
            "Last-Modified": email.utils.formatdate(st.st_mtime, usegmt=True),
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-cache",
        }
        if _not_modified(st, etag):
            return Response(b"", status=304, headers=headers)
        wanted = parse_range(request.headers.get("Range"), size)
        if wanted is not None and not _range_still_valid(st, etag):
            wanted = None  # the client's copy is stale: send the whole new file
        status, start, length = 200, 0, size
        if wanted == "unsatisfiable":
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
            response = Response(b"", status=status, headers=headers, content_type=content_type)
        else:
            body = FileBody(path, st, start, length)
            response = Response(body, status=status, headers=headers, content_type=content_type)
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
