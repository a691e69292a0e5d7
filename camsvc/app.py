"""Composition root: the one place that builds the supervision tree from config.

    root ─┬─ monitors      loop lag, system sampler, health watcher
          ├─ mediamtx      rest_for_one: a supervised mediamtx process (when configured), the reconciler
          ├─ cameras       sub-supervisor: discovery + one actor per camera (dynamic)
          ├─ recordings    recording sessions: duration timers, crash recovery, camera-removed hook
          ├─ rpc           JSON-RPC WebSocket server
          ├─ http          Quart/hypercorn: web console, health, files, metrics, supervisor
          └─ housekeeping  retention (only with an admin-enabled policy)

Nothing else constructs actors or wires them together; rooms receive what they
need as constructor arguments.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio

from supervisor import Backoff, ChildSpec, EventKind, Supervisor, SupervisorEvent

from . import __version__
from .cameras.registry import CameraRegistry
from .cameras.wiring import build_cameras
from .config import Config, SyntheticCamera, with_absolute_paths
from .events import EventBus
from .health import Health
from .http.console_routes import console_blueprint
from .http.files_routes import files_blueprint
from .http.health_routes import health_blueprint
from .http.metrics_routes import metrics_blueprint
from .http.server import HttpServer, create_app
from .media.wiring import build_media
from .mediamtx.wiring import build_mediamtx
from .monitors.wiring import build_monitors, monitors_child
from .rpc.stats import RpcStats
from .rpc.wiring import build_rpc
from .security.auth import Authenticator
from .services import Services
from .storage.state import StateStore

if TYPE_CHECKING:
    from .fault_injection import FaultInjection

log = logging.getLogger("camsvc.app")

#: restart intensity of the root: more than this many restarts in PERIOD seconds → exit non-zero
ROOT_MAX_RESTARTS = 10
ROOT_PERIOD = 60.0


@attrs.define(eq=False)
class Service:
    """Everything the composition root built; tests reach components through it."""

    config: Config
    services: Services
    root: Supervisor
    http: HttpServer
    #: called once the whole tree is up (systemd READY=1)
    on_ready: list[Callable[[], None]] = attrs.Factory(list)
    extras: dict[str, Any] = attrs.Factory(dict)

    @property
    def bus(self) -> EventBus:
        return self.services.bus

    @property
    def health(self) -> Health:
        return self.services.health

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run the tree until cancelled; raises if the root supervisor gives up."""
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.root.run)
                for callback in self.on_ready:
                    callback()
                log.info("service ready", extra={"version": __version__})
                task_status.started()
        finally:
            self.services.store.close()


def apply_demo(config: Config) -> Config:
    """--demo: a synthetic camera0 when there is no /dev/video0 (clients expect a camera0)."""
    cams = config.cameras
    if os.path.exists("/dev/video0") or any(c.id == "camera0" for c in cams.synthetic):
        return config
    demo = SyntheticCamera(id="camera0", name="Demo test pattern")
    return attrs.evolve(config, cameras=attrs.evolve(cams, synthetic=[demo, *cams.synthetic]))


def _log_supervisor_event(event: SupervisorEvent) -> None:
    if event.kind is EventKind.STARTED:
        log.debug("child started", extra={"supervisor": event.supervisor, "child": event.child})


def _require(root: Supervisor | None) -> Supervisor:
    assert root is not None, "health read before the tree was built"
    return root


def build(config: Config, *, demo: bool = False, faults: FaultInjection | None = None) -> Service:
    """Build (but do not start) the whole service from its configuration.

    ``faults`` (soaks only, camsvc/fault_injection.py): discovery reads its control directory, and a
    ``fault-injection`` child at the end of the root serves its crash requests."""
    if demo:
        config = apply_demo(config)
    config = with_absolute_paths(config)
    bus = EventBus()
    registry = CameraRegistry()
    store = StateStore(Path(config.storage.state_dir) / "camsvc.db")
    store.open()
    root: Supervisor | None = None
    # Health reads the root's snapshot at call time; the root is built last, from the children.
    health = Health(lambda: _require(root).snapshot(), version=__version__)

    # Rooms, each from the ones below it; each registers its own health check.
    mediamtx = build_mediamtx(config, registry=registry, store=store, health=health)
    cameras = build_cameras(
        config,
        registry=registry,
        store=store,
        bus=bus,
        health=health,
        mediamtx=mediamtx.gateway,
        source=faults.source() if faults is not None else None,
        prober=faults.prober if faults is not None else None,
    )
    auth = Authenticator(config, store)
    http: HttpServer | None = None
    media = build_media(
        config,
        registry=registry,
        store=store,
        bus=bus,
        health=health,
        cameras=cameras.directory,
        mediamtx=mediamtx.gateway,
        auth=auth,
        # download URLs name the port HTTP really bound (it is built below, and binds at start)
        http_port=lambda: http.bound_port if http is not None else None,
    )
    services = Services(
        config=config,
        bus=bus,
        registry=registry,
        health=health,
        store=store,
        cameras=cameras.directory,
        mediamtx=mediamtx.gateway,
        media=media,
        auth=auth,
        rpc_stats=RpcStats(),
    )

    # The actors clients reach, over what the rooms offer.
    monitors = build_monitors(services)
    rpc = build_rpc(services, monitors)
    blueprints = [
        health_blueprint(health),
        metrics_blueprint(services, rpc, monitors),
        files_blueprint(services),
        console_blueprint(config, lambda: rpc.bound_port),  # the page's WebSocket URL names the port RPC bound
    ]
    http = HttpServer(create_app(blueprints), config.http.host, config.http.port)

    children = [
        monitors_child(monitors),  # first: lag, samples and health events outlive any other child's restarts
        mediamtx.child_spec(),  # rest_for_one: mediamtx-server (when configured), then the reconciler
        cameras.child_spec(),
        ChildSpec("recordings", media.recordings.run, backoff=Backoff(initial=0.2, max=10)),
        ChildSpec("rpc", rpc.run, backoff=Backoff(initial=0.5, max=10)),
        ChildSpec("http", http.run, backoff=Backoff(initial=0.5, max=10)),
        ChildSpec("housekeeping", media.housekeeping.run, backoff=Backoff(initial=1.0, max=60)),
    ]
    if faults is not None:
        children.append(faults.child_spec(cameras.directory))
    root = Supervisor(
        "root", children, max_restarts=ROOT_MAX_RESTARTS, period=ROOT_PERIOD, listeners=[_log_supervisor_event]
    )
    root.add_listener(monitors.health_watch.poke)  # system_health_update follows supervisor events at once
    return Service(
        config=config,
        services=services,
        root=root,
        http=http,
        extras={"cameras": cameras, "mediamtx": mediamtx, "monitors": monitors, "rpc": rpc},
    )
