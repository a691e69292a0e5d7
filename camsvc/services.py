"""The handles RPC handlers and HTTP routes may use, built by the composition root.

Each room exposes a small public interface here; handlers never reach into an
actor's state. Fields are filled by ``camsvc.app.build`` as rooms are wired.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from .cameras.registry import CameraRegistry
from .config import Config
from .events import EventBus
from .health import Health
from .storage.state import StateStore

if TYPE_CHECKING:
    from .cameras.directory import CameraDirectory
    from .media.service import MediaService
    from .mediamtx.reconciler import MediamtxGateway


@attrs.define(eq=False)
class Services:
    config: Config
    bus: EventBus
    registry: CameraRegistry
    health: Health
    store: StateStore
    #: camera actors by id, external streams (camsvc.cameras)
    cameras: CameraDirectory | None = None
    #: MediaMTX gateway: status, ensure_available, runtime, list_runtime, sync (camsvc.mediamtx)
    mediamtx: MediamtxGateway | None = None
    #: snapshots, recordings, files, downloads, storage, retention (camsvc.media / camsvc.storage)
    media: MediaService | None = None
    #: authentication: JWTs, API keys, download tokens (camsvc.security)
    auth: Any = None
    #: RPC server statistics (connections, requests) for get_metrics
    rpc_stats: Any = None
