"""How the composition root builds the mediamtx room: the reconciler (root child
``mediamtx``) and, when configured, the supervised mediamtx process (root child
``mediamtx-server``, started before the reconciler)."""

from __future__ import annotations

import attrs

from supervisor import Backoff, ChildSpec

from ..services import Services
from .process import MediamtxProcess, resolve_binary
from .reconciler import MediamtxReconciler


@attrs.define(eq=False)
class MediamtxRoom:
    reconciler: MediamtxReconciler
    process: MediamtxProcess | None

    def child_specs(self) -> list[ChildSpec]:
        specs = []
        if self.process is not None:
            p = self.process
            specs.append(
                ChildSpec(
                    "mediamtx-server",
                    p.run,
                    backoff=Backoff(initial=0.5, max=30.0),
                    shutdown_timeout=p.stop_timeout + 2.0,
                    start_timeout=p.start_timeout + 5.0,
                )
            )
        # Unreachability never crashes the reconciler; a restart here means a bug, so back off briskly.
        specs.append(ChildSpec("mediamtx", self.reconciler.run, backoff=Backoff(initial=0.5, max=10.0)))
        return specs


def build_mediamtx(services: Services) -> MediamtxRoom:
    """Create the room's actors, set ``services.mediamtx`` and register the ``mediamtx`` health check."""
    config = services.config
    reconciler = MediamtxReconciler(
        config=config, registry=services.registry, store=services.store, health=services.health
    )
    services.mediamtx = reconciler.gateway
    binary = resolve_binary(config.mediamtx)
    process = MediamtxProcess.from_config(config.mediamtx, binary) if binary else None
    return MediamtxRoom(reconciler=reconciler, process=process)
