"""``services.media``: the façade RPC handlers and HTTP routes use for snapshots, recordings,
files, downloads, storage and retention. Built by :func:`camsvc.media.wiring.build_media`.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from typing import Any, Protocol

import attrs
import trio

from ..cameras.registry import CameraRegistry
from ..config import Config
from ..errors import InvalidParams
from ..health import iso
from ..storage import names
from ..storage.disk import StorageGate
from ..storage.files import FileKind, FileStore, file_object
from ..storage.housekeeping import Housekeeping
from ..storage.probe_cache import ProbeCache
from ..storage.retention import Retention
from .ffmpeg import FfmpegRunner
from .recordings import Recordings
from .snapshots import Snapshots


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class DownloadSigner(Protocol):
    """The part of the authenticator (camsvc.security) that signs download links."""

    def sign_download(self, file_type: str, filename: str, expires_in: float) -> tuple[str, float]: ...


@attrs.define(eq=False)
class MediaService:
    config: Config
    registry: CameraRegistry
    #: signs get_download_url links; None: download tokens are unavailable
    auth: DownloadSigner | None
    runner: FfmpegRunner
    probes: ProbeCache
    gate: StorageGate
    recording_files: FileStore
    snapshot_files: FileStore
    snapshots: Snapshots
    recordings: Recordings
    retention: Retention
    housekeeping: Housekeeping
    #: the HTTP port download URLs name (the bound one when the config says 0)
    http_port: Callable[[], int | None]

    def open(self) -> None:
        """Create directories and tables, load persisted state (synchronous, at build time)."""
        self.recording_files.ensure_dir()
        self.snapshot_files.ensure_dir()
        self.snapshots.open()
        self.recordings.open()
        self.retention.open()

    # ------------------------------------------------------------------ files

    def files(self, kind: FileKind) -> FileStore:
        return self.recording_files if kind is FileKind.RECORDING else self.snapshot_files

    def download_url(self, kind: FileKind, name: str, host: str | None) -> str:
        """Where a file is downloaded: the configured public URL, else the host the client used."""
        public = self.config.http.public_url
        if public:
            base = public.rstrip("/")
        else:
            port = self.http_port() or self.config.http.port
            base = f"http://{_url_host(host or 'localhost')}:{port}"
        return f"{base}/files/{kind.url_segment}/{urllib.parse.quote(name)}"

    async def list_files(
        self, kind: FileKind, *, limit: int, offset: int, device: str | None, host: str | None
    ) -> dict[str, Any]:
        if device is not None:
            device = self.registry.resolve(device)
        page = await self.files(kind).list(limit=limit, offset=offset, device=device)
        return {
            "files": [
                file_object(
                    kind,
                    e,
                    self.download_url(kind, e.name, host),
                    page.media.get(e.name),
                    with_duration=False,
                )
                for e in page.files
            ],
            "total": page.total,
            "limit": page.limit,
            "offset": page.offset,
        }

    async def file_info(self, kind: FileKind, name: str, host: str | None) -> dict[str, Any]:
        entry, info = await self.files(kind).info(name)
        doc = file_object(kind, entry, self.download_url(kind, name, host), info, with_duration=True)
        if kind is FileKind.SNAPSHOT:
            doc["resolution"] = info.resolution if info is not None else None
        else:
            doc["resolution"] = info.resolution if info is not None else None
            doc["in_progress"] = await self.files(kind).is_in_progress(name)
        return doc

    async def delete_file(self, kind: FileKind, name: str) -> dict[str, Any]:
        entry = await self.files(kind).delete(name)
        if kind is FileKind.SNAPSHOT:
            await self.snapshots.forget(entry.name)
        return {"filename": entry.name, "deleted": True, "message": f"{kind.value} {entry.name} deleted"}

    async def download_link(
        self, kind: FileKind, name: str, expires_in: int, host: str | None
    ) -> dict[str, Any]:
        """get_download_url: a URL for one existing file with a signed, expiring token."""
        names.validate_name(name)
        await trio.to_thread.run_sync(self.files(kind).stat, name)
        auth = self.auth
        if auth is None:
            from ..errors import Unsupported

            raise Unsupported(
                "download_tokens", message="download tokens are not available (no auth service)"
            )
        token, expires_at = auth.sign_download(kind.value, name, expires_in)
        url = f"{self.download_url(kind, name, host)}?token={urllib.parse.quote(token, safe='')}"
        return {"url": url, "expires_at": iso(expires_at)}

    # ------------------------------------------------------------------ storage

    async def storage_info(self) -> dict[str, Any]:
        usage = await self.gate.usage()
        rec_size = await trio.to_thread.run_sync(self.recording_files.total_size_sync)
        snap_size = await trio.to_thread.run_sync(self.snapshot_files.total_size_sync)
        pct = usage.usage_percentage
        return {
            "total_space": usage.total,
            "used_space": usage.used,
            "available_space": usage.available,
            "usage_percentage": round(pct, 2),
            "recordings_size": rec_size,
            "snapshots_size": snap_size,
            "warn_percent": self.gate.warn_percent,
            "block_percent": self.gate.block_percent,
            "low_space_warning": pct >= self.gate.warn_percent,
            "critical_space_warning": pct >= self.gate.block_percent,
        }

    async def set_retention(
        self, policy_type: str, enabled: bool, max_age_days: float | None, max_size_gb: float | None
    ) -> dict[str, Any]:
        from ..storage.retention import validated_policy

        if not isinstance(enabled, bool):
            raise InvalidParams("enabled", "invalid_type", "enabled must be a boolean")
        policy = validated_policy(self.retention.policy, policy_type, enabled, max_age_days, max_size_gb)
        policy = await self.retention.set_policy(policy)
        state = "enabled" if policy.enabled else "disabled"
        return {
            **policy.to_api(),
            "message": f"retention policy set to {policy.policy_type} ({state})",
            "updated_at": iso(time.time()),
        }
