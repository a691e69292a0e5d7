"""Supervision of a mediamtx process (``mediamtx-server``).

No real mediamtx is needed: ``mediamtx.binary`` points at a small launcher script that runs the
MediaMTX emulator as a separate process (tests/mediamtx/emulator_as_mediamtx.py), reading the API
address from the config file it is given, as mediamtx does. What is tested is *our* supervision:
start, readiness, log forwarding, exit reporting, restart, SIGINT/SIGKILL on stop. Recovery from a
SIGKILL also runs against the real binary (``mediamtx_kind`` ``real``, see tests/mediamtx_targets.py).
"""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

import attrs
import httpx
import pytest
import trio

from camsvc.app import build
from camsvc.config import MediamtxConfig, parse
from camsvc.mediamtx.client import MediamtxClient, Unavailable
from camsvc.mediamtx.process import MediamtxExited, MediamtxProcess, resolve_binary
from camsvc.mediamtx.reconciler import MediamtxGateway
from camsvc.mediamtx.wiring import MediamtxRoom
from tests.helpers import REPO, free_port
from tests.mediamtx_targets import real_binary, write_config

from .conftest import make_config
from .emulator_as_mediamtx import launcher
from .test_reconciler import conf_names, until


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def fake_binary(tmp_path: Path) -> Path:
    return launcher(tmp_path / "mediamtx", REPO)


@pytest.fixture
def supervised(mediamtx_kind: str, tmp_path: Path, fake_binary: Path) -> tuple[Path, Path, int]:
    """``(binary, config file, API port)`` of a mediamtx to supervise: the stand-in or the real binary,
    with the same per-test config (the stand-in reads only its apiAddress)."""
    port = free_port()
    binary = fake_binary if mediamtx_kind == "emulator" else real_binary()
    return binary, write_config(tmp_path / "mtx", api_port=port, rtsp_port=free_port()), port


def yml(tmp_path: Path, port: int, **extra: object) -> Path:
    path = tmp_path / "mediamtx.yml"
    lines = [f"apiAddress: 127.0.0.1:{port}"] + [f"{k}: {v}" for k, v in extra.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_resolve_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_binary: Path) -> None:
    assert resolve_binary(MediamtxConfig()) is None
    assert resolve_binary(MediamtxConfig(binary="/opt/mtx/mediamtx")) == "/opt/mtx/mediamtx"
    monkeypatch.setenv("PATH", str(tmp_path))
    assert resolve_binary(MediamtxConfig(manage=True)) == str(fake_binary)
    assert resolve_binary(MediamtxConfig(manage=False)) is None
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert resolve_binary(MediamtxConfig(manage=True)) is None


async def test_runs_until_cancelled_forwarding_output_then_stops_with_sigint(
    tmp_path: Path, fake_binary: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    proc = MediamtxProcess(str(fake_binary), str(yml(tmp_path, port)), f"http://127.0.0.1:{port}", start_timeout=8)
    with caplog.at_level(logging.INFO, logger="camsvc.mediamtx.server"):
        async with trio.open_nursery() as nursery:
            await nursery.start(proc.run)
            pid = proc.pid
            assert pid is not None and pid_alive(pid)
            async with MediamtxClient(f"http://127.0.0.1:{port}", timeout=2) as api:
                assert (await api.info()).version == "v1.20.1"  # ready means the API answers
            nursery.cancel_scope.cancel()
    assert proc.pid is None and not pid_alive(pid)
    lines = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "camsvc.mediamtx.server"]
    assert (logging.INFO, "MediaMTX v1.20.1 (emulator stand-in)") in lines  # its level, our timestamp
    assert not any("ignored SIGINT" in m for _, m in lines)
    async with MediamtxClient(f"http://127.0.0.1:{port}", timeout=1) as api:
        with pytest.raises(Unavailable):
            await api.info()


async def test_an_exit_before_ready_is_a_start_failure_naming_the_output(tmp_path: Path, fake_binary: Path) -> None:
    port = free_port()
    proc = MediamtxProcess(str(fake_binary), str(yml(tmp_path, port, testExitCode=3)), f"http://127.0.0.1:{port}")
    with trio.fail_after(8):
        with pytest.raises(MediamtxExited) as info:
            await proc.run()
    text = str(info.value)
    assert "exited with status 3" in text
    assert "ERR bad configuration: testExitCode" in text


