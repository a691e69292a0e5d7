"""Recording sessions against a slow or restarting MediaMTX and a camera removed mid-start (the soak's
findings): every segment a path writes has a session, state errors do not queue behind a slow call,
and no session outlives its camera."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from camsvc.cameras.model import RecordingState
from camsvc.errors import DependencyFailed, InvalidState
from camsvc.media.recordings import FAILED, STOPPED
from camsvc.media.service import MediaService
from tests.media.fakes import FakeActor, Rig, make_rig, synthetic_camera


@asynccontextmanager
async def running(rig: Rig) -> AsyncIterator[MediaService]:
    media = rig.build_media(http_port=lambda: 8003)
    async with trio.open_nursery() as nursery:
        await nursery.start(media.recordings.run)
        media.recordings.poll_interval = 0.05
        yield media
        nursery.cancel_scope.cancel()


async def _row(rig: Rig, session_id: str) -> dict[str, Any]:
    row = await rig.store.fetchone("SELECT * FROM recording_sessions WHERE session_id = ?", (session_id,))
    assert row is not None
    return dict(row)


async def _until(check: Callable[[], Awaitable[bool]], limit: float = 8.0) -> None:
    """Poll with a deadline: MediaMTX's files and the session rows have no event of their own to wait on."""
    with trio.fail_after(limit):
        while not await check():  # noqa: ASYNC110
            await trio.sleep(0.05)


async def _ended(media: MediaService) -> bool:
    await trio.lowlevel.checkpoint()
    return media.recordings.session_for("camera0") is None


def _slow_mediamtx(rig: Rig) -> trio.Event:
    """From now on sync() blocks until the returned event is set (``rig.mediamtx.entered`` says it began)."""
    rig.mediamtx.gate, rig.mediamtx.entered = trio.Event(), trio.Event()
    return rig.mediamtx.gate


async def test_a_segment_begun_while_a_stop_is_applied_belongs_to_the_session(tmp_path: Path) -> None:
    """MediaMTX records until it applies record: false; a segment it rotated to meanwhile is the session's."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media, trio.open_nursery() as nursery:
        await media.recordings.start("camera0")
        first = rig.mediamtx.writing["camera0"]
        gate = _slow_mediamtx(rig)
        stopped: list[Any] = []

        async def stop() -> None:
            stopped.append(await media.recordings.stop("camera0"))

        nursery.start_soon(stop)
        await rig.mediamtx.entered.wait()
        # MediaMTX rotates after the stop was asked, before it applied it
        rotated = rig.mediamtx.start_segment("camera0")
        gate.set()
    assert stopped[0].files == (first.name, rotated.name)


async def test_segments_written_after_an_unconfirmed_stop_are_claimed_once_mediamtx_confirms(
    tmp_path: Path,
) -> None:
    """A stop MediaMTX could not confirm answers STOPPED at once, but the session keeps whatever the path
    goes on writing until MediaMTX confirms it stopped: no file is left without a session."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        started = (await media.recordings.start("camera0")).session
        first = rig.mediamtx.writing["camera0"]
        rig.mediamtx.fail_sync = "restarting"
        stopped = await media.recordings.stop("camera0")
        assert stopped.status == STOPPED and stopped.files == (first.name,)
        later = rig.mediamtx.start_segment("camera0")  # MediaMTX, not told yet, records on
        rig.mediamtx.fail_sync = None  # back: the next sync applies record: false

        async def claimed() -> bool:
            return bool(
                json.loads((await _row(rig, started.session_id))["files"]) == [first.name, later.name]
            )

        await _until(claimed)
        row = await _row(rig, started.session_id)
        assert row["status"] == STOPPED and row["file_size"] == first.stat().st_size + later.stat().st_size


