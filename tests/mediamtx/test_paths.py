"""The desired-path builder and the planner: pure functions, tested without any server."""

from __future__ import annotations

import shlex

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from camsvc.cameras.model import Camera, CameraStatus, RecordingState, Source, SourceKind
from camsvc.config import parse
from camsvc.mediamtx.paths import (
    MANAGED_KEYS,
    PUBLISH_LOG_ARGS,
    PUBLISH_URL,
    DesiredPaths,
    PathSettings,
    camera_path,
    conf_diff,
    desired_paths,
    format_duration,
    incremental_plan,
    is_manageable_name,
    is_reserved,
    parse_duration,
    plan,
    same_value,
    unbuildable_reason,
)

SETTINGS = PathSettings(
    ffmpeg_path="/usr/bin/ffmpeg",
    on_demand_start_timeout=10,
    on_demand_close_after=15,
    recordings_dir="/data/rec",
    record_format="fmp4",
    segment_duration=1800,
)


def local(cid: str = "camera0", **kw: object) -> Camera:
    src = Source(
        SourceKind.V4L2,
        ffmpeg_input=("-f", "v4l2", "-i", "/dev/video0"),
        ffmpeg_encode=("-c:v", "libx264", "-preset", "ultrafast"),
        device_path="/dev/video0",
    )
    return Camera(id=cid, name="USB", source=src, **kw)  # type: ignore[arg-type]


def network(cid: str = "stream0", url: str = "rtsp://10.0.0.5/live", **kw: object) -> Camera:
    return Camera(id=cid, name="IP", source=Source(SourceKind.NETWORK, url=url), **kw)  # type: ignore[arg-type]


def recording(fmt: str = "mpegts") -> RecordingState:
    return RecordingState(session_id="s1", filename="camera0_2024", start_time=0.0, format=fmt)


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("", 0.0),
        ("0s", 0.0),
        ("0", 0.0),
        ("10s", 10.0),
        ("1h0m0s", 3600.0),
        ("3600s", 3600.0),
        ("1m30s", 90.0),
        ("1d", 86400.0),
        ("1d2h", 93600.0),
        ("1.5s", 1.5),
        ("500ms", 0.5),
        ("250us", 0.00025),
        ("-1s", -1.0),
        (3600, 3600.0),
        (1.5, 1.5),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["10", "s", "1x", "1h 2m", "abc", True, None, [], "1.2.3s"])
