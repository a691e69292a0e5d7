"""The handles RPC handlers and HTTP routes may use, built once by the composition root.

Each room exposes a small public interface here; handlers never reach into an
actor's state. ``camsvc.app.build`` constructs :class:`Services` whole, after the
rooms it names, and nothing replaces a field afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import attrs

from .cameras.registry import CameraRegistry
from .config import Config
from .events import EventBus
from .health import Health
from .storage.state import StateStore

if TYPE_CHECKING:
    from .cameras.actor import CameraActor
    from .cameras.external import ExternalScanner, ExternalStream, ExternalStreamStore
    from .media.recordings import Recordings
    from .media.snapshots import Snapshots
    from .mediamtx.reconciler import MediamtxStatus
    from .mediamtx.runtime import PathRuntime
    from .rpc.stats import RpcStats
    from .security.api_keys import ApiKeyStore
    from .security.identity import Identity
    from .security.roles import Role
    from .storage.disk import StorageGate
    from .storage.files import FileKind, FileStore
    from .storage.retention import Retention


class CamerasApi(Protocol):
    """The cameras room (:class:`camsvc.cameras.directory.CameraDirectory`)."""

    @property
    def streams(self) -> ExternalStreamStore | None: ...

    @property
    def scanner(self) -> ExternalScanner | None: ...

    def actor(self, camera_id_or_alias: str) -> CameraActor: ...

    def external_streams(self) -> list[ExternalStream]: ...

    def external_stream(self, *, name: str | None = None, url: str | None = None) -> ExternalStream | None: ...

    async def add_external_stream(self, name: str, url: str, stream_type: str) -> ExternalStream: ...

    async def remove_external_stream(self, *, name: str | None = None, url: str | None = None) -> ExternalStream: ...


class MediaApi(Protocol):
    """The media room (:class:`camsvc.media.service.MediaService`)."""

    @property
    def snapshots(self) -> Snapshots: ...

    @property
    def recordings(self) -> Recordings: ...

    @property
    def retention(self) -> Retention: ...

    @property
    def gate(self) -> StorageGate: ...

    def files(self, kind: FileKind) -> FileStore: ...

    def download_url(self, kind: FileKind, name: str, host: str | None) -> str: ...

    async def list_files(
        self, kind: FileKind, *, limit: int, offset: int, device: str | None, host: str | None
    ) -> dict[str, Any]: ...

    async def file_info(self, kind: FileKind, name: str, host: str | None) -> dict[str, Any]: ...

    async def delete_file(self, kind: FileKind, name: str) -> dict[str, Any]: ...

    async def download_link(self, kind: FileKind, name: str, expires_in: int, host: str | None) -> dict[str, Any]: ...

    async def storage_info(self) -> dict[str, Any]: ...

    async def set_retention(
        self, policy_type: str, enabled: bool, max_age_days: float | None, max_size_gb: float | None
    ) -> dict[str, Any]: ...


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
    cameras: CamerasApi
    #: MediaMTX gateway (camsvc.mediamtx)
    mediamtx: MediamtxApi
    #: snapshots, recordings, files, downloads, storage, retention (camsvc.media / camsvc.storage)
    media: MediaApi
    #: authentication: JWTs, API keys, download tokens (camsvc.security)
    auth: AuthApi
    #: RPC server statistics (connections, requests) for get_metrics and /metrics
    rpc_stats: RpcStats
