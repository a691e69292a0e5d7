"""take_snapshot: tiers, names, formats, atomic publication, storage gate, failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from camsvc.cameras.model import CameraStatus
from camsvc.errors import DependencyFailed, InsufficientStorage, InvalidParams, InvalidState, NotFound
from camsvc.media.ffmpeg import FfmpegRunner, ProcessResult
from camsvc.media.service import MediaService
from camsvc.media.snapshots import TIER_DIRECT, TIER_ON_DEMAND, TIER_RTSP, snapshot_name
from camsvc.storage.media_info import MediaInfo
from tests.media.fakes import HAVE_FFMPEG, Rig, make_rig, media_config, network_camera, synthetic_camera

needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed")


class ScriptedRunner(FfmpegRunner):
    """Records ffmpeg calls; 'captures' by writing bytes to the output, or fails for chosen inputs."""

    def __init__(self, fail_when: str | None = None) -> None:
        super().__init__()
        self.calls: list[list[str]] = []
        self.fail_when = fail_when

    async def ffmpeg(self, args: Any, *, timeout: float, what: str = "ffmpeg") -> ProcessResult:  # noqa: ASYNC109
        args = list(args)
        self.calls.append(args)
        if self.fail_when is not None and any(self.fail_when in a for a in args):
            raise DependencyFailed("ffmpeg", f"{what} failed (exit status 1): Device or resource busy")
        _write(args[-1], b"\xff\xd8fake jpeg\xff\xd9")
        return ProcessResult(tuple(args), 0, b"", "", 0.01)

    async def probe(self, path: Any, *, timeout: float) -> MediaInfo:  # noqa: ASYNC109
        return MediaInfo("image2", None, 320, 240)


def _write(path: str, data: bytes) -> None:
    Path(path).write_bytes(data)


def _read(path: str) -> bytes:
    return Path(path).read_bytes()


def _media(rig: Rig, runner: FfmpegRunner | None = None) -> MediaService:
    return rig.build_media(http_port=lambda: 8003, runner=runner)


def _snap_dir(rig: Rig) -> Path:
    return Path(rig.config.snapshots.dir)


@needs_ffmpeg
async def test_direct_snapshot_is_a_real_jpeg_of_the_camera_resolution(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera("camera0", 320, 240))
    media = _media(rig)
    snap = await media.snapshots.take("camera0")
    assert snap.tier == TIER_DIRECT
    assert snap.filename.startswith("camera0_") and snap.filename.endswith(".jpg")
    info = await FfmpegRunner().probe(snap.path, timeout=10)
    assert info.resolution == "320x240" and info.format_name == "image2"
    assert _read(snap.path)[:2] == b"\xff\xd8"
    assert snap.file_size == len(_read(snap.path))
    events = rig.topics("snapshot_taken")
    assert events and events[-1]["filename"] == snap.filename and events[-1]["device"] == "camera0"
    assert [p.name for p in _snap_dir(rig).iterdir()] == [snap.filename]  # no temp left behind


@needs_ffmpeg
async def test_png_and_quality(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera("camera0", 160, 120))
    media = _media(rig)
    png = await media.snapshots.take("camera0", format="png")
    assert png.filename.endswith(".png") and _read(png.path)[:8] == b"\x89PNG\r\n\x1a\n"
    low = await media.snapshots.take("camera0", filename="low", quality=1)
    high = await media.snapshots.take("camera0", filename="high", quality=100)
    assert low.filename == "low.jpg" and high.filename == "high.jpg"
    assert low.file_size < high.file_size


async def test_custom_names_get_extensions_and_never_overwrite(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    media = _media(rig, ScriptedRunner())
    first = await media.snapshots.take("camera0", filename="door")
    assert first.filename == "door.jpg"
    before = _read(first.path)
    _write(first.path, b"precious")
    with pytest.raises(InvalidState) as err:
        await media.snapshots.take("camera0", filename="door.jpg")
    assert err.value.reason == "file_exists"
    assert _read(first.path) == b"precious"
    assert before
    assert (await media.snapshots.take("camera0", filename="door", format="png")).filename == "door.png"
    with pytest.raises(InvalidParams) as err2:
        await media.snapshots.take("camera0", filename="x.png", format="jpg")
    assert err2.value.data["param"] == "format"
    # device of a custom name is remembered for filters
    page = await media.list_files(media.snapshot_files.kind, limit=10, offset=0, device="camera0", host=None)
    assert {f["filename"] for f in page["files"]} == {"door.jpg", "door.png"}


async def test_default_names_are_unique_within_one_second(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    media = _media(rig, ScriptedRunner())
    names = {(await media.snapshots.take("camera0")).filename for _ in range(3)}
    assert len(names) == 3
    assert all(n.startswith("camera0_") for n in names)


@pytest.mark.parametrize(
    "bad", ["../x", "..", "/etc/passwd", "a/b", "a\\b", "x\x00y", ".hidden", "%2e%2e%2fx", "x" * 129, ""]
)
async def test_bad_custom_names_are_invalid_params_and_write_nothing(tmp_path: Path, bad: str) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    runner = ScriptedRunner()
    media = _media(rig, runner)
    with pytest.raises(InvalidParams) as err:
        await media.snapshots.take("camera0", filename=bad)
    assert err.value.data["param"] == "filename"
    assert runner.calls == [] and list(_snap_dir(rig).iterdir()) == []
    assert not (tmp_path / "x").exists()


def test_snapshot_name_rules() -> None:
    assert snapshot_name(None, None, "jpg") == (None, "jpg")
    assert snapshot_name("a", "png", "jpg") == ("a.png", "png")
    assert snapshot_name("a.JPEG", None, "png") == ("a.JPEG", "jpg")
    assert snapshot_name("a.b", None, "jpg") == ("a.b.jpg", "jpg")
    with pytest.raises(InvalidParams):
        snapshot_name("a", "gif", "jpg")


async def test_tier_rtsp_when_the_stream_is_ready(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    rig.mediamtx.ready["camera0"] = True
    runner = ScriptedRunner()
    media = _media(rig, runner)
    snap = await media.snapshots.take("camera0")
    assert snap.tier == TIER_RTSP
    args = runner.calls[0]
    assert args[:2] == ["-rtsp_transport", "tcp"] and "-analyzeduration" in args
    assert args[args.index("-i") + 1] == f"rtsp://127.0.0.1:{rig.config.mediamtx.rtsp_port}/camera0"
    assert rig.directory.actors["camera0"].calls == 0  # the device was not opened a second time


async def test_a_stream_that_needs_probing_gets_a_second_read(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(network_camera("net0"))
    rig.mediamtx.ready["net0"] = True
    runner = ScriptedRunner(fail_when="-analyzeduration")  # "unspecified size" without analysis
    media = _media(rig, runner)
    snap = await media.snapshots.take("net0")
    assert snap.tier == TIER_RTSP and len(runner.calls) == 2
    assert "-analyzeduration" not in runner.calls[1]


async def test_idle_network_camera_goes_through_on_demand(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(network_camera("net0"))
    runner = ScriptedRunner()
    media = _media(rig, runner)
    snap = await media.snapshots.take("net0")
    args = runner.calls[0]
    assert snap.tier == TIER_ON_DEMAND and args[args.index("-i") + 1].startswith("rtsp://127.0.0.1")


async def test_direct_failure_falls_back_to_on_demand(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    runner = ScriptedRunner(fail_when="lavfi")  # the device is busy
    media = _media(rig, runner)
    snap = await media.snapshots.take("camera0")
    assert snap.tier == TIER_ON_DEMAND and len(runner.calls) == 2  # direct (failed), then RTSP


async def test_capture_failure_is_dependency_failed_and_leaves_no_file(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera())
    runner = ScriptedRunner(fail_when="-i")
    media = _media(rig, runner)
    with pytest.raises(DependencyFailed) as err:
        await media.snapshots.take("camera0")
    assert err.value.data["dependency"] == "ffmpeg"
    assert "direct:" in err.value.data["detail"] and "on_demand:" in err.value.data["detail"]
    assert list(_snap_dir(rig).iterdir()) == []
    assert rig.topics("snapshot_taken") == []


async def test_network_camera_with_mediamtx_down_fails_fast(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(network_camera("net0"))
    rig.mediamtx.circuit_open = True
    runner = ScriptedRunner()
    media = _media(rig, runner)
    with pytest.raises(DependencyFailed) as err:
        await media.snapshots.take("net0")
    assert err.value.data["dependency"] == "mediamtx" and runner.calls == []


async def test_block_threshold_refuses_before_any_file_is_created(tmp_path: Path) -> None:
    config = media_config(tmp_path, warn_percent=0.0, block_percent=0.001)
    rig = make_rig(tmp_path, config=config)
    rig.directory.add(synthetic_camera())
    runner = ScriptedRunner()
    media = _media(rig, runner)
    with pytest.raises(InsufficientStorage) as err:
        await media.snapshots.take("camera0", filename="blocked")
    assert err.value.data["block_percent"] == 0.001
    assert runner.calls == [] and list(_snap_dir(rig).iterdir()) == []


async def test_unknown_and_disconnected_cameras(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(attrs.evolve(synthetic_camera(), status=CameraStatus.DISCONNECTED))
    media = _media(rig, ScriptedRunner())
    with pytest.raises(NotFound):
        await media.snapshots.take("camera9")
    with pytest.raises(InvalidState) as err:
        await media.snapshots.take("camera0")
    assert err.value.reason == "camera_disconnected"


async def test_dev_video_alias_is_accepted(tmp_path: Path) -> None:
    rig = make_rig(tmp_path)
    rig.directory.add(synthetic_camera("camera0"))
    media = _media(rig, ScriptedRunner())
    assert (await media.snapshots.take("/dev/video0")).device == "camera0"
