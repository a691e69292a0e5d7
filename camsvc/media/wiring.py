"""How the composition root builds the media room (with the storage pieces it owns): the
``services.media`` façade, whose ``recordings`` and ``housekeeping`` are root children and whose
storage gate is the ``storage`` health check. Built after the cameras and mediamtx rooms it drives.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..cameras.registry import CameraRegistry
from ..config import Config
from ..events import EventBus
from ..health import Health
from ..storage.disk import DiskUsage, StorageGate, disk_usage
from ..storage.files import FileKind, FileStore
from ..storage.housekeeping import Housekeeping
from ..storage.probe_cache import ProbeCache
from ..storage.retention import Retention
from ..storage.state import StateStore
from .deps import CameraDirectoryLike, MediamtxLike
from .ffmpeg import FfmpegRunner
from .recordings import Recordings
from .service import DownloadSigner, MediaService
from .snapshots import Snapshots, SnapshotTimeouts


def ffprobe_beside(ffmpeg_path: str) -> str:
    """The ffprobe that ships with the configured ffmpeg (same directory), else the one on PATH."""
    head, tail = os.path.split(ffmpeg_path)
    return os.path.join(head, tail.replace("ffmpeg", "ffprobe")) if "ffmpeg" in tail else "ffprobe"


async def _media_seconds(runner: FfmpegRunner, path: str, limit: float) -> float | None:
    return (await runner.probe(path, timeout=limit)).duration


def build_media(
    config: Config,
    *,
    registry: CameraRegistry,
    store: StateStore,
    bus: EventBus,
    health: Health,
    cameras: CameraDirectoryLike | None,
    mediamtx: MediamtxLike | None,
    auth: DownloadSigner | None,
    http_port: Callable[[], int | None],
    runner: FfmpegRunner | None = None,
    disk_usage: Callable[[str], DiskUsage] = disk_usage,
) -> MediaService:
    """The façade, opened (directories and tables exist), with the ``storage`` health check registered.

    ``http_port`` names the port download URLs use: the HTTP child's bound one, known once it listens.
    """
    runner = runner or FfmpegRunner(
        ffmpeg_path=config.mediamtx.ffmpeg_path, ffprobe_path=ffprobe_beside(config.mediamtx.ffmpeg_path)
    )
    probes = ProbeCache(runner, timeout=config.storage.probe_timeout)
    rec_dir, snap_dir = config.recording.dir, config.snapshots.dir
    gate = StorageGate(
        [rec_dir, snap_dir],
        warn_percent=config.storage.warn_percent,
        block_percent=config.storage.block_percent,
        interval=config.storage.disk_check_interval,
        timeout=config.storage.disk_check_timeout,
        usage=disk_usage,
    )
    # Listings must know which recordings are still being written, and recordings scan the listing:
    # the file store asks the sessions through this reference, set as soon as they exist.
    recordings_ref: list[Recordings] = []
    recording_files = FileStore(
        FileKind.RECORDING,
        rec_dir,
        probes,
        active=lambda: recordings_ref[0].active_starts() if recordings_ref else {},
        probe_budget=config.storage.probe_budget,
    )
    snapshots = Snapshots(
        directory=snap_dir,
        registry=registry,
        runner=runner,
        gate=gate,
        bus=bus,
        store=store,
        cameras=cameras,
        mediamtx=mediamtx,
        rtsp_url=lambda cam: f"rtsp://127.0.0.1:{config.mediamtx.rtsp_port}/{cam}",
        default_format=config.snapshots.format,
        default_quality=config.snapshots.quality,
        timeouts=SnapshotTimeouts(
            total=config.snapshots.timeout,
            rtsp=config.snapshots.rtsp_timeout,
            direct=config.snapshots.direct_timeout,
            on_demand=config.snapshots.on_demand_timeout,
        ),
    )
    snapshot_files = FileStore(
        FileKind.SNAPSHOT,
        snap_dir,
        probes,
        device_hint=snapshots.device_hint,
        probe_budget=config.storage.probe_budget,
    )
    recordings = Recordings(
        directory=rec_dir,
        registry=registry,
        store=store,
        bus=bus,
        gate=gate,
        scan=recording_files.scan,
        cameras=cameras,
        mediamtx=mediamtx,
        default_format=config.recording.format,
        sync_timeout=config.recording.sync_timeout,
        first_segment_wait=config.recording.first_segment_wait,
        resume_grace=config.recording.resume_grace,
        probe=lambda path: _media_seconds(runner, path, config.storage.probe_timeout),
    )
    recordings_ref.append(recordings)
    retention = Retention(store, [recording_files, snapshot_files])
    media = MediaService(
        config=config,
        registry=registry,
        auth=auth,
        runner=runner,
        probes=probes,
        gate=gate,
        recording_files=recording_files,
        snapshot_files=snapshot_files,
        snapshots=snapshots,
        recordings=recordings,
        retention=retention,
        housekeeping=Housekeeping(retention, gate, config.storage.housekeeping_interval),
        http_port=http_port,
    )
    media.open()
    health.add_check("storage", gate.health)
    return media
