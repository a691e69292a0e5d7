"""The persisted retention policy, and cleanups that never touch a file in use."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from camsvc.errors import InvalidParams
from camsvc.media.ffmpeg import FfmpegRunner
from camsvc.storage.disk import StorageGate, disk_usage
from camsvc.storage.files import FileKind, FileStore
from camsvc.storage.housekeeping import Housekeeping
from camsvc.storage.probe_cache import ProbeCache
from camsvc.storage.retention import GIB, Retention, RetentionPolicy, validated_policy
from camsvc.storage.state import StateStore
from tests.media.fakes import segment_name

DAY = 86400.0


def _gate(tmp_path: Path) -> StorageGate:
    return StorageGate([str(tmp_path)], warn_percent=80, block_percent=95)


def test_real_disk_usage_is_sane_even_for_a_missing_dir(tmp_path: Path) -> None:
    usage = disk_usage(str(tmp_path / "not" / "yet"))
    assert usage.total > 0 and 0 <= usage.used <= usage.total and 0 < usage.usage_percentage < 100


def test_policy_validation() -> None:
    base = RetentionPolicy()
    with pytest.raises(InvalidParams) as err:
        validated_policy(base, "age", True, None, None)
    assert err.value.data["param"] == "max_age_days"
    with pytest.raises(InvalidParams) as err:
        validated_policy(base, "size", True, None, None)
    assert err.value.data["param"] == "max_size_gb"
    for days in (0, -1):
        with pytest.raises(InvalidParams):
            validated_policy(base, "age", True, days, None)
    with pytest.raises(InvalidParams):
        validated_policy(base, "size", True, None, 0.0)
    with pytest.raises(InvalidParams):
        validated_policy(base, "sometimes", True, None, None)
    p = validated_policy(base, "age", True, 7, None)
    assert p.to_api() == {"policy_type": "age", "enabled": True, "max_age_days": 7, "max_size_gb": 10.0}
    assert validated_policy(p, "manual", False, None, None).max_age_days == 7  # values not given are kept


def _rig(
    tmp_path: Path, active: dict[str, float] | None = None
) -> tuple[StateStore, Retention, FileStore, FileStore]:
    store = StateStore(tmp_path / "state" / "camsvc.db")
    store.open()
    rec, snap = tmp_path / "rec", tmp_path / "snap"
    rec.mkdir(exist_ok=True)
    snap.mkdir(exist_ok=True)
    probes = ProbeCache(FfmpegRunner())
    recs = FileStore(FileKind.RECORDING, rec, probes, active=lambda: active or {})
    snaps = FileStore(FileKind.SNAPSHOT, snap, probes)
    retention = Retention(store, [recs, snaps])
    retention.open()
    return store, retention, recs, snaps


def _file(directory: Path, name: str, size: int, mtime: float) -> Path:
    path = directory / name
    path.write_bytes(b"\0" * size)
    os.utime(path, (mtime, mtime))
    return path


async def test_policy_persists_across_restarts(tmp_path: Path) -> None:
    store, retention, _, _ = _rig(tmp_path)
    assert retention.policy == RetentionPolicy()  # manual, disabled
    await retention.set_policy(RetentionPolicy("size", True, 30, 2.5))
    store.close()
    store2, retention2, _, _ = _rig(tmp_path)
    assert retention2.policy == RetentionPolicy("size", True, 30, 2.5)
    store2.close()


async def test_disabled_or_manual_policy_never_deletes(tmp_path: Path) -> None:
    store, retention, recs, _ = _rig(tmp_path)
    old = _file(
        Path(recs.directory), segment_name("camera0", time.time() - 100 * DAY), 10, time.time() - 100 * DAY
    )
    result = await retention.cleanup()
    assert result.executed is False and old.exists()
    await retention.set_policy(RetentionPolicy("manual", True, 1, None))
    result = await retention.cleanup()
    assert result.executed is False and "manual" in result.message and old.exists()
    await retention.set_policy(RetentionPolicy("age", False, 1, None))
    assert (await retention.cleanup()).executed is False and old.exists()
    keeper = Housekeeping(retention, _gate(tmp_path), 3600)
    await keeper.tick()
    assert keeper.runs == 0 and old.exists()
    store.close()


async def test_age_policy_deletes_only_old_files_of_both_kinds(tmp_path: Path) -> None:
    now = time.time()
    store, retention, recs, snaps = _rig(tmp_path)
    rec_dir, snap_dir = Path(recs.directory), Path(snaps.directory)
    old_rec = _file(rec_dir, segment_name("camera0", now - 10 * DAY), 100, now - 10 * DAY)
    new_rec = _file(rec_dir, segment_name("camera0", now - 1 * DAY), 100, now - 1 * DAY)
    old_snap = _file(snap_dir, "camera0_2020-01-01_00-00-00.jpg", 50, now - 10 * DAY)
    tmp = _file(snap_dir, ".camera0.x.tmp.jpg", 50, now - 10 * DAY)
    await retention.set_policy(RetentionPolicy("age", True, 7, None))
    keeper = Housekeeping(retention, _gate(tmp_path), 3600)
    await keeper.tick()
    assert keeper.runs == 1
    assert not old_rec.exists() and not old_snap.exists()
    assert new_rec.exists() and tmp.exists()  # temp files are never ours to judge
    store.close()


async def test_size_policy_deletes_oldest_first_and_never_the_segment_being_written(tmp_path: Path) -> None:
    now = time.time()
    start = now - 5 * DAY
    active = {"camera1": now - 3 * DAY}
    store, retention, recs, snaps = _rig(tmp_path, active)
    rec_dir = Path(recs.directory)
    third = GIB // 3
    # camera1's session started 3 days ago; its only segment is being written and is the OLDEST candidate.
    writing = _file(rec_dir, segment_name("camera1", now - 3 * DAY + 1), 1, now)  # 4*third + 1 = GiB + third
    files = [_file(rec_dir, segment_name("camera0", start + i * DAY), 0, start + i * DAY) for i in range(4)]
    for f in files:
        os.truncate(f, third)  # sparse: 4/3 GiB of "recordings" without using the disk
    await retention.set_policy(RetentionPolicy("size", True, None, 1.0))
    result = await retention.cleanup(now=now)
    assert result.executed and result.files_deleted == 1 and result.space_freed == third
    assert not files[0].exists() and all(f.exists() for f in files[1:])
    assert writing.exists()
    store.close()


async def test_policy_type_size_counts_gib(tmp_path: Path) -> None:
    assert int(RetentionPolicy("size", True, None, 1.5).max_size_gb * GIB) == 1610612736
