"""Composition of the emulator: configuration store, runtime paths, RTSP server and control API."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import attrs
import trio

from tools.mediamtx_emulator.api import ControlApi
from tools.mediamtx_emulator.conffile import ConfFileError, load_conf_file
from tools.mediamtx_emulator.confstore import ConfigStore
from tools.mediamtx_emulator.faults import ApiFaults, RequestRecord
from tools.mediamtx_emulator.globalconf import stock_global_conf
from tools.mediamtx_emulator.httpserver import handle_connection
from tools.mediamtx_emulator.netutil import open_listeners, open_udp_pairs
from tools.mediamtx_emulator.pathconf import ValidationError
from tools.mediamtx_emulator.paths import PathManager, RuntimeSettings
from tools.mediamtx_emulator.rtsp import RtspServer

log = logging.getLogger(__name__)


@attrs.frozen
class EmulatorConfig:
    """How to run the emulator. Port 0 lets the OS choose; the bound ports are on the Emulator handle."""

    api_host: str = "127.0.0.1"
    api_port: int = 9997
    rtsp_host: str = "127.0.0.1"
    rtsp_port: int | None = 8554  # None: no RTSP server (paths never become ready)
    rtp_port: int = 0  # RTP over UDP uses this even port and the next one for RTCP; 0: any free pair
    # MediaMTX's working directory: relative recordPaths resolve against it and hooks run in it.
    record_dir: Path | None = None
    # The mediamtx.yml it is started with: global settings, path defaults and path entries come from
    # it (the addresses above win over the file's). None: the stock mediamtx.yml.
    config_file: Path | None = None
    auth: tuple[str, str] | None = None  # API user; None: stock users (API open to loopback only)
    # Delay before answering wrong credentials; None: random 0–4 s like MediaMTX. Tests set 0.
    auth_failure_delay: float | None = None
    ffmpeg: str = "ffmpeg"
    hook_output: str = "inherit"  # hooks' stdout/stderr: "inherit" (like MediaMTX) or "discard"
    version: str = "v1.20.1"
    request_log_size: int = 1000


class Emulator:
    """A running emulator, as handed to in-process users by ``serve``/``open_emulator``.

    Attributes of interest: ``api_url``, ``rtsp_url``, ``rtsp_port``, ``rtsp_available`` and
    ``rtsp_unavailable_reason``, ``ffmpeg_available``, ``faults`` (see ApiFaults), ``requests``
    (recent API requests), ``store`` (configuration) and ``manager`` (runtime paths).
    """

    def __init__(
        self, config: EmulatorConfig, rtsp_port: int, rtsp_reason: str | None, rtp_port: int | None = None
    ) -> None:
        self.config = config
        self.conf_file = load_conf_file(config.config_file) if config.config_file is not None else None
        self.rtp_port = rtp_port  # None: no RTSP over UDP
        self.base_dir = Path(config.record_dir or os.getcwd()).resolve()
        self.rtsp_port = rtsp_port
        self.rtsp_available = rtsp_reason is None
        self.rtsp_unavailable_reason = rtsp_reason
        self.ffmpeg_available = shutil.which(config.ffmpeg) is not None
        self.faults = ApiFaults()
        self.requests: deque[RequestRecord] = deque(maxlen=config.request_log_size)
        self._request_base = 0
        self.started_ns = time.time_ns()
        try:
            self.store = self._new_store()
        except ValidationError as exc:  # a path in the config file MediaMTX would refuse
            raise ConfFileError(f"{config.config_file}: {exc}") from None
        settings = RuntimeSettings(
            base_dir=self.base_dir, rtsp_port=rtsp_port, ffmpeg=config.ffmpeg, hook_output=config.hook_output
        )
        self.manager = PathManager(self.store, settings)
        self.rtsp: RtspServer | None = None
        self.api = ControlApi(self)
        self.api_port = 0
        self._api_listeners: list[trio.SocketListener] = []
        self._api_scope: trio.CancelScope | None = None
        self._api_done = trio.Event()
        self._nursery: trio.Nursery | None = None

    # ---- addresses

    @property
    def api_url(self) -> str:
        return f"http://{_url_host(self.config.api_host)}:{self.api_port}"

    @property
    def rtsp_url(self) -> str:
        return f"rtsp://{_url_host(self.config.rtsp_host)}:{self.rtsp_port}"

    @property
    def media_unavailable_reason(self) -> str | None:
        """Why real media cannot flow (tests that need it skip with this), or None."""
        if not self.rtsp_available:
            return self.rtsp_unavailable_reason
        if not self.ffmpeg_available:
            return f"{self.config.ffmpeg} not found: pulled sources and recording need ffmpeg"
        return None

    # ---- control

    async def restart(self, downtime: float = 0.0) -> None:
        """Behave like a MediaMTX restart: API down, everything API-made forgotten, new ``started``.

        RTSP clients are disconnected and commands stopped; the API port is unreachable for
        ``downtime`` seconds (connection refused), then answers again on the same port.
        """
        await self._stop_api()
        if self.rtsp is not None:
            self.rtsp.close_all()
        await self.manager.close_all()
        self.store = self._new_store()
        self.manager.store = self.store
        self.faults.clear()
        await trio.sleep(downtime)
        self.started_ns = time.time_ns()
        await self.manager.sync_config()
        await self._start_api(self.api_port)

    async def apply_config(self) -> None:
        await self.manager.sync_config()

    def rtsp_sessions(self) -> list[dict[str, Any]]:
        return self.rtsp.api_sessions() if self.rtsp is not None else []

    def rtsp_conns(self) -> list[dict[str, Any]]:
        return self.rtsp.api_conns() if self.rtsp is not None else []

    def kick_rtsp_session(self, session_id: str) -> bool:
        return self.rtsp.kick_session(session_id.lower()) if self.rtsp is not None else False

    def record_request(self, record: RequestRecord) -> int:
        if len(self.requests) == self.requests.maxlen:
            self._request_base += 1
        self.requests.append(record)
        return self._request_base + len(self.requests) - 1

    def complete_request(self, index: int, status: int) -> None:
        pos = index - self._request_base
        if 0 <= pos < len(self.requests):
            old = self.requests[pos]
            self.requests[pos] = RequestRecord(old.method, old.target, status)

    # ---- internals

    def _new_store(self) -> ConfigStore:
        api_address = f"{self.config.api_host}:{self.config.api_port}"
        conf = stock_global_conf(api_address, self.rtsp_port, self.config.auth)
        if self.conf_file is None:
            path_defaults, paths = None, None
        else:
            users = conf["authInternalUsers"]
            conf |= self.conf_file.global_values
            if self.config.auth is not None:
                conf["authInternalUsers"] = users
            conf["apiAddress"], conf["rtspAddress"] = api_address, f":{self.rtsp_port}"
            path_defaults, paths = self.conf_file.path_defaults, self.conf_file.paths
        if self.rtp_port is not None:
            conf["rtpAddress"], conf["rtcpAddress"] = f":{self.rtp_port}", f":{self.rtp_port + 1}"
        else:
            conf["rtspTransports"] = ["tcp"]
        return ConfigStore(conf, path_defaults, paths)

    async def _start_api(self, port: int) -> None:
        self._api_listeners, self.api_port = await open_listeners(self.config.api_host, port)
        assert self._nursery is not None
        await self._nursery.start(self._serve_api)

    async def _serve_api(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._api_done = trio.Event()
        try:
            with trio.CancelScope() as scope:
                self._api_scope = scope
                task_status.started()
                await trio.serve_listeners(self._serve_http_conn, self._api_listeners)
        finally:
            for listener in self._api_listeners:
                with trio.CancelScope(shield=True):
                    await listener.aclose()
            self._api_done.set()

    async def _serve_http_conn(self, stream: trio.SocketStream) -> None:
        await handle_connection(stream, self.api.handle)

    async def _stop_api(self) -> None:
        if self._api_scope is not None:
            self._api_scope.cancel()
            await self._api_done.wait()


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


async def serve(
    config: EmulatorConfig, *, task_status: trio.TaskStatus[Emulator] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the emulator until cancelled; ``task_status.started`` receives the Emulator handle."""
    rtsp_listeners: list[trio.SocketListener] = []
    udp_pairs: dict[int, tuple[trio.socket.SocketType, trio.socket.SocketType]] = {}
    rtp_port: int | None = None
    rtsp_reason: str | None = None
    rtsp_port = config.rtsp_port if config.rtsp_port is not None else 8554
    if config.rtsp_port is None:
        rtsp_reason = "the emulator's RTSP server is disabled"
    else:
        try:
            rtsp_listeners, rtsp_port = await open_listeners(config.rtsp_host, config.rtsp_port)
        except OSError as exc:
            rtsp_reason = f"cannot listen for RTSP on {config.rtsp_host}:{config.rtsp_port}: {exc}"
        else:
            try:
                udp_pairs, rtp_port = await open_udp_pairs(rtsp_listeners, config.rtp_port)
            except OSError as exc:
                log.warning("RTSP over UDP unavailable (TCP only): %s", exc)
    if rtsp_reason is not None:
        log.warning("RTSP unavailable: %s", rtsp_reason)
    emu = Emulator(config, rtsp_port, rtsp_reason, rtp_port)
    emu.base_dir.mkdir(parents=True, exist_ok=True)
    try:
        async with trio.open_nursery() as nursery:
            emu._nursery = nursery
            await nursery.start(emu.manager.run)
            if rtsp_listeners:
                emu.rtsp = RtspServer(emu.manager, rtsp_listeners, udp_pairs)
                nursery.start_soon(emu.rtsp.run)
            await emu._start_api(config.api_port)
            task_status.started(emu)
    finally:
        for listener in rtsp_listeners:
            with trio.CancelScope(shield=True):
                await listener.aclose()
        for pair in udp_pairs.values():
            for sock in pair:
                sock.close()


@asynccontextmanager
async def open_emulator(config: EmulatorConfig | None = None) -> AsyncIterator[Emulator]:
    """``async with open_emulator(EmulatorConfig(api_port=0, rtsp_port=0)) as emu: ...``"""
    async with trio.open_nursery() as nursery:
        emu: Emulator = await nursery.start(serve, config or EmulatorConfig())
        try:
            yield emu
        finally:
            nursery.cancel_scope.cancel()