async def test_state_errors_do_not_wait_for_a_slow_start_or_stop(tmp_path: Path) -> None:
    """already_recording / not_recording are answered while another call on the camera waits for MediaMTX."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media, trio.open_nursery() as nursery:
        gate = _slow_mediamtx(rig)
        nursery.start_soon(media.recordings.start, "camera0")
        await rig.mediamtx.entered.wait()  # the start holds the camera, waiting for MediaMTX
        with pytest.raises(InvalidState) as err, trio.fail_after(5):  # bounds a hang, not a speed check
            await media.recordings.start("camera0")
        assert err.value.reason == "already_recording"
        assert not gate.is_set()  # answered while the first start is still blocked
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        assert media.recordings.session_for("camera0") is not None

        gate = _slow_mediamtx(rig)
        nursery.start_soon(media.recordings.stop, "camera0")
        await rig.mediamtx.entered.wait()  # the stop holds the camera, waiting for MediaMTX
        with pytest.raises(InvalidState) as err, trio.fail_after(5):
            await media.recordings.stop("camera0")
        assert err.value.reason == "not_recording"
        assert not gate.is_set()
        gate.set()


async def test_a_start_racing_the_cameras_removal_leaves_no_session_behind(tmp_path: Path) -> None:
    """remove_external_stream while start_recording waits for MediaMTX: the removal's callback gives up
    after its bound (as the real directory's does) and the camera goes; the start must not then leave a
    session RECORDING on the removed camera."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media, trio.open_nursery() as nursery:
        gate = _slow_mediamtx(rig)
        outcome: list[BaseException | str] = []

        async def start() -> None:
            try:
                outcome.append((await media.recordings.start("camera0")).session.status)
            except InvalidState as exc:
                outcome.append(exc)

        nursery.start_soon(start)
        await rig.mediamtx.entered.wait()
        camera = rig.registry.get("camera0")
        assert camera is not None
        bound = trio.CancelScope()

        async def removal_callback() -> None:
            assert camera is not None
            with bound:  # the directory's per-callback bound, which runs out
                await rig.directory.callbacks[0](camera)

        nursery.start_soon(removal_callback)
        await trio.testing.wait_all_tasks_blocked()
        bound.cancel()
        rig.directory.actors.pop("camera0")
        rig.registry.remove("camera0")
        gate.set()
        await trio.testing.wait_all_tasks_blocked()
        for released in rig.directory.released:
            released("camera0")
    assert isinstance(outcome[0], InvalidState) and outcome[0].reason == "camera_disconnected"
    assert media.recordings.active_count == 0
    # MediaMTX wrote nothing for it: the start is undone as if it had been refused
    assert await rig.store.fetchall("SELECT * FROM recording_sessions") == []


async def test_a_camera_removed_while_the_session_row_is_written_leaves_no_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The soak's finding: the removal landed between the row's insert and setting the desired state, so
    the start was refused (camera_disconnected) but its row stayed RECORDING for ever."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    set_recording = FakeActor.set_recording

    def removed_meanwhile(actor: FakeActor, state: RecordingState | None) -> None:
        if state is not None:
            rig.registry.remove(actor.camera_id)  # the removal ran while the row was written
        set_recording(actor, state)

    monkeypatch.setattr(FakeActor, "set_recording", removed_meanwhile)
    async with running(rig) as media:
        with pytest.raises(InvalidState) as err:
            await media.recordings.start("camera0")
        assert err.value.reason == "camera_disconnected"
        assert media.recordings.active_count == 0
    assert await rig.store.fetchall("SELECT * FROM recording_sessions") == []


async def test_what_mediamtx_writes_after_a_start_refused_by_the_cameras_removal_gets_a_session(
    tmp_path: Path,
) -> None:
    """The soak's orphan: start_recording is refused because the camera is removed while MediaMTX applies
    record: true, and MediaMTX dies before confirming the path is gone. Nothing was written yet, so the
    start is undone; but MediaMTX had applied record: true after all (it applies a change after its
    reply), so the segment it writes until the path is deleted must get a FAILED session, not nobody."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    rig.mediamtx.recordings_dir, recordings_dir = None, rig.mediamtx.recordings_dir  # stream not up yet
    async with running(rig) as media, trio.open_nursery() as nursery:
        gate = _slow_mediamtx(rig)
        refused: list[InvalidState] = []

        async def start() -> None:
            with pytest.raises(InvalidState) as err:
                await media.recordings.start("camera0")
            refused.append(err.value)

        nursery.start_soon(start)
        await rig.mediamtx.entered.wait()
        camera = rig.registry.get("camera0")
        assert camera is not None
        await rig.directory.callbacks[0](camera)  # the removal begins: the start under way ends the session
        rig.directory.actors.pop("camera0")
        rig.registry.remove("camera0")
        rig.mediamtx.gate = None

        def killed() -> None:  # MediaMTX is killed right after it answered the start
            rig.mediamtx.fail_sync = "reconciler stopped"

        rig.mediamtx.after_sync = killed
        gate.set()  # the start's sync returns: the camera is going, so the start ends its session
        await _until(lambda: _refused(refused))
        assert refused[0].reason == "camera_disconnected"
        assert rig.mediamtx.fail_sync  # the end was not confirmed
        assert await rig.store.fetchall("SELECT * FROM recording_sessions") == []
        rig.mediamtx.recordings_dir = recordings_dir
        written = rig.mediamtx.start_segment("camera0")  # the stream came up on the path still recording
        rig.mediamtx.fail_sync = None  # back: the path is deleted

        async def owned() -> bool:
            return bool(await rig.store.fetchall("SELECT * FROM recording_sessions"))

        await _until(owned)
        nursery.cancel_scope.cancel()
    (row,) = [dict(r) for r in await rig.store.fetchall("SELECT * FROM recording_sessions")]
    assert (row["device"], row["status"], row["reason"], json.loads(row["files"])) == (
        "camera0",
        FAILED,
        "camera_disconnected",
        [written.name],
    )


async def _refused(refused: list[InvalidState]) -> bool:
    await trio.lowlevel.checkpoint()
    return bool(refused)


async def test_a_timed_session_whose_stream_is_slow_to_come_up_still_records_its_duration(
    tmp_path: Path,
) -> None:
    """Starting a recording recreates the MediaMTX path, so the stream may take longer than the session's
    duration to come back: the duration counts from the first frame, not from the request."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    recordings_dir, rig.mediamtx.recordings_dir = rig.mediamtx.recordings_dir, None  # no frames yet
    async with running(rig) as media:
        media.recordings.first_segment_wait = 0.0
        started = (await media.recordings.start("camera0", duration=1)).session
        await trio.sleep_until(trio.current_time() + 1.5)  # past the nominal end (checking nothing happens)
        assert media.recordings.session_for("camera0") is not None
        rig.mediamtx.recordings_dir = recordings_dir
        segment = rig.mediamtx.start_segment("camera0")  # the stream is up at last
        await _until(lambda: _ended(media))
    row = await _row(rig, started.session_id)
    assert (row["status"], row["reason"]) == (STOPPED, "duration_reached")
    assert json.loads(row["files"]) == [segment.name]


async def test_a_timed_session_that_never_gets_media_fails_with_the_reason(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    rig.mediamtx.recordings_dir = None
    async with running(rig) as media:
        media.recordings.first_segment_wait, media.recordings.media_wait = 0.0, 0.5
        started = (await media.recordings.start("camera0", duration=1)).session
        await _until(lambda: _ended(media))
    row = await _row(rig, started.session_id)
    assert (row["status"], row["reason"], row["files"]) == (FAILED, "no_media", "[]")


async def test_a_stop_does_not_wait_for_the_start_to_find_its_first_segment(tmp_path: Path) -> None:
    """The start's wait for the first segment is outside the camera's lock; a stop that overtakes it
    still sends the session's RECORDING event before its end."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    recordings_dir, rig.mediamtx.recordings_dir = rig.mediamtx.recordings_dir, None  # slow stream: no segment
    async with running(rig) as media, trio.open_nursery() as nursery:
        media.recordings.first_segment_wait = 3600.0
        started: list[Any] = []

        async def start() -> None:
            started.append((await media.recordings.start("camera0")).session)

        nursery.start_soon(start)
        await _until(lambda: _active(media))
        with trio.fail_after(5):  # bounds a hang (the stop queued behind the start), not a speed check
            stopped = await media.recordings.stop("camera0")
        assert not started  # the start is still looking for its segment
        rig.mediamtx.recordings_dir = recordings_dir
        rig.mediamtx.start_segment("camera0")  # it finds one (another session's): it must not announce again
    assert started[0].session_id == stopped.session_id
    events = [(e["session_id"], e["status"]) for e in rig.topics("recording_status_update")]
    assert events == [(stopped.session_id, "RECORDING"), (stopped.session_id, FAILED)]


async def _active(media: MediaService) -> bool:
    await trio.lowlevel.checkpoint()
    return media.recordings.session_for("camera0") is not None


async def test_what_mediamtx_wrote_for_a_start_that_failed_gets_a_failed_session(tmp_path: Path) -> None:
    """A start whose sync failed (MediaMTX slow, or restarted mid-pass) is rolled back, but MediaMTX may
    have applied record: true all the same: what it writes until it confirms record: false is owned by
    a FAILED session rather than by nobody."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        rig.mediamtx.fail_sync = "desired paths not applied within 10s"
        with pytest.raises(DependencyFailed):
            await media.recordings.start("camera0")
        assert await rig.store.fetchall("SELECT * FROM recording_sessions") == []
        written = rig.mediamtx.start_segment("camera0")  # it did apply it
        rig.mediamtx.fail_sync = None

        async def owned() -> bool:
            rows = await rig.store.fetchall("SELECT * FROM recording_sessions")
            return bool(rows)

        await _until(owned)
    (row,) = [dict(r) for r in await rig.store.fetchall("SELECT * FROM recording_sessions")]
    assert (row["status"], row["reason"], json.loads(row["files"])) == (
        FAILED,
        "mediamtx_unavailable",
        [written.name],
    )


async def test_per_camera_locks_do_not_outlive_their_use(tmp_path: Path) -> None:
    """The soak's census: one lock per camera id ever recorded, kept for good (ids of churned streams)."""
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    async with running(rig) as media:
        await media.recordings.start("camera0")
        await media.recordings.stop("camera0")
        await trio.testing.wait_all_tasks_blocked()
        assert "camera0" not in media.recordings._locks
