"""One typed method per API method (spec §2-§5), written once for :class:`~camsvc.client.Client`.

Each method sends its arguments as the by-name params of the API method it is
marked with (:func:`api`); an argument left ``None`` is not sent, so the server's
default applies. Results are returned exactly as the API sends them (JSON objects
as dicts). tests/client checks these methods against the server's method table:
a table method without an SDK method, or a param here that the table does not
have, fails the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

JSON = dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])


def api(name: str) -> Callable[[F], F]:
    """Mark a method as the SDK side of the API method ``name``."""

    def mark(fn: F) -> F:
        fn.__api_method__ = name  # type: ignore[attr-defined]
        return fn

    return mark


def api_methods(cls: type) -> dict[str, str]:
    """API method name → Python attribute name, for every marked method of ``cls``."""
    out: dict[str, str] = {}
    for attr in dir(cls):
        name = getattr(getattr(cls, attr, None), "__api_method__", None)
        if name is not None:
            out[name] = attr
    return out


def _params(**values: Any) -> JSON:
    return {k: v for k, v in values.items() if v is not None}


class ApiMethods:
    """The API as methods; a subclass provides :meth:`call`."""

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        raise NotImplementedError

    # ---------------------------------------------------------- system, auth

    @api("ping")
    async def ping(self) -> str:
        return str(await self.call("ping"))

    @api("authenticate")
    async def authenticate(self, auth_token: str) -> JSON:
        """Authenticate with a JWT or API key; later reconnects use it too."""
        result: JSON = await self.call("authenticate", _params(auth_token=auth_token))
        return result

    @api("refresh_token")
    async def refresh_token(self) -> JSON:
        """A fresh JWT for this session (the client also refreshes by itself before expiry)."""
        result: JSON = await self.call("refresh_token")
        return result

    @api("rpc.discover")
    async def discover(self) -> JSON:
        """The OpenRPC document of the API."""
        result: JSON = await self.call("rpc.discover")
        return result

    @api("get_server_info")
    async def get_server_info(self) -> JSON:
        result: JSON = await self.call("get_server_info")
        return result

    @api("get_status")
    async def get_status(self) -> JSON:
        result: JSON = await self.call("get_status")
        return result

    @api("get_system_status")
    async def get_system_status(self) -> JSON:
        result: JSON = await self.call("get_system_status")
        return result

    @api("get_metrics")
    async def get_metrics(self) -> JSON:
        result: JSON = await self.call("get_metrics")
        return result

    # ---------------------------------------------------------------- cameras

    @api("get_camera_list")
    async def get_camera_list(self) -> JSON:
        result: JSON = await self.call("get_camera_list")
        return result

    @api("get_camera_status")
    async def get_camera_status(self, device: str) -> JSON:
        result: JSON = await self.call("get_camera_status", _params(device=device))
        return result

    @api("get_camera_capabilities")
    async def get_camera_capabilities(self, device: str) -> JSON:
        result: JSON = await self.call("get_camera_capabilities", _params(device=device))
        return result

    # ---------------------------------------------------------------- streams

    @api("get_streams")
    async def get_streams(self) -> list[JSON]:
        result: list[JSON] = await self.call("get_streams")
        return result

    @api("get_stream_url")
    async def get_stream_url(self, device: str) -> JSON:
        result: JSON = await self.call("get_stream_url", _params(device=device))
        return result

    @api("get_stream_status")
    async def get_stream_status(self, device: str) -> JSON:
        result: JSON = await self.call("get_stream_status", _params(device=device))
        return result

    @api("start_streaming")
    async def start_streaming(self, device: str) -> JSON:
        result: JSON = await self.call("start_streaming", _params(device=device))
        return result

    @api("stop_streaming")
    async def stop_streaming(self, device: str) -> JSON:
        result: JSON = await self.call("stop_streaming", _params(device=device))
        return result

    @api("add_external_stream")
    async def add_external_stream(self, stream_url: str, stream_name: str, stream_type: str | None = None) -> JSON:
        params = _params(stream_url=stream_url, stream_name=stream_name, stream_type=stream_type)
        result: JSON = await self.call("add_external_stream", params)
        return result

    @api("remove_external_stream")
    async def remove_external_stream(self, stream_url: str | None = None, stream_name: str | None = None) -> JSON:
        params = _params(stream_url=stream_url, stream_name=stream_name)
        result: JSON = await self.call("remove_external_stream", params)
        return result

    @api("get_external_streams")
    async def get_external_streams(self) -> JSON:
        result: JSON = await self.call("get_external_streams")
        return result

    @api("discover_external_streams")
    async def discover_external_streams(self, force_rescan: bool | None = None) -> JSON:
        result: JSON = await self.call("discover_external_streams", _params(force_rescan=force_rescan))
        return result

    @api("set_discovery_interval")
    async def set_discovery_interval(self, scan_interval: float) -> JSON:
        result: JSON = await self.call("set_discovery_interval", _params(scan_interval=scan_interval))
        return result

    # ------------------------------------------------------------------ media

    @api("take_snapshot")
    async def take_snapshot(
        self, device: str, filename: str | None = None, format: str | None = None, quality: int | None = None  # noqa: A002
    ) -> JSON:
        params = _params(device=device, filename=filename, format=format, quality=quality)
        result: JSON = await self.call("take_snapshot", params)
        return result

    @api("start_recording")
    async def start_recording(self, device: str, duration: int | None = None, format: str | None = None) -> JSON:  # noqa: A002
        """Start recording; ``duration`` in seconds (None: until :meth:`stop_recording`)."""
        params = _params(device=device, duration=duration, format=format)
        result: JSON = await self.call("start_recording", params)
        return result

    @api("stop_recording")
    async def stop_recording(self, device: str) -> JSON:
        result: JSON = await self.call("stop_recording", _params(device=device))
        return result

    @api("get_recording_status")
    async def get_recording_status(self, device: str) -> JSON:
        result: JSON = await self.call("get_recording_status", _params(device=device))
        return result

    @api("list_recordings")
    async def list_recordings(self, limit: int | None = None, offset: int | None = None, device: str | None = None) -> JSON:
        result: JSON = await self.call("list_recordings", _params(limit=limit, offset=offset, device=device))
        return result

    @api("list_snapshots")
    async def list_snapshots(self, limit: int | None = None, offset: int | None = None, device: str | None = None) -> JSON:
        result: JSON = await self.call("list_snapshots", _params(limit=limit, offset=offset, device=device))
        return result

    @api("get_recording_info")
    async def get_recording_info(self, filename: str) -> JSON:
        result: JSON = await self.call("get_recording_info", _params(filename=filename))
        return result

    @api("get_snapshot_info")
    async def get_snapshot_info(self, filename: str) -> JSON:
        result: JSON = await self.call("get_snapshot_info", _params(filename=filename))
        return result

    @api("delete_recording")
    async def delete_recording(self, filename: str) -> JSON:
        result: JSON = await self.call("delete_recording", _params(filename=filename))
        return result

    @api("delete_snapshot")
    async def delete_snapshot(self, filename: str) -> JSON:
        result: JSON = await self.call("delete_snapshot", _params(filename=filename))
        return result

    @api("get_download_url")
    async def get_download_url(self, file_type: str, filename: str, expires_in: int | None = None) -> JSON:
        params = _params(file_type=file_type, filename=filename, expires_in=expires_in)
        result: JSON = await self.call("get_download_url", params)
        return result

    @api("get_storage_info")
    async def get_storage_info(self) -> JSON:
        result: JSON = await self.call("get_storage_info")
        return result

    @api("get_retention_policy")
    async def get_retention_policy(self) -> JSON:
        result: JSON = await self.call("get_retention_policy")
        return result

    @api("set_retention_policy")
    async def set_retention_policy(
        self,
        policy_type: str,
        enabled: bool,
        max_age_days: float | None = None,
        max_size_gb: float | None = None,
    ) -> JSON:
        params = _params(policy_type=policy_type, enabled=enabled, max_age_days=max_age_days, max_size_gb=max_size_gb)
        result: JSON = await self.call("set_retention_policy", params)
        return result

    @api("cleanup_old_files")
    async def cleanup_old_files(self) -> JSON:
        result: JSON = await self.call("cleanup_old_files")
        return result

    # ----------------------------------------------------------------- events

    @api("subscribe_events")
    async def subscribe_events(self, topics: Sequence[str], filters: Mapping[str, Any] | None = None) -> JSON:
        """Add topics (kept across reconnects); events arrive through ``notifications()``."""
        params = _params(topics=list(topics), filters=dict(filters) if filters is not None else None)
        result: JSON = await self.call("subscribe_events", params)
        return result

    @api("unsubscribe_events")
    async def unsubscribe_events(self, topics: Sequence[str] | None = None) -> JSON:
        params = _params(topics=list(topics) if topics is not None else None)
        result: JSON = await self.call("unsubscribe_events", params)
        return result

    @api("get_subscription_stats")
    async def get_subscription_stats(self) -> JSON:
        result: JSON = await self.call("get_subscription_stats")
        return result
