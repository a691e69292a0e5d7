"""How the composition root builds the mediamtx room: the root child ``mediamtx``, a rest_for_one
sub-supervisor of the supervised mediamtx process (``mediamtx-server``, when configured) and the
reconciler (``reconciler``), which depends on it: a restarted MediaMTX has forgotten every path
the reconciler applied, so the reconciler restarts after it and begins with a full pass."""

from __future__ import annotations

import attrs

from supervisor import Backoff, ChildSpec, Strategy, Supervisor, supervisor_child

from ..cameras.registry import CameraRegistry
from ..config import Config
from ..health import Health
from ..storage.state import StateStore
from .process import MediamtxProcess, resolve_binary
from .reconciler import MediamtxGateway, MediamtxReconciler

#: the mediamtx supervisor gives up (and root restarts it) after more restarts than this in PERIOD seconds
MAX_RESTARTS = 10
PERIOD = 60.0


@attrs.define(eq=False)
class MediamtxRoom:
    reconciler: MediamtxReconciler
    process: MediamtxProcess | None
    supervisor: Supervisor

    @property
    def gateway(self) -> MediamtxGateway:
        """What other rooms use (``services.mediamtx``)."""
        return self.reconciler.gateway

    def child_spec(self) -> ChildSpec:
        """The root's ``mediamtx`` child: the rest_for_one supervisor of server and reconciler."""
        return supervisor_child(self.supervisor, backoff=Backoff(initial=0.5, max=10.0))


def build_mediamtx(
    config: Config, *, registry: CameraRegistry, store: StateStore, health: Health
) -> MediamtxRoom:
    """The room's actors; the reconciler registers the ``mediamtx`` health check."""
    reconciler = MediamtxReconciler(config=config, registry=registry, store=store, health=health)
    binary = resolve_binary(config.mediamtx)
    process = MediamtxProcess.from_config(config.mediamtx, binary) if binary else None
    specs = []
    if process is not None:
        specs.append(
            ChildSpec(
                "mediamtx-server",
                process.run,
                backoff=Backoff(initial=0.5, max=30.0),
                shutdown_timeout=process.stop_timeout + 2.0,
                start_timeout=process.start_timeout + 5.0,
            )
        )
    # Unreachability never crashes the reconciler; a restart here means a bug, so back off briskly.
    specs.append(ChildSpec("reconciler", reconciler.run, backoff=Backoff(initial=0.5, max=10.0)))
    sup = Supervisor("mediamtx", specs, strategy=Strategy.REST_FOR_ONE, max_restarts=MAX_RESTARTS, period=PERIOD)
    return MediamtxRoom(reconciler=reconciler, process=process, supervisor=sup)
