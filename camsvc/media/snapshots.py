"""take_snapshot: one frame of a camera as JPEG or PNG, the cheapest way available.

Tiers, tried in this order, each with its own timeout inside one overall bound
(``snapshots.timeout``):

``rtsp``       the camera's stream is ready in MediaMTX: ffmpeg reads one frame over RTSP/TCP from
               ``rtsp://127.0.0.1:<rtsp_port>/<id>`` (no second opener of the device).
``direct``     the stream is idle and the source is local (V4L2/synthetic): ffmpeg captures straight
               from ``camera.source.ffmpeg_input`` inside the camera actor (``exclusive=True``), so no two
               ffmpeg processes fight for one device. If that fails (MediaMTX grabbed the device
               meanwhile) we fall through to ``on_demand``.
``on_demand``  otherwise (an idle network camera): reading the RTSP URL makes MediaMTX start the
               on-demand source; the frame is read as in ``rtsp`` with a longer timeout.

The frame is written to a dot-prefixed temp name in the snapshots dir (never listed) and
published under its final name with ``link()`` (atomic, refuses to overwrite), then the temp
is removed; nothing partial is ever visible, and a client-chosen name that exists is
``InvalidState("file_exists")``.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import trio

from ..cameras.model import Camera, CameraStatus
from ..cameras.registry import CameraRegistry
from ..errors import DependencyFailed, InvalidParams, InvalidState, NotFound
from ..events import EventBus
from ..health import iso
from ..storage import names
from ..storage.disk import StorageGate
from ..storage.state import StateStore
from .deps import CameraDirectoryLike, MediamtxLike
from .ffmpeg import FfmpegRunner, jpeg_qscale

log = logging.getLogger("camsvc.media.snapshots")

FORMATS = ("jpg", "png")
#: read an RTSP stream without ffmpeg's input analysis (the SDP describes it)
FAST_PROBE = ("-probesize", "32", "-analyzeduration", "0")
TIER_RTSP, TIER_DIRECT, TIER_ON_DEMAND = "rtsp", "direct", "on_demand"

SCHEMA = [
    # Custom snapshot names do not carry their camera; remember it for device filters.
    "CREATE TABLE snapshot_devices (filename TEXT PRIMARY KEY, device TEXT NOT NULL, created REAL NOT NULL)"
]


@attrs.frozen
class SnapshotTimeouts:
    total: float = 15.0
    rtsp: float = 5.0
    direct: float = 8.0
    on_demand: float = 12.0


@attrs.frozen
class Snapshot:
    device: str
    filename: str
    path: str
    format: str
    file_size: int
    #: wall-clock capture time
    timestamp: float
    tier: str
    #: disk usage was at/over warn_percent
    low_space_warning: bool = False


def snapshot_name(filename: str | None, fmt: str | None, default_format: str) -> tuple[str | None, str]:
    """(custom name with extension or None, format) from the request's filename/format params."""
    if fmt is not None and fmt not in FORMATS:
        raise InvalidParams("format", "invalid_value", f"format must be one of {', '.join(FORMATS)}")
    if filename is None:
        return None, fmt or default_format
    names.validate_name(filename)
    if not names.CUSTOM_NAME.fullmatch(filename):
        raise InvalidParams("filename", "invalid_filename", "filename must match [A-Za-z0-9._-]{1,128}")
    lower = filename.lower()
    given = "png" if lower.endswith(".png") else "jpg" if lower.endswith((".jpg", ".jpeg")) else None
    if given is None:
        chosen = fmt or default_format
        return f"{filename}.{chosen}", chosen
    if fmt is not None and fmt != given:
        raise InvalidParams(
            "format", "format_mismatch", f"format {fmt!r} contradicts the file name's extension"
        )
    return filename, given


