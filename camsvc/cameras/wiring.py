"""How the composition root builds the cameras room: the ``cameras`` sub-supervisor with its static
``discovery`` child, the :class:`CameraDirectory` (``services.cameras``), the external-stream scanner, the
``camera_status_update`` publisher and the ``cameras`` health check. Built after the mediamtx room,
whose gateway gives the reader counts that close idle stream leases.

    root/cameras ─┬─ discovery          DiscoveryActor (static)
                  ├─ camera0            CameraActor (dynamic, one per camera)
                  └─ …
"""

from __future__ import annotations

import logging
from typing import Protocol

import attrs

from supervisor import Backoff, ChildSpec, Supervisor, supervisor_child

from ..config import Config
from ..events import EventBus
from ..health import Health
from ..storage.state import StateStore
from .actor import ReadersFn
from .device_source import DeviceSource
from .directory import CameraDirectory
from .discovery import DiscoveryActor, Prober, probe_v4l2
from .external import CandidateProber, ExternalScanner, ExternalStreamStore, ffprobe_candidate
from .model import Camera
from .registry import CameraRegistry, ChangeListener
from .views import StreamUrls, camera_object, disconnected, public_view

log = logging.getLogger("camsvc.cameras")

#: the cameras supervisor gives up (and root restarts it) after this many restarts in PERIOD seconds
MAX_RESTARTS = 20
PERIOD = 60.0
TOPIC = "camera_status_update"


@attrs.define(eq=False)
class CamerasRoom:
    supervisor: Supervisor
    directory: CameraDirectory
    discovery: DiscoveryActor
    scanner: ExternalScanner
    urls: StreamUrls

    def child_spec(self) -> ChildSpec:
        """The root's ``cameras`` child."""
        return supervisor_child(self.supervisor, backoff=Backoff(initial=0.5, max=10.0))


def status_publisher(bus: EventBus, urls: StreamUrls) -> ChangeListener:
    """A registry listener publishing ``camera_status_update`` whenever what a client sees changes
    (status, name, resolution, fps, recording); a removed camera is announced as DISCONNECTED."""

    def on_change(before: Camera | None, after: Camera | None) -> None:
        if after is None:
            if before is None:
                return
            camera = disconnected(before)
        elif before is not None and public_view(before) == public_view(after):
            return
        else:
            camera = after
        bus.publish(
            TOPIC,
            camera_object(camera, host=None, urls=urls),
            device=camera.id,
            render=lambda host: camera_object(camera, host=host, urls=urls),
        )

    return on_change


class PathReaders(Protocol):
    @property
    def readers(self) -> int: ...


class ReaderGateway(Protocol):
    """The part of the mediamtx room's gateway this room reads (that room builds on this one)."""

    async def runtime(self, name: str) -> PathReaders | None: ...


def mediamtx_readers(gateway: ReaderGateway | None) -> ReadersFn:
    """Reader counts from the MediaMTX gateway; None when there is none."""

    async def readers(camera_id: str) -> int | None:
        if gateway is None:
            return None
        runtime = await gateway.runtime(camera_id)
        if runtime is None:
            return 0
        return int(getattr(runtime, "readers", 0) or 0)

    return readers


def build_cameras(
    config: Config,
    *,
    registry: CameraRegistry,
    store: StateStore,
    bus: EventBus,
    health: Health,
    mediamtx: ReaderGateway | None,
    source: DeviceSource | None = None,
    prober: Prober | None = None,
    candidate_prober: CandidateProber | None = None,
    readers: ReadersFn | None = None,
) -> CamerasRoom:
    """The room, with its ``cameras`` health check registered; ``readers`` replaces the gateway's counts."""
    cfg = config.cameras
    streams = ExternalStreamStore(store)
    streams.ensure_schema()
    urls = StreamUrls.from_config(config.mediamtx)
    directory = CameraDirectory(
        registry,
        cfg,
        streams=streams,
        readers=readers if readers is not None else mediamtx_readers(mediamtx),
    )
    scanner = ExternalScanner(
        tuple(cfg.discovery_candidates),
        timeout=cfg.candidate_probe_timeout,
        interval=cfg.external_scan_interval,
        prober=candidate_prober or ffprobe_candidate,
    )
    discovery = DiscoveryActor(cfg, directory, source=source, prober=prober or probe_v4l2, scanner=scanner)
    sup = Supervisor(
        "cameras",
        [ChildSpec("discovery", discovery.run, backoff=Backoff(initial=0.5, max=10.0), start_timeout=60.0)],
        max_restarts=MAX_RESTARTS,
        period=PERIOD,
    )
    directory.supervisor = sup
    directory.scanner = scanner
    directory.on_id_released(discovery.id_released)
    registry.add_listener(status_publisher(bus, urls))
    health.add_check("cameras", discovery.health)
    return CamerasRoom(sup, directory, discovery, scanner, urls)
