"""Camera values: what every reader of camera state sees (immutable snapshots).

A camera actor owns its camera and publishes a new :class:`Camera` value into the
registry whenever anything about it changes; the reconciler, the RPC layer and
health read only these values.
"""

from __future__ import annotations

import enum
import re

import attrs

#: public ids of USB cameras: /dev/videoN → cameraN (existing clients validate this form)
USB_ID = re.compile(r"camera(\d+)")
#: ids of configured synthetic/network cameras and external streams
CONFIGURED_ID = re.compile(r"[a-z0-9_]{1,32}")
DEVICE_ALIAS = re.compile(r"/dev/video(\d+)")


class CameraStatus(enum.Enum):
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    ERROR = "ERROR"


class SourceKind(enum.Enum):
    V4L2 = "v4l2"
    SYNTHETIC = "synthetic"
    NETWORK = "network"


class ValidationStatus(enum.Enum):
    """How far a camera's capabilities are known (spec: get_camera_capabilities)."""

    NONE = "NONE"
    DISCONNECTED = "DISCONNECTED"
    CONFIRMED = "CONFIRMED"


@attrs.frozen
class Resolution:
    width: int
    height: int

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    @classmethod
    def parse(cls, text: str) -> Resolution:
        w, _, h = text.partition("x")
        return cls(int(w), int(h))


@attrs.frozen
class Capabilities:
    formats: tuple[str, ...] = ()
    resolutions: tuple[str, ...] = ()
    fps_options: tuple[int, ...] = ()
    validation_status: ValidationStatus = ValidationStatus.NONE


@attrs.frozen
class Source:
    """Where a camera's media comes from.

    ``ffmpeg_input`` are the ffmpeg *input* arguments for local sources (v4l2 and
    synthetic): MediaMTX's runOnDemand publisher and direct snapshots both use
    them. ``url`` is the pulled source of a network camera.
    """

    kind: SourceKind
    ffmpeg_input: tuple[str, ...] = ()
    #: encoder arguments appended after the input (e.g. H.264 settings, or -c:v copy)
    ffmpeg_encode: tuple[str, ...] = ()
    device_path: str | None = None
    url: str | None = None

    @property
    def is_local(self) -> bool:
        return self.kind is not SourceKind.NETWORK


@attrs.frozen
class RecordingState:
    """A recording in progress, as the camera actor publishes it."""

    session_id: str
    #: the session's first file name (MediaMTX writes further segments); None until it exists
    filename: str | None
    #: wall-clock start, seconds since the epoch
    start_time: float
    format: str
    #: requested duration in seconds, None = until stopped
    duration: int | None = None


@attrs.frozen
class Camera:
    id: str
    name: str
    source: Source
    status: CameraStatus = CameraStatus.CONNECTED
    resolution: Resolution = Resolution(640, 480)
    fps: int = 15
    capabilities: Capabilities = Capabilities()
    recording: RecordingState | None = None
    #: the stream is kept up regardless of readers (start_streaming lease)
    keep_streaming: bool = False
    #: wall-clock time the camera entered its current status
    since: float = 0.0
    #: why the camera is in ERROR (operator-facing text; not part of the camera object)
    error: str | None = None

    @property
    def device_path(self) -> str | None:
        return self.source.device_path


def usb_id(device_path: str) -> str | None:
    """/dev/videoN → cameraN; None for anything else."""
    m = DEVICE_ALIAS.fullmatch(device_path)
    return f"camera{m.group(1)}" if m else None
