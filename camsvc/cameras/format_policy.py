"""The default choice of pixel format, frame size and frame rate for a V4L2 camera, and its ffmpeg input.

Policy (what :func:`choose_format` does with a probed camera's :class:`~camsvc.cameras.v4l2.Capabilities`):

1. Only formats ffmpeg's v4l2 demuxer can read are candidates (:data:`INPUT_FORMATS`): H264, MJPEG/JPEG and
   the common raw layouts (YUYV, UYVY, NV12, YU12, GREY, RGB3, BGR3).
2. Among all (format, size) pairs whose size fits inside the preferred size (default 1280x720, both sides
   ``<=``), the winner is decided by, in order:

   a. reaching ``min_fps`` (default 15): a size the camera can only deliver as a slide show ranks below one
      that moves;
   b. the largest area;
   c. the best frame rate: the highest rate ``<=`` the preferred fps (default 30); if a size only offers
      faster rates, its slowest one (ranked below any rate that fits);
   d. the format preference: ``prefer="h264"`` (default) ranks H264 > MJPEG > raw, ``"mjpeg"`` ranks
      MJPEG > H264 > raw, ``"raw"`` ranks raw > MJPEG > H264.

   Compressed formats are preferred by default because raw YUYV at 1280x720 and 30 fps needs about 442 Mbit/s,
   more than twice the ~196 Mbit/s a USB 2.0 isochronous endpoint can carry: such cameras list raw 720p at
   5-10 fps only, and MJPEG/H264 at 30 fps.
   Ranking rate before format already lets a 30 fps MJPEG mode beat a 10 fps raw one of the same size.
3. If nothing fits inside the preferred size, the smallest available size is taken (then 2a, 2c, 2d).
4. A size whose rates the driver does not enumerate keeps ``fps=None`` and gets no ``-framerate``.

Pass-through (no re-encoding, ``-c:v copy``): always for H264 sources; for MJPEG only when
``allow_mjpeg_passthrough`` is set (MJPEG over RTSP is unplayable by HLS/WebRTC clients); never for raw.
"""

from __future__ import annotations

from typing import Literal

import attrs

from camsvc.cameras.v4l2 import Capabilities

Prefer = Literal["h264", "mjpeg", "raw"]
Kind = Literal["h264", "mjpeg", "raw"]

INPUT_FORMATS: dict[str, tuple[str, Kind]] = {
    # V4L2 fourcc: (ffmpeg -input_format name, kind)
    "H264": ("h264", "h264"),
    "MJPG": ("mjpeg", "mjpeg"),
    "JPEG": ("mjpeg", "mjpeg"),
    "YUYV": ("yuyv422", "raw"),
    "UYVY": ("uyvy422", "raw"),
    "NV12": ("nv12", "raw"),
    "YU12": ("yuv420p", "raw"),
    "GREY": ("gray", "raw"),
    "RGB3": ("rgb24", "raw"),
    "BGR3": ("bgr24", "raw"),
}

_RANKS: dict[Prefer, dict[Kind, int]] = {
    "h264": {"h264": 2, "mjpeg": 1, "raw": 0},
    "mjpeg": {"mjpeg": 2, "h264": 1, "raw": 0},
    "raw": {"raw": 2, "mjpeg": 1, "h264": 0},
}


class FormatPolicyError(ValueError):
    """No usable format could be chosen (not a capture node, or nothing ffmpeg can read)."""


@attrs.frozen
class FormatPolicy:
    """The configured preferences (``cameras`` section). Defaults: 1280x720 at 30 fps, H264 first."""

    width: int = attrs.field(default=1280, validator=attrs.validators.gt(0))
    height: int = attrs.field(default=720, validator=attrs.validators.gt(0))
    fps: float = attrs.field(default=30, validator=attrs.validators.gt(0))
    prefer: Prefer = attrs.field(default="h264", validator=attrs.validators.in_(("h264", "mjpeg", "raw")))
    allow_mjpeg_passthrough: bool = False
    min_fps: float = attrs.field(default=15, validator=attrs.validators.ge(0))


def parse_resolution(text: str) -> tuple[int, int]:
    """``"1280x720"`` → ``(1280, 720)``; anything else is a ``ValueError`` that quotes the input."""
    width, sep, height = text.strip().lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) == 0 or int(height) == 0:
        raise ValueError(f"resolution must look like 1280x720, got {text!r}")
    return int(width), int(height)


@attrs.frozen
class FormatChoice:
    """What to ask the camera for, and whether its stream can be copied rather than re-encoded."""

    fourcc: str
    input_format: str
    width: int
    height: int
    fps: float | None
    passthrough: bool

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"

    def input_args(self, device: str) -> list[str]:
        """ffmpeg input options for this choice, ending with ``-i <device>``."""
        if not device:
            raise ValueError("device path must not be empty")
        args = ["-f", "v4l2", "-input_format", self.input_format, "-video_size", self.resolution]
        if self.fps is not None:
            args += ["-framerate", f"{self.fps:g}"]
        return [*args, "-i", device]

    def codec_args(self) -> list[str]:
        """``["-c:v", "copy"]`` when the stream can be passed through, else ``[]`` (the caller encodes)."""
        return ["-c:v", "copy"] if self.passthrough else []


def _rate(rates: tuple[float, ...], preferred: float) -> tuple[float | None, tuple[int, float]]:
    """The rate to request and its score: rates <= preferred beat faster ones; then higher is better."""
    if not rates:
        return None, (0, 0.0)
    within = [r for r in rates if r <= preferred + 1e-6]
    if within:
        best = max(within)
        return best, (2, best)
    slowest = min(rates)
    return slowest, (1, -slowest)


def choose_format(caps: Capabilities, policy: FormatPolicy | None = None) -> FormatChoice:
    """Apply the module's policy to a probed camera. Raises :class:`FormatPolicyError` if nothing is usable."""
    policy = policy or FormatPolicy()
    if not caps.is_capture:
        raise FormatPolicyError(f"{caps.caps.card or 'device'} is not a video capture node")
    ranks = _RANKS[policy.prefer]
    # Scores compare as tuples, best is max(); see the module docstring for the order of criteria.
    fitting: list[tuple[tuple[bool, int, int, tuple[int, float], int], FormatChoice]] = []
    others: list[tuple[tuple[int, int, bool, tuple[int, float], int], FormatChoice]] = []
    for fmt in caps.formats:
        known = INPUT_FORMATS.get(fmt.fourcc)
        if known is None:
            continue
        name, kind = known
        for size in fmt.sizes:
            fps, rate_score = _rate(size.fps, policy.fps)
            moves = fps is None or fps >= policy.min_fps
            area = size.width * size.height
            choice = FormatChoice(
                fourcc=fmt.fourcc,
                input_format=name,
                width=size.width,
                height=size.height,
                fps=fps,
                passthrough=kind == "h264" or (kind == "mjpeg" and policy.allow_mjpeg_passthrough),
            )
            if size.width <= policy.width and size.height <= policy.height:
                fitting.append(((moves, area, size.width, rate_score, ranks[kind]), choice))
            else:
                others.append(((-area, -size.width, moves, rate_score, ranks[kind]), choice))
    if fitting:
        return max(fitting, key=lambda scored: scored[0])[1]
    if others:
        return max(others, key=lambda scored: scored[0])[1]
    offered = ", ".join(caps.fourccs) or "none"
    raise FormatPolicyError(
        f"no frame size in a format ffmpeg can read (offered: {offered}; usable: {', '.join(INPUT_FORMATS)})"
    )
