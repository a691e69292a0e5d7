"""Listing, info and deletion of media files: order, pages, filters, hidden and in-progress files, probing."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from camsvc.errors import InvalidParams, InvalidState, NotFound
from camsvc.media.ffmpeg import FfmpegRunner
from camsvc.storage import files as files_module
from camsvc.storage.files import FileKind, FileStore, file_object, in_progress_segments
from camsvc.storage.media_info import MediaInfo
from camsvc.storage.probe_cache import FileKey, ProbeCache
from tests.media.fakes import HAVE_FFMPEG, make_sample, segment_name


class CountingRunner(FfmpegRunner):
    """Answers probes without ffprobe, counting them."""

    def __init__(self) -> None:
        super().__init__()
        self.probed: list[str] = []

    async def probe(self, path: str | os.PathLike[str], *, timeout: float) -> MediaInfo:  # noqa: ASYNC109
        self.probed.append(os.fspath(path))
        return MediaInfo("mp4", 30.0, 640, 480)


def _segments(directory: Path, camera: str, count: int, start: float, step: float = 60.0) -> list[str]:
    made = []
    for i in range(count):
        name = segment_name(camera, start + i * step)
        path = directory / name
        path.write_bytes(b"x" * (100 + i))
        os.utime(path, (start + i * step + step, start + i * step + step))
        made.append(name)
    return made


def _store(directory: Path, runner: FfmpegRunner | None = None, **kw: object) -> FileStore:
    return FileStore(FileKind.RECORDING, directory, ProbeCache(runner or CountingRunner()), **kw)  # type: ignore[arg-type]


async def test_listing_is_newest_first_paged_and_filtered(tmp_path: Path) -> None:
    base = time.time() - 10_000
    a = _segments(tmp_path, "camera0", 5, base)
    b = _segments(tmp_path, "camera1", 3, base + 30)
    store = _store(tmp_path)
    page = await store.list(limit=4, offset=0)
    assert page.total == 8
    everything = (await store.list(limit=100, offset=0)).files
    created = [e.created for e in everything]
    assert created == sorted(created, reverse=True)
    assert [e.name for e in page.files] == [e.name for e in everything[:4]]
    second = await store.list(limit=4, offset=4)
    assert [e.name for e in second.files] == [e.name for e in everything[4:8]]
    assert (await store.list(limit=4, offset=8)).files == []
    only1 = await store.list(limit=50, offset=0, device="camera1")
    assert sorted(e.name for e in only1.files) == sorted(b) and only1.total == 3
    assert {e.device for e in everything} == {"camera0", "camera1"}
    assert set(a) <= {e.name for e in everything}


async def test_hidden_temp_symlinks_dirs_and_foreign_files_are_not_listed(tmp_path: Path) -> None:
    (tmp_path / ".camera0.abc.tmp.mp4").write_bytes(b"tmp")
    (tmp_path / "notes.txt").write_bytes(b"x")
    (tmp_path / "dir.mp4").mkdir()
    outside = tmp_path.parent / "outside.mp4"
    outside.write_bytes(b"secret")
    (tmp_path / "link.mp4").symlink_to(outside)
    (tmp_path / "ok.mp4").write_bytes(b"ok")
    page = await _store(tmp_path).list(limit=50, offset=0)
    assert [e.name for e in page.files] == ["ok.mp4"]


async def test_the_segment_being_written_is_hidden_and_cannot_be_deleted(tmp_path: Path) -> None:
    start = time.time() - 100
    old = _segments(tmp_path, "camera0", 2, start - 1000)
    session = _segments(tmp_path, "camera0", 3, start, step=10)
    active = {"camera0": start}
    store = _store(tmp_path, active=lambda: active)
    listed = {e.name for e in (await store.list(limit=50, offset=0)).files}
    assert session[-1] not in listed
    assert set(old) | set(session[:-1]) == listed
    with pytest.raises(InvalidState) as err:
        await store.delete(session[-1])
    assert err.value.reason == "file_in_use"
    assert (tmp_path / session[-1]).exists()
    await store.delete(session[0])  # an earlier segment of the same session is finished
    assert not (tmp_path / session[0]).exists()
    active.clear()  # recording stopped: the last segment is an ordinary file now
    assert session[-1] in {e.name for e in (await store.list(limit=50, offset=0)).files}


def test_in_progress_ignores_segments_from_before_the_session() -> None:
    from camsvc.storage.files import FileEntry

    old = FileEntry("camera0_old.mp4", 1, 0, 100.0, "camera0")
    assert in_progress_segments([old], {"camera0": 500.0}) == set()
    new = FileEntry("camera0_new.mp4", 1, 0, 600.0, "camera0")
    assert in_progress_segments([old, new], {"camera0": 500.0}) == {"camera0_new.mp4"}


async def test_info_and_delete_validate_names_and_stay_inside(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"secret")
    (media / "evil.mp4").symlink_to(secret)
    store = _store(media)
    for bad in (
        "../secret.mp4",
        str(secret),
        "a/b.mp4",
        "a\\b.mp4",
        "x\x00.mp4",
        ".evil.mp4",
        "..",
        "%2e%2e",
    ):
        with pytest.raises((InvalidParams, NotFound)):
            await store.info(bad)
        with pytest.raises((InvalidParams, NotFound)):
            await store.delete(bad)
    with pytest.raises(NotFound):
        await store.delete("evil.mp4")
    assert secret.read_bytes() == b"secret" and (media / "evil.mp4").is_symlink()
    with pytest.raises(NotFound):
        await store.info("missing.mp4")


async def test_listing_probes_only_the_page_and_caches_by_mtime_and_size(tmp_path: Path) -> None:
    names = _segments(tmp_path, "camera0", 120, time.time() - 100_000)
    runner = CountingRunner()
    store = _store(tmp_path, runner)
    page = await store.list(limit=10, offset=0)
    assert len(runner.probed) == 10
    assert all(page.media[e.name] is not None for e in page.files)
    await store.list(limit=10, offset=0)
    assert len(runner.probed) == 10  # cached
    newest = tmp_path / page.files[0].name
    (tmp_path / "new.tmp").write_bytes(b"changed size")
    os.replace(tmp_path / "new.tmp", newest)  # a new version of the file
    await store.list(limit=10, offset=0)
    assert len(runner.probed) == 11  # only the changed file again
    assert len(names) == 120


async def test_probe_budget_bounds_a_listing(tmp_path: Path) -> None:
    import trio

    class SlowRunner(CountingRunner):
        async def probe(self, path: str | os.PathLike[str], *, timeout: float) -> MediaInfo:  # noqa: ASYNC109
            await trio.sleep(30)
            return await super().probe(path, timeout=timeout)

    _segments(tmp_path, "camera0", 5, time.time() - 1000)
    store = _store(tmp_path, SlowRunner(), probe_budget=0.2)
    with trio.fail_after(5):
        page = await store.list(limit=5, offset=0)
    assert len(page.files) == 5 and page.media == {}
    doc = file_object(FileKind.RECORDING, page.files[0], "http://x/f", None, with_duration=False)
    assert "duration" not in doc and doc["device"] == "camera0" and doc["format"] == "mp4"


@pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed")
async def test_info_reads_real_duration(tmp_path: Path) -> None:
    make_sample(tmp_path / segment_name("camera0", time.time() - 50), seconds=2.0)
    store = FileStore(FileKind.RECORDING, tmp_path, ProbeCache(FfmpegRunner()))
    entry = (await store.list(limit=1, offset=0)).files[0]
    _, info = await store.info(entry.name)
    assert info is not None and info.duration is not None and abs(info.duration - 2.0) < 0.3
    doc = file_object(FileKind.RECORDING, entry, "u", info, with_duration=True)
    assert abs(doc["duration"] - 2.0) < 0.3
    assert doc["created_time"].endswith("Z") and doc["modified_time"].endswith("Z")


def test_probe_cache_key_includes_mtime_and_size() -> None:
    cache = ProbeCache(CountingRunner())
    key = FileKey("/x.mp4", 1, 2)
    assert cache.lookup(key) == (False, None)
    cache._store(key, MediaInfo(duration=1.0))
    assert cache.lookup(key)[0] is True
    assert cache.lookup(FileKey("/x.mp4", 1, 3))[0] is False
    assert cache.lookup(FileKey("/x.mp4", 2, 2))[0] is False


async def test_scans_are_incremental_but_see_new_replaced_deleted_and_growing_files(tmp_path: Path) -> None:
    old = _segments(tmp_path, "camera0", 3, time.time() - 10_000)
    growing = tmp_path / segment_name("camera1", time.time() - 5)
    growing.write_bytes(b"x" * 10)  # written just now: it may still grow
    store = _store(tmp_path)
    first = {e.name: e.size for e in await store.scan()}
    assert first[growing.name] == 10 and set(old) <= set(first)
    with growing.open("ab") as f:
        f.write(b"y" * 90)
    assert {e.name: e.size for e in await store.scan()}[growing.name] == 100
    added = tmp_path / segment_name("camera2", time.time())
    added.write_bytes(b"new")
    assert added.name in {e.name for e in await store.scan()}
    # a finished file is not looked at again: rewritten in place with its old mtime, it keeps its size...
    finished = tmp_path / old[1]
    stamp = finished.stat().st_mtime
    with finished.open("r+b") as f:
        f.write(
            b"zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"
        )
    os.utime(finished, (stamp, stamp))
    assert {e.name: e.size for e in await store.scan()}[old[1]] == first[old[1]]
    store.invalidate()  # (housekeeping does this every run)
    assert {e.name: e.size for e in await store.scan()}[old[1]] == finished.stat().st_size
    # ...and a file replaced under the same name (another inode) is seen at once
    replacement = tmp_path / "replacement.tmp"
    replacement.write_bytes(b"r" * 7)
    os.utime(replacement, (stamp, stamp))
    os.replace(replacement, finished)
    assert {e.name: e.size for e in await store.scan()}[old[1]] == 7
    await store.delete(old[0])
    assert old[0] not in {e.name for e in (await store.list(limit=50, offset=0)).files}
    names_now = [e.name for e in await store.scan()]
    by_time = sorted(await store.scan(), key=lambda e: (e.created, e.name), reverse=True)
    assert names_now == [e.name for e in by_time]


def test_the_last_segment_of_a_session_is_current_however_late_the_next_listing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    segment = tmp_path / segment_name("camera3", time.time() - 100)
    segment.write_bytes(b"x" * 10)
    store = _store(tmp_path)
    seen = {e.name: e.size for e in store.scan_sync(frozenset({"camera3"}))}  # while recording
    assert seen[segment.name] == 10
    with segment.open("ab") as f:  # MediaMTX finishes the segment...
        f.write(b"y" * 990)
    long_ago = time.time() - 3600
    os.utime(segment, (long_ago, long_ago))
    later = time.time_ns() + 60 * 10**9  # ...and the next listing comes a minute later

    class Later:
        @staticmethod
        def time_ns() -> int:
            return later

    monkeypatch.setattr(files_module, "time", Later)
    assert {e.name: e.size for e in store.scan_sync()}[segment.name] == 1000


def _age(path: Path, seconds: float = 30.0) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_an_unchanged_directory_is_not_read_again_but_changing_files_are_current(tmp_path: Path) -> None:
    old = _segments(tmp_path, "camera0", 3, time.time() - 10_000)
    growing = tmp_path / segment_name("camera1", time.time() - 5)
    growing.write_bytes(b"x" * 10)
    recording = tmp_path / segment_name("camera2", time.time() - 50)
    recording.write_bytes(b"r" * 10)
    _age(recording)
    _age(tmp_path)  # a quiet directory
    store = _store(tmp_path)
    assert {e.name for e in store.scan_sync()} == {*old, growing.name, recording.name}
    assert store._dir_key is not None  # the shortcut is armed
    with growing.open("ab") as f:
        f.write(b"y" * 90)  # unsettled: stat()ed again
    with recording.open("ab") as f:
        f.write(b"s" * 90)
    _age(recording)  # looks settled, but its camera is recording
    sizes = {e.name: e.size for e in store.scan_sync(frozenset({"camera2"}))}
    assert sizes[growing.name] == 100 and sizes[recording.name] == 100
    assert store._dir_key is not None  # still no directory read needed
    added = tmp_path / segment_name("camera3", time.time())
    added.write_bytes(b"n")  # the directory changes
    assert added.name in {e.name for e in store.scan_sync()}
    (tmp_path / old[0]).unlink()
    assert old[0] not in {e.name for e in store.scan_sync()}


async def test_a_name_is_parsed_once_per_file_and_an_unnamed_files_time_follows_its_mtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _segments(tmp_path, "camera0", 20, time.time() - 100_000)
    custom = tmp_path / "custom.mp4"
    custom.write_bytes(b"c")
    os.utime(custom, (1_000_000, 1_000_000))
    store = _store(tmp_path)
    parsed: list[str] = []
    real = files_module.names.parse_name
    monkeypatch.setattr(files_module.names, "parse_name", lambda name: parsed.append(name) or real(name))
    first = {e.name: e for e in await store.scan()}
    assert sorted(parsed) == sorted([*made, custom.name])
    assert first[made[0]].named and first[made[0]].device == "camera0"
    assert not first[custom.name].named and first[custom.name].created == 1_000_000
    os.utime(custom, (2_000_000, 2_000_000))
    store.invalidate()  # every file is stat()ed again...
    again = {e.name: e for e in await store.scan()}
    assert len(parsed) == 21  # ...but no name parsed again
    assert again[made[0]].created == first[made[0]].created
    assert again[custom.name].created == 2_000_000
    assert again[made[0]].device is again[made[1]].device  # one string per camera
