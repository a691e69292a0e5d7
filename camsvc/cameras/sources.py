"""Build the :class:`Camera` value (with its :class:`Source`) of each kind of camera.

All three kinds go through the same camera actor, MediaMTX path, snapshot and recording code; they differ
only in what this module puts into ``Source``:

- ``v4l2``: ``ffmpeg_input`` from :mod:`format_policy` applied to the probed capabilities
  (``-f v4l2 -input_format … -video_size … -framerate … -i /dev/videoN``); ``ffmpeg_encode`` is
  ``-c:v copy`` for H.264 cameras (and MJPEG when ``allow_mjpeg_passthrough``), else the configured encoder.
- ``synthetic``: ``-re -f lavfi -i testsrc2=size=WxH:rate=N``, encoded like a camera; its capabilities
  are exact (one format, that size, that rate) and CONFIRMED.
- ``network``: only a ``url`` that MediaMTX pulls itself; nothing is known about it (validation NONE), so
  resolution and fps are reported as ``0x0`` / ``0`` (unknown).

The encoder arguments never contain ``-f``/the output: the MediaMTX path builder appends
``-f rtsp rtsp://localhost:$RTSP_PORT/$MTX_PATH`` and snapshots append their own output.
"""

from __future__ import annotations

import time

from ..config import CamerasConfig, NetworkCamera, SyntheticCamera
from . import v4l2
from .format_policy import FormatChoice, FormatPolicy, FormatPolicyError, choose_format
from .model import (
    Camera,
    CameraStatus,
    Capabilities,
    Resolution,
    Source,
    SourceKind,
    ValidationStatus,
    usb_id,
)

#: encoders that understand ``-tune zerolatency`` (no B-frames, no lookahead: lowest latency)
_ZEROLATENCY_ENCODERS = ("libx264", "libx265")


def format_policy(cfg: CamerasConfig) -> FormatPolicy:
    return FormatPolicy(
        width=cfg.preferred_width,
        height=cfg.preferred_height,
        fps=cfg.preferred_fps,
        allow_mjpeg_passthrough=cfg.allow_mjpeg_passthrough,
    )


def encoder_args(cfg: CamerasConfig, fps: float | None) -> tuple[str, ...]:
    """ffmpeg output arguments that encode video for streaming: the configured encoder, yuv420p (what
    browsers and HLS players decode), and a keyframe every ``keyframe_interval`` seconds."""
    rate = fps if fps else float(cfg.preferred_fps)
    gop = max(1, round(cfg.keyframe_interval * rate))
    args = ["-c:v", cfg.encoder]
    if cfg.encoder_preset:
        args += ["-preset", cfg.encoder_preset]
    if cfg.encoder in _ZEROLATENCY_ENCODERS:
        args += ["-tune", "zerolatency"]
    args += ["-pix_fmt", "yuv420p", "-g", str(gop), *cfg.encoder_extra_args]
    return tuple(args)


def stream_codec(cfg: CamerasConfig) -> str:
    """The codec name a locally encoded stream has, as shown in capabilities."""
    encoder = cfg.encoder.lower()
    return "HEVC" if ("265" in encoder or "hevc" in encoder) else "H264"


# ------------------------------------------------------------------------------------------------- v4l2


def v4l2_capabilities(probed: v4l2.Capabilities) -> Capabilities:
    """The API's view of a probed node: fourccs, sizes (largest first), whole frame rates (highest first)."""
    rates = sorted({round(r) for r in probed.fps_options if r >= 1}, reverse=True)
    return Capabilities(
        formats=probed.fourccs,
        resolutions=probed.resolutions,
        fps_options=tuple(rates),
        validation_status=ValidationStatus.CONFIRMED,
    )


def v4l2_source(device_path: str, choice: FormatChoice, cfg: CamerasConfig) -> Source:
    encode = tuple(choice.codec_args()) or encoder_args(cfg, choice.fps)
    return Source(
        kind=SourceKind.V4L2,
        ffmpeg_input=tuple(choice.input_args(device_path)),
        ffmpeg_encode=encode,
        device_path=device_path,
    )


def v4l2_camera(device_path: str, probed: v4l2.Capabilities, cfg: CamerasConfig) -> Camera:
    """The camera of a probed capture node, CONNECTED; or ERROR (with the reason) when none of its formats
    is one ffmpeg can read, so operators see the device rather than nothing."""
    camera_id = usb_id(device_path)
    if camera_id is None:
        raise ValueError(f"not a /dev/videoN path: {device_path!r}")
    name = probed.caps.card or f"Camera {camera_id.removeprefix('camera')}"
    caps = v4l2_capabilities(probed)
    now = time.time()
    try:
        choice = choose_format(probed, format_policy(cfg))
    except FormatPolicyError as exc:
        return Camera(
            id=camera_id,
            name=name,
            source=Source(kind=SourceKind.V4L2, device_path=device_path),
            status=CameraStatus.ERROR,
            resolution=Resolution(0, 0),
            fps=0,
            capabilities=caps,
            since=now,
            error=str(exc),
        )
    return Camera(
        id=camera_id,
        name=name,
        source=v4l2_source(device_path, choice, cfg),
        status=CameraStatus.CONNECTED,
        resolution=Resolution(choice.width, choice.height),
        # A driver that does not enumerate frame rates leaves fps unknown: 0, not a guess.
        fps=round(choice.fps) if choice.fps else 0,
        capabilities=caps,
        since=now,
    )


# -------------------------------------------------------------------------------------------- synthetic


def synthetic_input(width: int, height: int, fps: int) -> tuple[str, ...]:
    # -re paces the generator at its nominal rate, as a real camera delivers frames.
    return ("-re", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps}")


def synthetic_camera(spec: SyntheticCamera, cfg: CamerasConfig) -> Camera:
    return Camera(
        id=spec.id,
        name=spec.name,
        source=Source(
            kind=SourceKind.SYNTHETIC,
            ffmpeg_input=synthetic_input(spec.width, spec.height, spec.fps),
            ffmpeg_encode=encoder_args(cfg, spec.fps),
        ),
        status=CameraStatus.CONNECTED,
        resolution=Resolution(spec.width, spec.height),
        fps=spec.fps,
        capabilities=Capabilities(
            formats=(stream_codec(cfg),),
            resolutions=(f"{spec.width}x{spec.height}",),
            fps_options=(spec.fps,),
            validation_status=ValidationStatus.CONFIRMED,
        ),
        since=time.time(),
    )


# ---------------------------------------------------------------------------------------------- network


def network_camera(spec: NetworkCamera) -> Camera:
    return Camera(
        id=spec.id,
        name=spec.name,
        source=Source(kind=SourceKind.NETWORK, url=spec.url),
        status=CameraStatus.CONNECTED,
        resolution=Resolution(0, 0),
        fps=0,
        capabilities=Capabilities(validation_status=ValidationStatus.NONE),
        since=time.time(),
    )