def test_parse_duration_rejects_garbage(bad: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(bad)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (10, "10s"), (1800.0, "1800s"), (1.5, "1500ms"), (0.0005, "500us")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("bad", [-1, float("inf"), float("nan")])
def test_format_duration_rejects_negative_and_infinite(bad: float) -> None:
    with pytest.raises(ValueError):
        format_duration(bad)


@given(st.integers(min_value=0, max_value=10 * 86400 * 1000))
def test_format_then_parse_round_trips(ms: int) -> None:
    assert parse_duration(format_duration(ms / 1000)) == pytest.approx(ms / 1000)


def test_durations_compare_by_meaning() -> None:
    assert same_value("recordSegmentDuration", "3600s", "1h0m0s")
    assert same_value("recordSegmentDuration", 3600, "1h0m0s")
    assert same_value("recordDeleteAfter", "0s", "")
    assert same_value("runOnDemandCloseAfter", "90s", "1m30s")
    assert not same_value("recordSegmentDuration", "3600s", "1h0m1s")
    assert not same_value("recordSegmentDuration", "3600s", "garbage")


def test_non_durations_compare_exactly() -> None:
    assert not same_value("source", "publisher", "Publisher")
    assert not same_value("record", True, 1)
    assert not same_value("sourceOnDemand", False, 0)
    assert same_value("record", False, False)
    # a non-duration key that looks like one is not normalised
    assert not same_value("recordPath", "0s", "")


def test_conf_diff_compares_only_keys_we_set() -> None:
    desired = {"source": "publisher", "recordSegmentDuration": "3600s", "record": False}
    actual = {
        "name": "cam",
        "source": "publisher",
        "recordSegmentDuration": "1h0m0s",
        "record": False,
        "maxReaders": 7,  # someone else's business
    }
    assert conf_diff(desired, actual) == {}
    assert conf_diff({**desired, "record": True}, actual) == {"record": True}
    # a key missing from actual differs
    assert conf_diff({"runOnInit": ""}, {"name": "x"}) == {"runOnInit": ""}


# -------------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["camera0", "stream_1", "a-b.c", "group/cam1"])
def test_manageable_names(name: str) -> None:
    assert is_manageable_name(name)


@pytest.mark.parametrize("name", ["", "all", "all_others", "~^cam.*$", "/cam", "cam/", "a/../b", "a//b", "cam 1", "cäm"])
def test_unmanageable_names(name: str) -> None:
    assert not is_manageable_name(name)


def test_reserved_names() -> None:
    assert is_reserved("all_others") and is_reserved("all") and is_reserved("~^x$")
    assert not is_reserved("camera0")


# ------------------------------------------------------------ desired paths


def test_local_camera_publishes_on_demand() -> None:
    conf = camera_path(local(), SETTINGS)
    assert tuple(conf) == MANAGED_KEYS
    assert conf["source"] == "publisher"
    assert conf["sourceOnDemand"] is False
    assert conf["runOnInit"] == ""
    assert conf["runOnDemandRestart"] is True
    assert conf["runOnDemandStartTimeout"] == "10s"
    assert conf["runOnDemandCloseAfter"] == "15s"
    command = conf["runOnDemand"]
    assert command.endswith(" -f rtsp " + PUBLISH_URL)
    # MediaMTX splits the command shell-style: our arguments survive intact
    assert shlex.split(command) == [
        "/usr/bin/ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+warning", "-f", "v4l2", "-i", "/dev/video0", "-c:v", "libx264", "-preset", "ultrafast",
        "-f", "rtsp", PUBLISH_URL,
    ]
    assert conf["record"] is False
    assert conf["recordDeleteAfter"] == "0s"


def test_arguments_with_spaces_and_quotes_are_quoted() -> None:
    cam = attrs.evolve(
        local(),
        source=Source(SourceKind.SYNTHETIC, ffmpeg_input=("-f", "lavfi", "-i", "testsrc=size=640x480:rate=15,drawtext=text='it s'")),
    )
    command = camera_path(cam, SETTINGS)["runOnDemand"]
    assert shlex.split(command)[4 + len(PUBLISH_LOG_ARGS)] == "testsrc=size=640x480:rate=15,drawtext=text='it s'"


@pytest.mark.parametrize("kw", [{"keep_streaming": True}, {"recording": recording()}])
def test_local_camera_runs_on_init_while_kept_up(kw: dict[str, object]) -> None:
    conf = camera_path(local(**kw), SETTINGS)
    assert conf["runOnDemand"] == ""
    assert conf["runOnInit"].startswith("/usr/bin/ffmpeg ")
    assert conf["runOnInitRestart"] is True
    assert conf["runOnDemandRestart"] is False


def test_network_camera_pulls_its_url_on_demand() -> None:
    conf = camera_path(network(), SETTINGS)
    assert tuple(conf) == MANAGED_KEYS
    assert conf["source"] == "rtsp://10.0.0.5/live"
    assert conf["sourceOnDemand"] is True
    assert conf["sourceOnDemandStartTimeout"] == "10s"
    assert conf["sourceOnDemandCloseAfter"] == "15s"
    # runOnDemand is allowed only with source: publisher
    assert conf["runOnDemand"] == "" and conf["runOnInit"] == ""


@pytest.mark.parametrize("kw", [{"keep_streaming": True}, {"recording": recording()}])
def test_network_camera_pulls_always_while_kept_up(kw: dict[str, object]) -> None:
    assert camera_path(network(**kw), SETTINGS)["sourceOnDemand"] is False


def test_recording_sets_record_fields() -> None:
    conf = camera_path(local(recording=recording("mpegts")), SETTINGS)
    assert conf["record"] is True
    assert conf["recordPath"] == "/data/rec/%path_%Y-%m-%d_%H-%M-%S-%f"
    assert conf["recordFormat"] == "mpegts"
    assert conf["recordSegmentDuration"] == "1800s"
    assert conf["recordDeleteAfter"] == "0s"


def test_recording_without_format_uses_the_configured_one() -> None:
    conf = camera_path(local(recording=recording("")), SETTINGS)
    assert conf["recordFormat"] == "fmp4"


def test_settings_from_config() -> None:
    config = parse(
        {
            "mediamtx": {"ffmpeg_path": "/opt/ff", "on_demand_start_timeout": 3, "on_demand_close_after": 2.5},
            "recording": {"dir": "/r/", "format": "mpegts", "segment_duration": 60},
        },
        environ={},
    )
    s = PathSettings.from_config(config)
    assert s == PathSettings("/opt/ff", 3, 2.5, "/r/", "mpegts", 60)
    conf = camera_path(local(), s)
    assert conf["recordPath"] == "/r/%path_%Y-%m-%d_%H-%M-%S-%f"
    assert conf["runOnDemandCloseAfter"] == "2500ms"


def test_desired_paths_skips_cameras_that_cannot_have_a_path() -> None:
    cams = {
        c.id: c
        for c in [
            local("camera0"),
            local("camera1", status=CameraStatus.DISCONNECTED),
            network("stream0"),
            Camera(id="stream1", name="no url", source=Source(SourceKind.NETWORK)),
            Camera(id="camera2", name="no input", source=Source(SourceKind.V4L2)),
            local("all_others"),
            local("all"),
        ]
    }
    assert set(desired_paths(cams, SETTINGS)) == {"camera0", "stream0"}
    assert unbuildable_reason(cams["camera1"]) == "local camera is disconnected"
    assert unbuildable_reason(cams["stream1"]) == "network camera has no source URL"
    assert unbuildable_reason(cams["camera2"]) == "local camera has no ffmpeg input arguments"
    assert "not a usable MediaMTX path name" in (unbuildable_reason(cams["all_others"]) or "")
    # a network camera in ERROR still gets its path: MediaMTX pulling it is how it recovers
    assert "stream9" in desired_paths([network("stream9", status=CameraStatus.ERROR)], SETTINGS)


def test_desired_paths_is_deterministic() -> None:
    cams = [local("camera0"), network("stream0")]
    assert desired_paths(cams, SETTINGS) == desired_paths(list(reversed(cams)), SETTINGS)


# --------------------------------------------------------------------- plan


def effective(conf: dict[str, object], name: str) -> dict[str, object]:
    """What MediaMTX would list for ``conf``: every field, normalised durations."""
    out: dict[str, object] = {
        "name": name,
        "maxReaders": 0,
        "overridePublisher": True,
        "recordPartDuration": "1s",
        "recordMaxPartSize": "50M",
    }
    for key, value in conf.items():
        if key in ("recordSegmentDuration",) and value == "1800s":
            value = "30m0s"
        if key == "recordDeleteAfter" and value == "0s":
            value = ""
        if key.endswith(("StartTimeout", "CloseAfter")) and value == "10s":
            value = "10s"
        out[key] = value
    return out


def test_plan_adds_missing_and_ignores_matching_normalised_entries() -> None:
    desired = desired_paths([local("camera0"), network("stream0")], SETTINGS)
    actual = {"stream0": effective(desired["stream0"], "stream0")}
    p = plan(desired, actual, owned={"stream0"})
    assert set(p.add) == {"camera0"}
    assert p.add["camera0"] == desired["camera0"]
    assert not p.patch and not p.replace and not p.delete
    assert not plan(desired, {n: effective(c, n) for n, c in desired.items()}, owned=set(desired)).changed_names()


def test_plan_patches_only_changed_keys_of_owned_entries() -> None:
    before = desired_paths([local("camera0")], SETTINGS)
    after = desired_paths([local("camera0", recording=recording("fmp4"))], SETTINGS)
    p = plan(after, {"camera0": effective(before["camera0"], "camera0")}, owned={"camera0"})
    assert set(p.patch) == {"camera0"}
    assert p.patch["camera0"] == {
        "runOnInit": after["camera0"]["runOnInit"],
        "runOnInitRestart": True,
        "runOnDemand": "",
        "runOnDemandRestart": False,
        "record": True,
    }


def test_plan_replaces_a_foreign_entry_holding_a_camera_name() -> None:
    desired = desired_paths([local("camera0")], SETTINGS)
    foreign = {"camera0": {"name": "camera0", "source": "rtsp://elsewhere/x", "sourceOnDemand": True}}
    p = plan(desired, foreign, owned=set())
    assert p.replace == {"camera0": desired["camera0"]}
    assert not p.patch and not p.add


def test_plan_adopts_a_foreign_entry_that_already_matches() -> None:
    desired = desired_paths([local("camera0")], SETTINGS)
    p = plan(desired, {"camera0": effective(desired["camera0"], "camera0")}, owned=set())
    assert p.empty and p.adopt == ("camera0",)


def test_plan_deletes_only_owned_entries_and_never_catch_alls() -> None:
    actual = {
        "all_others": {"name": "all_others", "source": "publisher"},
        "~^cam.*$": {"name": "~^cam.*$"},
        "theirs": {"name": "theirs", "source": "publisher"},
        "old_camera": {"name": "old_camera", "source": "publisher"},
    }
    p = plan({}, actual, owned={"old_camera", "all_others", "~^cam.*$", "vanished"})
    assert p.delete == ("old_camera",)
    assert p.forget == ("vanished",)
    assert not p.add and not p.patch and not p.replace


def test_plan_never_targets_reserved_names_even_if_asked() -> None:
    p = plan({"all_others": {"source": "publisher"}}, {}, owned=set())
    assert p.empty


names = st.sampled_from(["camera0", "camera1", "stream0", "stream1", "theirs", "all_others"])


@given(
    desired_ids=st.sets(names),
    actual_ids=st.sets(names),
    owned_ids=st.sets(names),
)
def test_plan_ownership_invariants(desired_ids: set[str], actual_ids: set[str], owned_ids: set[str]) -> None:
    """Whatever the inputs: foreign non-desired entries and catch-alls are never touched."""
    desired = {n: {"source": "publisher", "record": False} for n in desired_ids if n != "all_others"}
    actual = {n: {"name": n, "source": "rtsp://x/y", "record": False} for n in actual_ids}
    p = plan(desired, actual, owned_ids)
    for name in p.changed_names():
        assert name != "all_others"
        assert name in desired or name in owned_ids
    assert set(p.delete) <= owned_ids & set(actual)
    assert set(p.add) == set(desired) - set(actual)
    assert not set(p.add) & set(actual)


def test_incremental_plan_from_what_we_applied() -> None:
    before = desired_paths([local("camera0"), local("camera1")], SETTINGS)
    after = desired_paths([local("camera0", keep_streaming=True), network("stream0")], SETTINGS)
    p = incremental_plan(after, applied=before, present={"camera0", "camera1", "foreign"}, owned={"camera0", "camera1"})
    assert set(p.add) == {"stream0"}
    assert set(p.patch) == {"camera0"}
    assert set(p.patch["camera0"]) == {"runOnInit", "runOnInitRestart", "runOnDemand", "runOnDemandRestart"}
    assert p.delete == ("camera1",)
    assert not p.replace


def test_incremental_plan_replaces_present_but_unapplied_names() -> None:
    desired = desired_paths([local("camera0")], SETTINGS)
    p = incremental_plan(desired, applied={}, present={"camera0"}, owned=set())
    assert p.replace == {"camera0": desired["camera0"]}
    p2 = incremental_plan(desired, applied=desired, present={"camera0"}, owned={"camera0"})
    assert p2.empty


def test_desired_paths_memo_reuses_confs_of_unchanged_cameras() -> None:
    build = DesiredPaths(SETTINGS)
    cam0, cam1 = local("camera0"), network("stream0")
    first = build({"camera0": cam0, "stream0": cam1})
    assert first == desired_paths([cam0, cam1], SETTINGS)
    changed = attrs.evolve(cam1, keep_streaming=True)
    second = build({"camera0": cam0, "stream0": changed})
    assert second["camera0"] is first["camera0"]
    assert second["stream0"] is not first["stream0"] and second["stream0"]["sourceOnDemand"] is False
    # an equal (not identical) value also hits
    assert build({"camera0": attrs.evolve(cam0)})["camera0"] is first["camera0"]
    # removed cameras are forgotten; unbuildable ones yield nothing
    assert build({"camera1": local("camera1", status=CameraStatus.DISCONNECTED)}) == {}


def test_incremental_plan_skips_identical_conf_objects_cheaply() -> None:
    desired = desired_paths([local("camera0")], SETTINGS)
    assert incremental_plan(desired, applied=dict(desired), present={"camera0"}, owned={"camera0"}).empty
