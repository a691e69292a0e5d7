"""API renderings of cameras (spec §3): the camera object, capabilities, status extras, stream URLs.

Every method and event that shows a camera goes through these functions, so a camera looks the same in
``get_camera_list``, ``get_camera_status`` and ``camera_status_update``. Stream URLs name the configured
public host, else the host the client connected to, else ``localhost``; that is why events carry a ``render``
function and the RPC layer passes the connection's host.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from ..config import MediamtxConfig
from ..health import iso
from .model import Camera, CameraStatus, RecordingState, ValidationStatus


def _url_host(host: str) -> str:
    # A bare IPv6 address needs brackets inside a URL.
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


@attrs.frozen
class StreamUrls:
    """Where MediaMTX serves a camera's stream, for the three protocols clients use."""

    public_host: str | None
    rtsp_port: int
    hls_port: int
    webrtc_port: int

    @classmethod
    def from_config(cls, cfg: MediamtxConfig) -> StreamUrls:
        return cls(cfg.public_host or None, cfg.rtsp_port, cfg.hls_port, cfg.webrtc_port)

    def host(self, client_host: str | None) -> str:
        return _url_host(self.public_host or client_host or "localhost")

    def rtsp(self, camera_id: str, client_host: str | None) -> str:
        return f"rtsp://{self.host(client_host)}:{self.rtsp_port}/{camera_id}"

    def for_camera(self, camera_id: str, host: str | None) -> dict[str, str]:
        h = self.host(host)
        return {
            "rtsp": f"rtsp://{h}:{self.rtsp_port}/{camera_id}",
            "hls": f"http://{h}:{self.hls_port}/{camera_id}/index.m3u8",
            "webrtc": f"http://{h}:{self.webrtc_port}/{camera_id}/whep",
        }


def camera_object(camera: Camera, *, host: str | None, urls: StreamUrls) -> dict[str, Any]:
    """The spec §3 camera object: ``{device, status, name, resolution, fps, streams, recording}``."""
    return {
        "device": camera.id,
        "status": camera.status.value,
        "name": camera.name,
        "resolution": str(camera.resolution),
        "fps": int(camera.fps),
        "streams": urls.for_camera(camera.id, host),
        "recording": camera.recording is not None,
    }


def disconnected(camera: Camera) -> Camera:
    """The value a removed camera is shown with in its last ``camera_status_update``."""
    return attrs.evolve(camera, status=CameraStatus.DISCONNECTED, since=time.time(), recording=None)


def validation_status(camera: Camera) -> ValidationStatus:
    if camera.status is CameraStatus.DISCONNECTED:
        return ValidationStatus.DISCONNECTED
    return camera.capabilities.validation_status


def capabilities_object(camera: Camera) -> dict[str, Any]:
    """``get_camera_capabilities``: ``{device, formats, resolutions, fps_options, validation_status}``."""
    caps = camera.capabilities
    return {
        "device": camera.id,
        "formats": list(caps.formats),
        "resolutions": list(caps.resolutions),
        "fps_options": list(caps.fps_options),
        "validation_status": validation_status(camera).value,
    }


def recording_session_object(state: RecordingState, *, now: float | None = None) -> dict[str, Any]:
    """``recording_session`` of ``get_camera_status``: ``{session_id, filename, start_time, elapsed}``."""
    now = time.time() if now is None else now
    return {
        "session_id": state.session_id,
        "filename": state.filename,
        "start_time": iso(state.start_time),
        "elapsed": max(0, int(now - state.start_time)),
    }


def camera_status_object(
    camera: Camera,
    *,
    host: str | None,
    urls: StreamUrls,
    metrics: dict[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """``get_camera_status``: the camera object plus ``metrics``, ``capabilities`` and, while recording,
    ``recording_session``. ``metrics`` (``{bytes_sent, readers, uptime}``) come from MediaMTX, which the
    caller asks; without them zeros are shown."""
    doc = camera_object(camera, host=host, urls=urls)
    doc["metrics"] = {"bytes_sent": 0, "readers": 0, "uptime": 0, **(metrics or {})}
    doc["capabilities"] = {
        "formats": list(camera.capabilities.formats),
        "resolutions": list(camera.capabilities.resolutions),
    }
    if camera.recording is not None:
        doc["recording_session"] = recording_session_object(camera.recording, now=now)
    return doc


def public_view(camera: Camera) -> tuple[Any, ...]:
    """What a client can see of a camera; a change here is a ``camera_status_update``."""
    return (
        camera.status,
        camera.name,
        camera.resolution,
        int(camera.fps),
        camera.recording is not None,
    )
