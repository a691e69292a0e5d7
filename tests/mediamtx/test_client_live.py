"""The client, planner and reconciler against a real ``mediamtx`` binary (skipped without one).

MediaMTX cannot be installed on the development machines, so everything else runs against the
emulator; this module is what proves the same code works unchanged against the real thing on a
box that has it (put ``mediamtx`` on PATH and run ``pytest tests/mediamtx/test_real_mediamtx.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import yaml

from camsvc.cameras.registry import CameraRegistry
from camsvc.health import Health
from camsvc.mediamtx.client import AlreadyExists, Invalid, MediamtxClient, NotFound
from camsvc.mediamtx.paths import PathSettings, desired_paths, plan
from camsvc.mediamtx.process import MediamtxProcess
from camsvc.mediamtx.reconciler import MediamtxReconciler
from camsvc.storage.state import StateStore
from tests.helpers import REPO, free_port

from .conftest import make_config, network, recording, synthetic
from .test_reconciler import conf_names, empty_tree, until

BINARY = shutil.which("mediamtx")
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="no `mediamtx` binary on PATH (MediaMTX is not installed on this machine)"
)


def real_config(tmp_path: Path, api_port: int) -> Path:
    """conf/mediamtx.yml with free ports and only RTSP/TCP, so tests do not collide with anything."""
    conf = yaml.safe_load((REPO / "conf" / "mediamtx.yml").read_text())
    conf.update(
        apiAddress=f"127.0.0.1:{api_port}",
        rtspAddress=f"127.0.0.1:{free_port()}",
        rtspTransports=["tcp"],
        hls=False,
        webrtc=False,
    )
    conf["pathDefaults"]["recordPath"] = str(tmp_path / "rec" / "%path_%Y-%m-%d_%H-%M-%S-%f")
    path = tmp_path / "mediamtx.yml"
    path.write_text(yaml.safe_dump(conf))
    return path


@pytest.fixture
async def mediamtx(tmp_path: Path) -> AsyncIterator[tuple[MediamtxProcess, str]]:
    assert BINARY is not None
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = MediamtxProcess(BINARY, str(real_config(tmp_path, port)), url, start_timeout=10, stop_timeout=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(proc.run)
        yield proc, url
        nursery.cancel_scope.cancel()


async def test_reconciled_paths_match_by_meaning(
    tmp_path: Path, mediamtx: tuple[MediamtxProcess, str]
) -> None:
    _, url = mediamtx
    config = make_config(tmp_path, url, reconcile_interval=0.5, backoff_max=0.5, request_timeout=6)
    registry = CameraRegistry()
    registry.put(synthetic("camera0", recording=recording("fmp4")))
    registry.put(network("stream0"))
    store = StateStore(tmp_path / "state.db")
    store.open()
    rec = MediamtxReconciler(config=config, registry=registry, store=store, health=Health(empty_tree, version="t"))
    try:
        async with MediamtxClient(url, timeout=6) as api, trio.open_nursery() as nursery:
            await nursery.start(rec.run)
            await rec.gateway.sync(10)
            info = await api.info()
            assert info.version and info.started

            async def settled() -> bool:
                # MediaMTX applies config after answering: wait until the list shows it
                actual = {i["name"]: i for i in await api.list_path_configs()}
                desired = desired_paths(registry.snapshot(), PathSettings.from_config(config))
                return plan(desired, actual, set(desired)).empty

            # the effective config (normalised durations, every field) matches what we asked for
            await until(settled, timeout=5, what="real MediaMTX config equal by meaning")
            rt = await rec.gateway.runtime("camera0")
            assert rt is not None and rt.name == "camera0"
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def test_the_client_reads_real_errors(mediamtx: tuple[MediamtxProcess, str]) -> None:
    _, url = mediamtx
    async with MediamtxClient(url, timeout=6) as api:
        await api.add_path_config("probe_path", {"source": "publisher"})
        with pytest.raises(AlreadyExists):
            await api.add_path_config("probe_path", {})
        with pytest.raises(Invalid, match="unknown field"):
            await api.patch_path_config("probe_path", {"nope": 1})
        await api.delete_path_config("probe_path")
        with pytest.raises(NotFound):
            await api.delete_path_config("probe_path")
        assert "probe_path" not in await conf_names(api)