async def test_sigkill_after_the_grace_when_sigint_is_ignored(
    tmp_path: Path, fake_binary: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    proc = MediamtxProcess(
        str(fake_binary), str(yml(tmp_path, port, testIgnoreSigint="true")), f"http://127.0.0.1:{port}",
        start_timeout=1.5, stop_timeout=0.3,
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="camsvc.mediamtx.server"):
        async with trio.open_nursery() as nursery:
            await nursery.start(proc.run)  # its API never answers: started anyway after start_timeout
            pid = proc.pid
            assert pid is not None
            await until(lambda: any("ignoring SIGINT" in r.getMessage() for r in caplog.records), what="stand-in up")
            nursery.cancel_scope.cancel()
    assert not pid_alive(pid)
    messages = [r.getMessage() for r in caplog.records]
    assert any("did not answer in time" in m for m in messages)
    assert any("ignored SIGINT; killing it" in m for m in messages)


@pytest.mark.parametrize("missing", ["binary", "config"])
async def test_missing_files_are_named(tmp_path: Path, fake_binary: Path, missing: str) -> None:
    conf = yml(tmp_path, 1)
    proc = MediamtxProcess(
        str(tmp_path / "nope") if missing == "binary" else str(fake_binary),
        str(tmp_path / "nope.yml") if missing == "config" else str(conf),
        "http://127.0.0.1:1",
    )
    with pytest.raises(FileNotFoundError, match="nope"):
        await proc.run()


async def test_service_supervises_mediamtx_and_recovers_from_its_death(
    tmp_path: Path, supervised: tuple[Path, Path, int]
) -> None:
    """The whole service with mediamtx.binary set: mediamtx-server runs before the reconciler under
    the rest_for_one ``mediamtx`` supervisor; SIGKILL to the process → the supervisor restarts it,
    then the reconciler → paths re-applied."""
    binary, conf, port = supervised
    config = make_config(
        tmp_path, f"http://127.0.0.1:{port}", binary=str(binary), config_file=str(conf),
        reconcile_interval=0.5, backoff_max=0.5, server_start_timeout=8,
    )  # fmt: skip
    cameras = parse({"cameras": {"discovery": "disabled", "synthetic": [{"id": "cam_a"}, {"id": "cam_b"}]}}, environ={})
    service = build(attrs.evolve(config, cameras=cameras.cameras))
    room = service.extras["mediamtx"]
    assert isinstance(room, MediamtxRoom) and room.process is not None
    registry = service.services.registry
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        gateway = service.services.mediamtx
        assert isinstance(gateway, MediamtxGateway)
        async with (
            MediamtxClient(f"http://127.0.0.1:{port}", timeout=2) as api,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http.bound_port}") as http,
        ):
            await until(lambda: {"cam_a", "cam_b"} <= set(registry.snapshot()), what="cameras registered")
            await gateway.sync(5)
            assert {"cam_a", "cam_b"} <= await conf_names(api)
            first_pid = room.process.pid
            assert first_pid is not None
            os.kill(first_pid, signal.SIGKILL)

            async def restarted() -> bool:
                pid = room.process.pid
                if pid is None or pid == first_pid:
                    return False
                try:
                    return {"cam_a", "cam_b"} <= await conf_names(api)
                except Unavailable:
                    return False

            await until(restarted, timeout=9, what="new mediamtx process with the camera paths")
            sup = (await http.get("/supervisor")).json()
            room_doc = next(c for c in sup["children"] if c["name"] == "mediamtx")
            assert room_doc["restarts"] == 0
            children = {c["name"]: c for c in room_doc["supervisor"]["children"]}
            assert list(children) == ["mediamtx-server", "reconciler"]
            server = children["mediamtx-server"]
            assert server["restarts"] == 1 and "killed by signal 9" in server["history"][0]["reason"]
            reconciler = children["reconciler"]
            assert reconciler["restarts"] == 1 and "rest_for_one" in reconciler["history"][0]["reason"]
        nursery.cancel_scope.cancel()
    assert not pid_alive(first_pid)


def test_room_without_binary_has_no_server_child(tmp_path: Path) -> None:
    config = make_config(tmp_path, "http://127.0.0.1:1")
    service = build(config)
    room = service.extras["mediamtx"]
    assert room.child_spec().name == "mediamtx"
    assert room.process is None
    service.services.store.close()
