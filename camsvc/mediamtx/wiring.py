"""How the composition root builds the mediamtx room: the reconciler (root child
``mediamtx``) and, when configured, the supervised mediamtx process (root child
``mediamtx-server``, started before the reconciler)."""

from __future__ import annotations

import attrs

from supervisor import Backoff, ChildSpec

from ..cameras.registry import CameraRegistry
from ..config import Config
from ..health import Health
from ..storage.state import StateStore
from .process import MediamtxProcess, resolve_binary
from .reconciler import MediamtxGateway, MediamtxReconciler


@attrs.define(eq=False)
class MediamtxRoom:
    reconciler: MediamtxReconciler
    process: MediamtxProcess | None

    @property
    def gateway(self) -> MediamtxGateway:
        """What other rooms use (``services.mediamtx``)."""
        return self.reconciler.gateway

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


def build_mediamtx(
    config: Config, *, registry: CameraRegistry, store: StateStore, health: Health
) -> MediamtxRoom:
    """The room's actors; the reconciler registers the ``mediamtx`` health check."""
    reconciler = MediamtxReconciler(config=config, registry=registry, store=store, health=health)
    binary = resolve_binary(config.mediamtx)
    process = MediamtxProcess.from_config(config.mediamtx, binary) if binary else None
    return MediamtxRoom(reconciler=reconciler, process=process)
