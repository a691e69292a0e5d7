"""The handles RPC handlers and HTTP routes may use, built once by the composition root.

Each room exposes a small public interface here; handlers never reach into an
actor's state. ``camsvc.app.build`` constructs :class:`Services` whole, after the
rooms it names, and nothing replaces a field afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import attrs

from .cameras.registry import CameraRegistry
from .config import Config
from .events import EventBus
from .health import Health
from .storage.state import StateStore

if TYPE_CHECKING:
    from .cameras.directory import CameraDirectory
    from .media.service import MediaService
    from .mediamtx.reconciler import MediamtxStatus
    from .mediamtx.runtime import PathRuntime
    from .rpc.stats import RpcStats
    from .security.api_keys import ApiKeyStore
    from .security.identity import Identity
    from .security.roles import Role


class MediamtxApi(Protocol):
    """The mediamtx room (:class:`camsvc.mediamtx.reconciler.MediamtxGateway`)."""

    def status(self) -> MediamtxStatus: ...

    def ensure_available(self) -> None: ...

    async def runtime(self, name: str) -> PathRuntime | None: ...

    async def list_runtime(self) -> list[PathRuntime]: ...

    async def sync(self, timeout: float, *, name: str | None = None) -> None: ...  # noqa: ASYNC109 - the gateway's interface


class AuthApi(Protocol):
    """The security room (:class:`camsvc.security.auth.Authenticator`)."""

    @property
    def keys(self) -> ApiKeyStore: ...

    def identify_throttled(self, credential: str, address: str) -> Identity: ...

    async def authenticate_credential(self, token_or_key: str, address: str | None = None) -> Identity: ...

    def check(self, identity: Identity, *, now: float | None = None) -> None: ...

    def issue_token(self, user_id: str, role: Role, ttl: float | None = None) -> tuple[str, float]: ...

    def sign_download(self, file_type: str, filename: str, expires_in: float) -> tuple[str, float]: ...

    def verify_download(self, token: str, file_type: str, filename: str) -> bool: ...


@attrs.frozen(eq=False)
class Services:
    config: Config
    bus: EventBus
    registry: CameraRegistry
    health: Health
    store: StateStore
    #: camera actors by id, external streams (camsvc.cameras)
    cameras: CameraDirectory
    #: MediaMTX gateway (camsvc.mediamtx)
    mediamtx: MediamtxApi
    #: snapshots, recordings, files, downloads, storage, retention (camsvc.media / camsvc.storage)
    media: MediaService
    #: authentication: JWTs, API keys, download tokens (camsvc.security)
    auth: AuthApi
    #: RPC server statistics (connections, requests) for get_metrics and /metrics
    rpc_stats: RpcStats