class Snapshots:
    def __init__(
        self,
        *,
        directory: str,
        registry: CameraRegistry,
        runner: FfmpegRunner,
        gate: StorageGate,
        bus: EventBus,
        store: StateStore,
        cameras: CameraDirectoryLike | None,
        mediamtx: MediamtxLike | None,
        rtsp_url: Callable[[str], str],
        default_format: str = "jpg",
        default_quality: int = 90,
        timeouts: SnapshotTimeouts = SnapshotTimeouts(),
    ) -> None:
        self.directory = directory
        self._registry = registry
        self._runner = runner
        self._gate = gate
        self._bus = bus
        self._store = store
        self._cameras = cameras
        self._mediamtx = mediamtx
        self._rtsp_url = rtsp_url
        self.default_format = default_format
        self.default_quality = default_quality
        self.timeouts = timeouts
        self._devices: dict[str, str] = {}
        self.taken = 0

    # ------------------------------------------------------------------ custom-name devices

    def open(self) -> None:
        """Create the table and load the custom-name → device map (synchronous, at build time)."""
        Path(self.directory).mkdir(parents=True, exist_ok=True)
        self._store.ensure_schema("snapshots", SCHEMA)
        rows = self._store.run_sync(
            lambda c: c.execute("SELECT filename, device FROM snapshot_devices").fetchall()
        )
        self._devices = {r[0]: r[1] for r in rows}

    def device_hint(self, filename: str) -> str | None:
        return self._devices.get(filename)

    async def forget(self, filename: str) -> None:
        if self._devices.pop(filename, None) is not None:
            await self._store.execute("DELETE FROM snapshot_devices WHERE filename = ?", (filename,))

    # ------------------------------------------------------------------ take_snapshot

    async def take(
        self,
        device: str,
        *,
        filename: str | None = None,
        format: str | None = None,  # noqa: A002 - the API's name
        quality: int | None = None,
    ) -> Snapshot:
        camera = self._registry.get(device)
        if camera is None:
            raise NotFound("camera", device)
        if camera.status is not CameraStatus.CONNECTED:
            raise InvalidState("camera_disconnected", f"camera {camera.id} is {camera.status.value}")
        custom, fmt = snapshot_name(filename, format, self.default_format)
        if quality is not None and not (isinstance(quality, int) and 1 <= quality <= 100):
            raise InvalidParams("quality", "out_of_range", "quality must be an integer from 1 to 100")
        quality = quality if quality is not None else self.default_quality
        if custom is not None and await trio.to_thread.run_sync(
            os.path.lexists, os.path.join(self.directory, custom)
        ):
            raise InvalidState("file_exists", f"{custom} already exists")
        gate = await self._gate.check(self.directory)

        await trio.to_thread.run_sync(lambda: Path(self.directory).mkdir(parents=True, exist_ok=True))
        tmp = os.path.join(self.directory, f".{camera.id}.{secrets.token_hex(6)}.tmp.{fmt}")
        taken_at = time.time()
        try:
            tier = await self._capture(camera, tmp, fmt, quality)
            final, size = await trio.to_thread.run_sync(self._publish, tmp, camera.id, custom, fmt, taken_at)
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(_unlink_quietly, tmp)
        if custom is not None:
            self._devices[final] = camera.id
            await self._store.execute(
                "INSERT OR REPLACE INTO snapshot_devices(filename, device, created) VALUES (?, ?, ?)",
                (final, camera.id, taken_at),
            )
        self.taken += 1
        snap = Snapshot(
            camera.id, final, os.path.join(self.directory, final), fmt, size, taken_at, tier, gate.warning
        )
        self._bus.publish(
            "snapshot_taken",
            {
                "device": camera.id,
                "filename": final,
                "timestamp": iso(taken_at),
                "file_size": size,
                "format": fmt,
            },
            device=camera.id,
        )
        log.info("snapshot taken", extra={"camera": camera.id, "file": final, "tier": tier, "bytes": size})
        return snap

    # ------------------------------------------------------------------ tiers

    async def _stream_ready(self, camera_id: str) -> bool | None:
        """True/False from MediaMTX's runtime; None when MediaMTX cannot say (absent or failing)."""
        gateway = self._mediamtx
        if gateway is None:
            return None
        try:
            runtime = await gateway.runtime(camera_id)
        except DependencyFailed:
            return None
        return bool(runtime is not None and getattr(runtime, "ready", False))

    async def _capture(self, camera: Camera, out: str, fmt: str, quality: int) -> str:
        """Write one frame to ``out``; returns the tier that worked (DependencyFailed when none did)."""
        deadline = trio.current_time() + self.timeouts.total
        ready = await self._stream_ready(camera.id)
        errors: list[str] = []
        if ready:
            try:
                await self._from_rtsp(
                    camera, out, fmt, quality, self._budget(deadline, self.timeouts.rtsp), TIER_RTSP
                )
                return TIER_RTSP
            except DependencyFailed as exc:
                if not camera.source.is_local:
                    raise
                errors.append(f"rtsp: {exc.data.get('detail', exc)}")
        if camera.source.is_local and camera.source.ffmpeg_input and self._cameras is not None:
            try:
                await self._direct(camera, out, fmt, quality, self._budget(deadline, self.timeouts.direct))
                return TIER_DIRECT
            except DependencyFailed as exc:
                # Most likely MediaMTX's on-demand publisher holds the device now: read through it.
                errors.append(f"direct: {exc.data.get('detail', exc)}")
        gateway = self._mediamtx
        if gateway is None:
            raise DependencyFailed(
                "ffmpeg", "; ".join(errors) or "no capture method available for this camera"
            )
        gateway.ensure_available()
        try:
            await self._from_rtsp(
                camera, out, fmt, quality, self._budget(deadline, self.timeouts.on_demand), TIER_ON_DEMAND
            )
        except DependencyFailed as exc:
            if errors:
                raise DependencyFailed(
                    "ffmpeg", "; ".join([*errors, f"on_demand: {exc.data.get('detail', exc)}"])
                ) from None
            raise
        return TIER_ON_DEMAND

    def _budget(self, deadline: float, tier_timeout: float) -> float:
        left = deadline - trio.current_time()
        if left <= 0.05:
            raise DependencyFailed("ffmpeg", f"snapshot timed out after {self.timeouts.total:g}s")
        return min(tier_timeout, left)

    async def _from_rtsp(
        self, camera: Camera, out: str, fmt: str, quality: int, limit: float, what: str
    ) -> None:
        """One frame from MediaMTX. First without stream probing: the SDP's parameter sets give the
        size, which saves ffmpeg's ~2 s analysis; a stream whose SDP lacks them gets a second,
        probing read within what is left of the budget."""
        url = self._rtsp_url(camera.id)
        output = _frame_output(fmt, quality, out)
        started = trio.current_time()
        try:
            await self._runner.ffmpeg(
                ["-rtsp_transport", "tcp", *FAST_PROBE, "-i", url, *output],
                timeout=limit,
                what=f"snapshot ({what})",
            )
        except DependencyFailed as exc:
            left = limit - (trio.current_time() - started)
            if "timed out" in str(exc.data.get("detail", "")) or left < 0.5:
                raise
            await self._runner.ffmpeg(
                ["-rtsp_transport", "tcp", "-i", url, *output],
                timeout=left,
                what=f"snapshot ({what}, probing)",
            )
        _check_written(out)

    async def _direct(self, camera: Camera, out: str, fmt: str, quality: int, limit: float) -> None:
        directory = self._cameras
        assert directory is not None

        async def grab(current: Camera) -> None:
            # The actor hands us its current value: use its source (it may have changed format).
            args = [*current.source.ffmpeg_input, *_frame_output(fmt, quality, out)]
            await self._runner.ffmpeg(args, timeout=limit, what="snapshot (direct)")

        try:
            with trio.fail_after(limit + 2.0):  # the actor may be busy with another exclusive op
                await directory.actor(camera.id).call(grab, exclusive=True)
        except trio.TooSlowError:
            raise DependencyFailed("ffmpeg", f"camera {camera.id} stayed busy for {limit:g}s") from None
        _check_written(out)

    # ------------------------------------------------------------------ publishing

    def _publish(
        self, tmp: str, camera_id: str, custom: str | None, fmt: str, taken_at: float
    ) -> tuple[str, int]:
        """Give the finished temp file its final name (never replacing a file); returns (name, size)."""
        size = os.stat(tmp).st_size
        return self._link(tmp, camera_id, custom, fmt, taken_at), size

    def _link(self, tmp: str, camera_id: str, custom: str | None, fmt: str, taken_at: float) -> str:
        if custom is not None:
            try:
                os.link(tmp, os.path.join(self.directory, custom))
            except FileExistsError:
                raise InvalidState("file_exists", f"{custom} already exists") from None
            return custom
        base = f"{camera_id}_{names.stamp(taken_at)}"
        for n in range(1, 10_000):
            candidate = f"{base}.{fmt}" if n == 1 else f"{base}_{n}.{fmt}"
            try:
                os.link(tmp, os.path.join(self.directory, candidate))
            except FileExistsError:
                continue
            return candidate
        raise InvalidState("file_exists", f"no free snapshot name for {base}")


def _frame_output(fmt: str, quality: int, out: str) -> list[str]:
    codec = ["-c:v", "png"] if fmt == "png" else ["-c:v", "mjpeg", "-q:v", str(jpeg_qscale(quality))]
    return ["-frames:v", "1", "-an", *codec, "-f", "image2", "-update", "1", "-y", out]


def _check_written(out: str) -> None:
    try:
        size = os.stat(out).st_size
    except OSError:
        size = 0
    if size == 0:
        raise DependencyFailed("ffmpeg", "ffmpeg exited without writing a frame")


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            log.warning("could not remove temp file", extra={"path": path, "error": str(exc)})


def snapshot_result(snap: Snapshot, download_url: str) -> dict[str, Any]:
    """The take_snapshot result (spec §4)."""
    doc: dict[str, Any] = {
        "device": snap.device,
        "filename": snap.filename,
        "status": "SUCCESS",
        "timestamp": iso(snap.timestamp),
        "file_size": snap.file_size,
        "file_path": snap.path,
        "download_url": download_url,
        "format": snap.format,
        "capture_method": snap.tier,
    }
    if snap.low_space_warning:
        doc["low_space_warning"] = True
    return doc
