"""Camera values of the three source kinds, and that the ffmpeg arguments they carry really work."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio

from camsvc.cameras.model import CameraStatus, SourceKind, ValidationStatus
from camsvc.cameras.sources import (
    encoder_args,
    network_camera,
    synthetic_camera,
    v4l2_camera,
)
from camsvc.config import NetworkCamera, SyntheticCamera
from tests.cameras.fakes import make_config, probed


def test_v4l2_camera_reencodes_mjpeg_to_h264_by_default(tmp_path: Path) -> None:
    cfg = make_config(tmp_path).cameras
    camera = v4l2_camera("/dev/video4", probed(), cfg)
    assert camera.id == "camera4" and camera.status is CameraStatus.CONNECTED
    assert camera.source.ffmpeg_input == (
        "-f", "v4l2", "-input_format", "mjpeg", "-video_size", "1280x720", "-framerate", "30", "-i", "/dev/video4",
    )  # fmt: skip
    assert camera.source.ffmpeg_encode == (
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", "30",
    )  # fmt: skip
    caps = camera.capabilities
    assert caps.formats == ("MJPG", "YUYV")
    assert caps.resolutions == ("1920x1080", "1280x720", "640x480")
    assert caps.fps_options == (30, 15, 10, 5)
    assert caps.validation_status is ValidationStatus.CONFIRMED


def test_v4l2_passthrough_for_h264_and_for_mjpeg_only_when_allowed(tmp_path: Path) -> None:
    h264 = probed({"H264": {(1280, 720): (30.0,)}, "YUYV": {(640, 480): (30.0,)}})
    camera = v4l2_camera("/dev/video0", h264, make_config(tmp_path).cameras)
    assert camera.source.ffmpeg_encode == ("-c:v", "copy")
    assert "h264" in camera.source.ffmpeg_input
    mjpeg = probed({"MJPG": {(1280, 720): (30.0,)}})
    allowed = make_config(tmp_path, allow_mjpeg_passthrough=True).cameras
    assert v4l2_camera("/dev/video0", mjpeg, allowed).source.ffmpeg_encode == ("-c:v", "copy")
    refused = make_config(tmp_path).cameras
    assert v4l2_camera("/dev/video0", mjpeg, refused).source.ffmpeg_encode[:2] == ("-c:v", "libx264")


def test_encoder_settings_come_from_config(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path,
        encoder="h264_v4l2m2m",
        encoder_preset="",
        keyframe_interval=2.0,
        encoder_extra_args=["-b:v", "2M"],
    ).cameras
    assert encoder_args(cfg, 25) == ("-c:v", "h264_v4l2m2m", "-pix_fmt", "yuv420p", "-g", "50", "-b:v", "2M")
    # fps unknown: the keyframe interval is computed on the preferred rate
    assert encoder_args(cfg, None)[-3] == "60"


def test_unknown_frame_rates_are_zero_not_a_guess(tmp_path: Path) -> None:
    no_rates = probed({"YUYV": {(640, 480): ()}})
    camera = v4l2_camera("/dev/video1", no_rates, make_config(tmp_path).cameras)
    assert camera.fps == 0 and "-framerate" not in camera.source.ffmpeg_input
    assert camera.capabilities.fps_options == ()


def test_v4l2_camera_needs_a_videon_path(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="/dev/videoN"):
        v4l2_camera("/dev/v4l-subdev0", probed(), make_config(tmp_path).cameras)


def test_synthetic_camera_has_exact_capabilities(tmp_path: Path) -> None:
    spec = SyntheticCamera(id="pattern", name="Pattern", width=320, height=240, fps=10)
    camera = synthetic_camera(spec, make_config(tmp_path).cameras)
    assert camera.source.kind is SourceKind.SYNTHETIC and camera.source.is_local
    assert camera.source.ffmpeg_input == ("-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10")
    assert (str(camera.resolution), camera.fps) == ("320x240", 10)
    caps = camera.capabilities
    assert (caps.formats, caps.resolutions, caps.fps_options) == (("H264",), ("320x240",), (10,))
    assert caps.validation_status is ValidationStatus.CONFIRMED
    assert camera.source.ffmpeg_encode[-1] == "10"  # one keyframe per second at 10 fps


def test_network_camera_knows_only_its_url() -> None:
    camera = network_camera(NetworkCamera(id="door", url="rtsp://192.0.2.3/live", name="Door"))
    assert camera.source.kind is SourceKind.NETWORK and not camera.source.is_local
    assert camera.source.url == "rtsp://192.0.2.3/live" and camera.source.ffmpeg_input == ()
    assert camera.capabilities.validation_status is ValidationStatus.NONE
    assert (str(camera.resolution), camera.fps) == ("0x0", 0)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
async def test_synthetic_arguments_encode_real_frames(tmp_path: Path) -> None:
    spec = SyntheticCamera(id="pattern", width=160, height=120, fps=10)
    camera = synthetic_camera(spec, make_config(tmp_path).cameras)
    out = tmp_path / "out.mp4"
    args = ["ffmpeg", "-v", "error", *camera.source.ffmpeg_input, *camera.source.ffmpeg_encode]
    with trio.fail_after(9):
        done = await trio.run_process(
            [*args, "-frames:v", "5", "-f", "mp4", str(out)], capture_stderr=True, check=False
        )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    with trio.fail_after(9):
        probe = await trio.run_process(
            [
                "ffprobe",
                "-v",
                "error",
                "-show_entries",
                "stream=codec_name,width,height,pix_fmt",
                "-of",
                "csv=p=0",
                str(out),
            ],
            capture_stdout=True,
            check=False,
        )
    assert probe.stdout.decode().strip() == "h264,160,120,yuv420p"
