"""The client, planner and reconciler against a live MediaMTX: the emulator and the real binary.

The rest of the client's tests answer from a mock transport; these prove the same code works unchanged
against the servers, errors included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from camsvc.cameras.registry import CameraRegistry
from camsvc.health import Health
from camsvc.mediamtx.client import AlreadyExists, Invalid, MediamtxClient, NotFound
from camsvc.mediamtx.paths import PathSettings, desired_paths, plan
from camsvc.mediamtx.reconciler import MediamtxReconciler
from camsvc.storage.state import StateStore
from tests.mediamtx_targets import MediamtxTarget

from .conftest import make_config, network, recording, synthetic
from .test_reconciler import conf_names, empty_tree, until


async def test_reconciled_paths_match_by_meaning(tmp_path: Path, mediamtx_target: MediamtxTarget) -> None:
    url = mediamtx_target.api_url
    config = make_config(tmp_path, url, reconcile_interval=0.5, backoff_max=0.5, request_timeout=6)
    registry = CameraRegistry()
    registry.put(synthetic("camera0", recording=recording("fmp4")))
    registry.put(network("stream0"))
    store = StateStore(tmp_path / "state.db")
    store.open()
    rec = MediamtxReconciler(
        config=config, registry=registry, store=store, health=Health(empty_tree, version="t")
    )
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


async def test_the_client_reads_real_errors(mediamtx_target: MediamtxTarget) -> None:
    url = mediamtx_target.api_url
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
