"""Recording sessions against fake cameras/MediaMTX: start/stop, failures and rollback, timers,
camera removal, and crash recovery from the persisted sessions."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from camsvc.errors import DependencyFailed, InsufficientStorage, InvalidState, NotFound
from camsvc.health import iso
from camsvc.media.recordings import FAILED, RECORDING, STOPPED, stop_result
from camsvc.media.service import MediaService
from camsvc.storage import names
from camsvc.storage.disk import DiskUsage
from camsvc.storage.files import FileKind
from tests.media.fakes import FakeMediamtx, Rig, make_rig, media_config, synthetic_camera


@asynccontextmanager
async def running(rig: Rig, **build: Any) -> AsyncIterator[MediaService]:
    media = rig.build_media(http_port=lambda: 8003, **build)
    async with trio.open_nursery() as nursery:
        await nursery.start(media.recordings.run)
        yield media
        nursery.cancel_scope.cancel()


async def _wait_for(predicate, what: str, limit: float = 8.0):  # type: ignore[no-untyped-def]
    """Poll in-process state with a deadline (the state has no event of its own to wait on)."""
    with trio.move_on_after(limit):
        while True:
            value = predicate()
            if value:
                return value
            await trio.sleep(0.02)
    raise AssertionError(f"timed out after {limit}s waiting for {what}")


async def _rows(rig: Rig) -> list[dict]:  # type: ignore[type-arg]
    rows = await rig.store.fetchall("SELECT * FROM recording_sessions ORDER BY start_time")
    return [dict(r) for r in rows]


async def test_start_and_stop_a_session(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        result = await media.recordings.start("camera0")
        session = result.session
        writing = rig.mediamtx.writing["camera0"]
        assert session.filename == writing.name  # the real first segment's name
        assert rig.registry.get("camera0").recording.session_id == session.session_id  # type: ignore[union-attr]
        assert rig.registry.get("camera0").recording.format == "fmp4"  # type: ignore[union-attr]
        assert rig.topics("recording_status_update")[-1]["status"] == RECORDING
        status = media.recordings.status("camera0")
        assert status["recording"] is True and status["session_id"] == session.session_id
        # the segment being written is neither listed nor deletable
        listed = await media.list_files(FileKind.RECORDING, limit=50, offset=0, device=None, host="h")
        assert listed["files"] == []
        with pytest.raises(InvalidState) as err:
            await media.delete_file(FileKind.RECORDING, writing.name)
        assert err.value.reason == "file_in_use"
        second = rig.mediamtx.start_segment("camera0")  # MediaMTX rotates
        stopped = await media.recordings.stop("camera0")
        assert stopped.status == STOPPED and stopped.files == (writing.name, second.name)
        assert stopped.file_size == writing.stat().st_size + second.stat().st_size
        assert rig.registry.get("camera0").recording is None  # type: ignore[union-attr]
        doc = stop_result(stopped)
        assert set(doc) >= {
            "device",
            "session_id",
            "filename",
            "status",
            "start_time",
            "end_time",
            "duration",
            "file_size",
            "format",
            "files",
        }
        event = rig.topics("recording_status_update")[-1]
        assert event["status"] == STOPPED and event["session_id"] == session.session_id
        rows = await _rows(rig)
        assert rows[0]["status"] == STOPPED and rows[0]["end_time"] is not None
        listed = await media.list_files(FileKind.RECORDING, limit=50, offset=0, device="camera0", host="h")
        assert {f["filename"] for f in listed["files"]} == {writing.name, second.name}
        assert media.recordings.status("camera0")["recording"] is False


async def test_state_errors(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        with pytest.raises(InvalidState) as err:
            await media.recordings.stop("camera0")
        assert err.value.reason == "not_recording"
        with pytest.raises(NotFound):
            await media.recordings.start("camera7")
        with pytest.raises(NotFound):
            await media.recordings.stop("camera7")
        await media.recordings.start("/dev/video0", format="mp4")
        with pytest.raises(InvalidState) as err:
            await media.recordings.start("camera0")
        assert err.value.reason == "already_recording"
        stopped = await media.recordings.stop("camera0")
        assert stopped.format == "mp4"  # reported as given, recorded as fmp4


async def test_mpegts_sessions_write_ts_segments(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        result = await media.recordings.start("camera0", format="mpegts")
        assert result.session.filename.endswith(".ts")
        assert rig.registry.get("camera0").recording.format == "mpegts"  # type: ignore[union-attr]
        assert (await media.recordings.stop("camera0")).files[0].endswith(".ts")


async def test_mediamtx_refusal_rolls_back(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    rig.mediamtx.fail_sync = "record path not writable"
    async with running(rig) as media:
        with pytest.raises(DependencyFailed) as err:
            await media.recordings.start("camera0")
        assert err.value.data["dependency"] == "mediamtx"
        assert "record path not writable" in err.value.data["detail"]
        assert rig.registry.get("camera0").recording is None  # type: ignore[union-attr]
        assert await _rows(rig) == []
        assert rig.topics("recording_status_update") == []
        rig.mediamtx.fail_sync = None
        await media.recordings.start("camera0")  # nothing left over blocks a retry


async def test_open_circuit_fails_fast_without_touching_state(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    rig.mediamtx.circuit_open = True
    async with running(rig) as media:
        with pytest.raises(DependencyFailed) as err:
            await media.recordings.start("camera0")
        assert err.value.reason == "mediamtx_unavailable"
        assert rig.mediamtx.syncs == 0 and rig.registry.get("camera0").recording is None  # type: ignore[union-attr]


async def test_block_threshold_refuses_a_recording(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, config=media_config(tmp_path, warn_percent=0.0, block_percent=0.001))
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        with pytest.raises(InsufficientStorage):
            await media.recordings.start("camera0")
        assert await _rows(rig) == [] and rig.mediamtx.syncs == 0
        assert os.listdir(rig.config.recording.dir) == []


async def test_warn_threshold_only_flags(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, config=media_config(tmp_path, warn_percent=0.001, block_percent=100.0))
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        result = await media.recordings.start("camera0")
        assert result.low_space_warning is True


async def test_a_slow_first_segment_is_announced_when_it_exists_never_guessed(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)  # first_segment_wait=1.0
    rig.directory.add(synthetic_camera())
    recordings_dir, rig.mediamtx.recordings_dir = rig.mediamtx.recordings_dir, None  # stream not up yet
    async with running(rig) as media:
        started = (await media.recordings.start("camera0")).session
        assert started.filename is None  # not a name MediaMTX will never write
        first = rig.topics("recording_status_update")[-1]
        assert first["status"] == RECORDING and first["filename"] is None
        assert media.recordings.status("camera0")["filename"] is None
        rig.mediamtx.recordings_dir = recordings_dir
        written = rig.mediamtx.start_segment("camera0")  # the stream came up: MediaMTX opens the segment
        named = await _wait_for(
            lambda: next((e for e in rig.topics("recording_status_update")[1:]), None), "the naming event"
        )
        assert named["status"] == RECORDING and named["session_id"] == started.session_id
        assert named["filename"] == written.name
        assert media.recordings.status("camera0")["filename"] == written.name
        assert rig.registry.get("camera0").recording.filename == written.name  # type: ignore[union-attr]
        assert (await _rows(rig))[0]["filename"] == written.name
        stopped = await media.recordings.stop("camera0")
        assert stopped.filename == written.name and stopped.files == (written.name,)


async def test_a_session_that_never_wrote_a_segment_ends_without_a_name(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    rig.mediamtx.recordings_dir = None
    async with running(rig) as media:
        await media.recordings.start("camera0")
        stopped = await media.recordings.stop("camera0")
        assert stopped.filename is None and stopped.files == ()
        # nothing recorded is no success: FAILED, and why
        assert (stopped.status, stopped.reason) == (FAILED, "no_media")
        assert rig.topics("recording_status_update")[-1]["filename"] is None


async def test_a_disk_crossing_block_percent_stops_the_recording_and_says_so(tmp_path: Path) -> None:
    rig = make_rig(tmp_path, config=media_config(tmp_path, warn_percent=80.0, block_percent=95.0))
    rig.directory.add(synthetic_camera())
    level = {"pct": 50.0}

    def statvfs(path: str) -> DiskUsage:  # the disk-usage seam
        return DiskUsage(path, 1000, int(level["pct"] * 10), 1000 - int(level["pct"] * 10))

    async with running(rig, disk_usage=statvfs) as media:
        started = (await media.recordings.start("camera0")).session
        await media.gate.sample()  # below the threshold: the recording goes on
        assert media.recordings.status("camera0")["recording"] is True
        level["pct"] = 96.0
        await media.gate.sample()  # what the housekeeping child's storage watch does every few seconds
        event = await _wait_for(
            lambda: next((e for e in rig.topics("recording_status_update") if e["status"] == STOPPED), None),
            "the storage_full stop",
        )
        assert event["reason"] == "storage_full" and event["session_id"] == started.session_id
        assert event["files"] == [started.filename]
        assert media.recordings.status("camera0")["recording"] is False
        assert rig.registry.get("camera0").recording is None  # type: ignore[union-attr]
        row = (await _rows(rig))[0]
        assert (row["status"], row["reason"]) == (STOPPED, "storage_full")
        assert (Path(rig.config.recording.dir) / started.filename).exists()  # files kept
        with pytest.raises(InsufficientStorage):  # and no new one starts
            await media.recordings.start("camera0")


async def test_timed_recording_stops_itself(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        result = await media.recordings.start("camera0", duration=1)
        assert result.session.duration == 1
        event = await _wait_for(
            lambda: next((e for e in rig.topics("recording_status_update") if e["status"] == STOPPED), None),
            "auto stop",
        )
        assert event["reason"] == "duration_reached" and event["session_id"] == result.session.session_id
        assert event["files"] == [result.session.filename]
        assert rig.registry.get("camera0").recording is None  # type: ignore[union-attr]
        with pytest.raises(InvalidState):
            await media.recordings.stop("camera0")


async def test_timed_recording_counts_from_the_first_frame(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    rig.mediamtx.lag = 0.7  # the stream takes a moment to come up
    async with running(rig) as media:
        result = await media.recordings.start("camera0", duration=1)
        media_start = names.segment_start(result.session.filename)
        assert media_start is not None and media_start > result.session.start_time + 0.5
        await _wait_for(
            lambda: any(e["status"] == STOPPED for e in rig.topics("recording_status_update")), "auto stop"
        )
        row = (await _rows(rig))[0]
        assert row["media_start"] == media_start
        assert row["end_time"] >= media_start + 1.0  # a full second of media, not of waiting


async def test_a_timed_session_short_of_media_records_on_until_it_has_it(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    probed: list[str] = []

    async def short_probe(path: str) -> float:
        probed.append(path)
        os.utime(path)  # everything the recorder had is on disk
        return 0.3  # but only 0.3 s of the 1 s asked for

    async with running(rig) as media:
        media.recordings._probe = short_probe
        result = await media.recordings.start("camera0", duration=1)
        await _wait_for(
            lambda: any(e["status"] == STOPPED for e in rig.topics("recording_status_update")), "auto stop"
        )
        row = (await _rows(rig))[0]
        deadline = result.session.deadline()
        assert deadline is not None and probed
        assert row["end_time"] >= deadline + 0.6  # extended by the missing ~0.7 s


async def test_media_start_is_when_the_stream_became_ready(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    ready_at = time.time() + 0.6
    rig.mediamtx.ready["camera0"] = True
    rig.mediamtx.ready_times["camera0"] = dt.datetime.fromtimestamp(ready_at, dt.UTC).isoformat()
    rig.mediamtx.lag = 3.0  # a segment name later than the media in it must not stretch the session
    async with running(rig) as media:
        result = await media.recordings.start("camera0", duration=1)
        assert result.session.media_start is not None
        assert abs(result.session.media_start - ready_at) < 0.01


async def test_manual_stop_cancels_the_timer(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        first = await media.recordings.start("camera0", duration=1)
        await media.recordings.stop("camera0")
        second = await media.recordings.start("camera0")  # must not be stopped by the first one's timer
        await trio.sleep(1.3)  # past the first session's deadline (checking that nothing happens)
        assert media.recordings.session_for("camera0").session_id == second.session.session_id  # type: ignore[union-attr]
        assert first.session.session_id != second.session.session_id


async def _abandoned(rig: Rig, call: Any) -> None:
    """Run ``call()`` and cancel it while MediaMTX is slow (``sync`` blocked), then let MediaMTX answer."""
    rig.mediamtx.gate, rig.mediamtx.entered = trio.Event(), trio.Event()
    scope = trio.CancelScope()

    async def caller() -> None:
        with scope:
            await call()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller)
        await rig.mediamtx.entered.wait()
        scope.cancel()  # the client disconnected mid-call
        rig.mediamtx.gate.set()
    rig.mediamtx.gate = None


async def test_a_caller_that_goes_away_never_leaves_a_half_started_or_half_stopped_session(
    tmp_path: Path,
) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        await _abandoned(rig, lambda: media.recordings.start("camera0", duration=3600))
        session = media.recordings.session_for("camera0")
        assert session is not None and rig.topics("recording_status_update")[-1]["status"] == RECORDING
        assert (await _rows(rig))[0]["status"] == RECORDING
        await _abandoned(rig, lambda: media.recordings.stop("camera0"))
        assert rig.topics("recording_status_update")[-1]["status"] == STOPPED
        row = (await _rows(rig))[0]
        assert row["status"] == STOPPED and row["session_id"] == session.session_id
        assert media.recordings.session_for("camera0") is None
        assert rig.registry.get("camera0").recording is None  # type: ignore[union-attr]


async def test_camera_removal_fails_the_session_and_keeps_its_files(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        result = await media.recordings.start("camera0")
        segment = rig.mediamtx.writing["camera0"]
        await rig.directory.remove("camera0")
        event = rig.topics("recording_status_update")[-1]
        assert event["status"] == FAILED and event["reason"] == "camera_disconnected"
        assert event["files"] == [segment.name] and segment.exists()
        rows = await _rows(rig)
        assert rows[0]["status"] == FAILED and rows[0]["session_id"] == result.session.session_id
        assert media.recordings.active_count == 0


async def test_crash_recovery_resumes_when_the_camera_returns(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        started = (await media.recordings.start("camera0", duration=3600)).session
    rig.store.close()  # the process "dies" with the session RECORDING

    rig2 = make_rig(tmp_path)  # a new process: same dirs and database, empty registry
    async with running(rig2) as media2:
        assert media2.recordings.active_starts() == {"camera0": started.start_time}  # protected meanwhile
        rig2.directory.add(synthetic_camera())  # discovery brings the camera back
        await _wait_for(lambda: media2.recordings.recovered, "recovery")
        assert media2.recordings.recovered == [(started.session_id, "resumed")]
        cam = rig2.registry.get("camera0")
        assert (
            cam is not None and cam.recording is not None and cam.recording.session_id == started.session_id
        )
        status = media2.recordings.status("camera0")
        assert (
            status["recording"] and status["session_id"] == started.session_id and status["duration"] == 3600
        )
        stopped = await media2.recordings.stop("camera0")
        assert stopped.session_id == started.session_id and started.filename in stopped.files


async def test_crash_recovery_closes_with_the_real_end_when_the_camera_is_gone(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        started = (await media.recordings.start("camera0")).session
    segment = rig.mediamtx.writing["camera0"]
    later = rig.mediamtx.start_segment("camera0", when=time.time() + 1)
    end = time.time() + 5
    os.utime(later, (end, end))
    sizes = {p.name: p.stat().st_size for p in (segment, later)}
    rig.store.close()

    rig2 = make_rig(tmp_path)  # the camera never comes back
    async with running(rig2) as media2:
        await _wait_for(lambda: media2.recordings.recovered, "recovery")
        assert media2.recordings.recovered == [(started.session_id, "closed")]
        row = (await _rows(rig2))[0]
        assert row["status"] == FAILED and row["reason"] == "camera_disconnected"
        assert abs(row["end_time"] - end) < 0.01
        assert row["filename"] == segment.name
        event = rig2.topics("recording_status_update")[-1]
        assert event["files"] == [segment.name, later.name]
        assert {p.name: p.stat().st_size for p in (segment, later)} == sizes  # nothing touched
        assert media2.recordings.active_starts() == {}


def _age(path: Path, seconds: float) -> float:
    """Make ``path`` look last written ``seconds`` ago (MediaMTX stopped writing it); returns that time."""
    when = time.time() - seconds
    os.utime(path, (when, when))
    return when


async def _checks(media: MediaService, more: int) -> None:
    """Let the outage watch look at MediaMTX ``more`` times."""
    target = media.recordings.outage_checks + more
    await _wait_for(lambda: media.recordings.outage_checks >= target, f"{more} outage checks")


async def test_a_mediamtx_outage_is_kept_on_the_session_and_announced(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        media.recordings.outage_poll, media.recordings.stall = 0.05, 1.0
        started = (await media.recordings.start("camera0")).session
        before = rig.mediamtx.writing["camera0"]
        rig.mediamtx.reachable = False  # MediaMTX killed: its segment stops growing
        last_write = _age(before, 5.0)
        down = await _wait_for(
            lambda: next((e for e in rig.topics("recording_status_update") if e["interrupted"]), None),
            "the interruption event",
        )
        assert down["status"] == RECORDING and down["reason"] == "mediamtx_unavailable"
        assert down["session_id"] == started.session_id
        assert down["gaps"] == [{"start": iso(last_write), "end": None, "duration": None}]
        status = media.recordings.status("camera0")
        assert status["recording"] is True and status["interrupted"] is True
        rig.mediamtx.reachable = True  # back: the reconciler restores the path, MediaMTX records anew
        after = rig.mediamtx.start_segment("camera0")
        up = await _wait_for(
            lambda: next(
                (e for e in rig.topics("recording_status_update") if e.get("reason") == "recording_resumed"),
                None,
            ),
            "the resumption event",
        )
        resumed_at = names.segment_start(after.name)
        assert up["interrupted"] is False and resumed_at is not None
        assert up["gaps"] == [
            {"start": iso(last_write), "end": iso(resumed_at), "duration": round(resumed_at - last_write, 3)}
        ]
        assert media.recordings.status("camera0")["gaps"] == up["gaps"]
        assert json.loads((await _rows(rig))[0]["gaps"]) == [[last_write, resumed_at]]  # persisted
        stopped = await media.recordings.stop("camera0")
        assert stopped.files == (before.name, after.name)
        assert stop_result(stopped)["gaps"] == up["gaps"]


async def test_the_outage_watch_sleeps_while_nothing_records(
    tmp_path: Path, mock_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An idle service must not wake to look at MediaMTX: no session, no outage to keep."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    looks: list[float] = []
    real_status = FakeMediamtx.status

    def counted(self: FakeMediamtx) -> FakeMediamtx:
        looks.append(trio.current_time())
        return real_status(self)

    monkeypatch.setattr(FakeMediamtx, "status", counted)
    async with running(rig) as media:
        await trio.testing.wait_all_tasks_blocked()
        mock_clock.jump(100 * media.recordings.outage_poll)  # a polling watch would have looked ~100 times
        await trio.testing.wait_all_tasks_blocked()
        assert looks == []
        assert media.recordings.outage_checks == 0


async def test_an_api_outage_while_media_flows_is_no_gap(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        media.recordings.outage_poll, media.recordings.stall = 0.05, 5.0
        await media.recordings.start("camera0")
        rig.mediamtx.reachable = False  # the API does not answer, but the segment is still being written
        await _checks(media, 5)
        assert not any(e["interrupted"] for e in rig.topics("recording_status_update"))
        assert media.recordings.status("camera0")["gaps"] == []


async def test_a_restart_between_two_looks_is_still_a_gap(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        media.recordings.outage_poll = 0.05
        await media.recordings.start("camera0")
        await _checks(media, 1)  # the watch has seen the current instance
        last_write = rig.mediamtx.writing["camera0"].stat().st_mtime  # the old instance's last write
        restarted = time.time()
        after = rig.mediamtx.start_segment("camera0", when=restarted + 0.2)  # the new instance records
        rig.mediamtx.server_started = dt.datetime.fromtimestamp(restarted, dt.UTC).isoformat()
        up = await _wait_for(
            lambda: next(
                (e for e in rig.topics("recording_status_update") if e.get("reason") == "recording_resumed"),
                None,
            ),
            "the resumption event",
        )
        down = [e for e in rig.topics("recording_status_update") if e["interrupted"]]
        assert len(down) == 1 and down[0]["reason"] == "mediamtx_unavailable"
        resumed_at = names.segment_start(after.name)
        assert resumed_at is not None
        assert up["gaps"] == [
            {"start": iso(last_write), "end": iso(resumed_at), "duration": round(resumed_at - last_write, 3)}
        ]


async def test_a_session_stopped_during_an_outage_ends_its_gap_at_the_stop(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        media.recordings.outage_poll, media.recordings.stall = 0.05, 1.0
        await media.recordings.start("camera0")
        rig.mediamtx.reachable = False
        last_write = _age(rig.mediamtx.writing["camera0"], 5.0)
        await _wait_for(lambda: media.recordings.status("camera0")["interrupted"], "the interruption")
        rig.mediamtx.reachable = True
        stopped = await media.recordings.stop("camera0")
        assert stopped.end_time is not None and stopped.gaps == ((last_write, stopped.end_time),)
        assert rig.topics("recording_status_update")[-1]["gaps"][0]["end"] == iso(stopped.end_time)


async def test_a_gap_open_when_the_service_died_is_closed_after_recovery(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        media.recordings.outage_poll, media.recordings.stall = 0.05, 1.0
        started = (await media.recordings.start("camera0")).session
        rig.mediamtx.reachable = False
        last_write = _age(rig.mediamtx.writing["camera0"], 5.0)
        await _wait_for(lambda: media.recordings.status("camera0")["interrupted"], "the interruption")
    rig.store.close()  # the process dies during the outage

    rig2 = make_rig(tmp_path)
    async with running(rig2) as media2:
        media2.recordings.outage_poll = 0.05
        rig2.directory.add(synthetic_camera())
        await _wait_for(lambda: media2.recordings.recovered, "recovery")
        status = media2.recordings.status("camera0")
        assert status["session_id"] == started.session_id and status["interrupted"] is True  # kept
        up = await _wait_for(
            lambda: next(
                (e for e in rig2.topics("recording_status_update") if e.get("reason") == "recording_resumed"),
                None,
            ),
            "the resumption event",
        )
        after = rig2.mediamtx.writing["camera0"]  # MediaMTX, reachable again, recorded on the resume's sync
        resumed_at = names.segment_start(after.name)
        assert resumed_at is not None and up["session_id"] == started.session_id
        assert up["gaps"] == [
            {"start": iso(last_write), "end": iso(resumed_at), "duration": round(resumed_at - last_write, 3)}
        ]
