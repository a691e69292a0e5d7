"""What the storage room knows of a media file, and how it asks for it.

The value and the prober interface live here, below the media room, so storage can
cache probes without importing ffmpeg; :class:`camsvc.media.ffmpeg.FfmpegRunner` is
the production :class:`MediaProber`.
"""

from __future__ import annotations

import os
from typing import Protocol

import attrs


@attrs.frozen
class MediaInfo:
    """The facts of a media file we report: container, duration, first video stream's size."""

    format_name: str | None = None
    #: seconds, None when the container does not say (or the file is not media)
    duration: float | None = None
    width: int | None = None
    height: int | None = None

    @property
    def resolution(self) -> str | None:
        return f"{self.width}x{self.height}" if self.width and self.height else None


class MediaProber(Protocol):
    async def probe(self, path: str | os.PathLike[str], *, timeout: float) -> MediaInfo:  # noqa: ASYNC109
        """The file's MediaInfo; raises DependencyFailed when it is not media or the prober failed."""
        ...
