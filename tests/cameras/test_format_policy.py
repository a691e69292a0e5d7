"""The default format/size/rate policy and the ffmpeg input it derives."""

from __future__ import annotations

import pytest

from camsvc.cameras.format_policy import (
    FormatChoice,
    FormatPolicy,
    FormatPolicyError,
    choose_format,
    parse_resolution,
)
from camsvc.cameras.v4l2 import Capabilities, DeviceCaps, FormatInfo, FrameSize


def camera(*formats: FormatInfo, capture: bool = True) -> Capabilities:
    caps = DeviceCaps("uvcvideo", "USB Camera", "usb-1", 0x060C00, 0x84A00001, 0x04200001, capture)
    return Capabilities(caps, formats)


def fmt(fourcc: str, *sizes: tuple[int, int, tuple[float, ...]], compressed: bool = False) -> FormatInfo:
    return FormatInfo(fourcc, fourcc, compressed, tuple(FrameSize(w, h, fps) for w, h, fps in sizes))


def usb2_webcam() -> Capabilities:
    # What a typical USB 2.0 webcam lists: raw only at low rates for big sizes, MJPEG at full rate.
    return camera(
        fmt("YUYV", (1280, 720, (10.0, 5.0)), (640, 480, (30.0, 15.0))),
        fmt("MJPG", (1920, 1080, (30.0,)), (1280, 720, (30.0, 15.0)), (640, 480, (30.0,)), compressed=True),
    )


def test_default_policy_on_a_usb2_webcam_picks_mjpeg_720p30() -> None:
    choice = choose_format(usb2_webcam())
    assert choice == FormatChoice("MJPG", "mjpeg", 1280, 720, 30.0, passthrough=False)
    assert choice.input_args("/dev/video0") == [
        "-f", "v4l2", "-input_format", "mjpeg", "-video_size", "1280x720", "-framerate", "30", "-i", "/dev/video0",
    ]  # fmt: skip
    assert choice.codec_args() == []


def test_mjpeg_passthrough_only_when_allowed() -> None:
    choice = choose_format(usb2_webcam(), FormatPolicy(allow_mjpeg_passthrough=True))
    assert choice.passthrough is True
    assert choice.codec_args() == ["-c:v", "copy"]


def test_h264_source_is_preferred_and_passed_through() -> None:
    caps = camera(
        fmt("MJPG", (1280, 720, (30.0,)), compressed=True),
        fmt("H264", (1280, 720, (30.0,)), compressed=True),
        fmt("YUYV", (1280, 720, (30.0,))),
    )
    h264 = choose_format(caps)
    assert (h264.fourcc, h264.input_format, h264.passthrough) == ("H264", "h264", True)
    assert h264.codec_args() == ["-c:v", "copy"]
    assert choose_format(caps, FormatPolicy(prefer="mjpeg")).fourcc == "MJPG"
    raw = choose_format(caps, FormatPolicy(prefer="raw"))
    assert (raw.fourcc, raw.input_format, raw.passthrough) == ("YUYV", "yuyv422", False)


def test_frame_rate_outranks_format_preference() -> None:
    # prefer=raw cannot make 10 fps raw beat 30 fps MJPEG at the same size.
    choice = choose_format(usb2_webcam(), FormatPolicy(prefer="raw"))
    assert (choice.fourcc, choice.resolution, choice.fps) == ("MJPG", "1280x720", 30.0)


def test_size_outranks_frame_rate_above_min_fps() -> None:
    caps = camera(fmt("YUYV", (1280, 720, (15.0,)), (640, 480, (30.0,))))
    assert choose_format(caps).resolution == "1280x720"


def test_slide_show_sizes_rank_below_moving_ones() -> None:
    caps = camera(fmt("YUYV", (1280, 720, (5.0,)), (640, 480, (30.0,))))
    assert choose_format(caps).resolution == "640x480"
    assert choose_format(caps, FormatPolicy(min_fps=0)).resolution == "1280x720"


def test_largest_size_within_the_preferred_size() -> None:
    caps = usb2_webcam()
    assert choose_format(caps, FormatPolicy(width=1920, height=1080)).resolution == "1920x1080"
    assert choose_format(caps, FormatPolicy(width=800, height=600)).resolution == "640x480"
    # Both sides must fit: 1280x720 does not fit a 1000-wide preference even though its height does.
    assert choose_format(caps, FormatPolicy(width=1000, height=1080)).resolution == "640x480"


def test_highest_rate_not_above_the_preferred_rate() -> None:
    caps = camera(fmt("MJPG", (1280, 720, (60.0, 30.0, 15.0)), compressed=True))
    assert choose_format(caps).fps == 30.0
    assert choose_format(caps, FormatPolicy(fps=25)).fps == 15.0
    assert choose_format(caps, FormatPolicy(fps=60)).fps == 60.0


def test_only_faster_rates_take_the_slowest() -> None:
    caps = camera(fmt("MJPG", (1280, 720, (120.0, 60.0)), compressed=True))
    assert choose_format(caps).fps == 60.0


def test_nothing_fits_falls_back_to_the_smallest_size() -> None:
    caps = camera(fmt("MJPG", (3840, 2160, (30.0,)), (1920, 1080, (30.0,)), compressed=True))
    choice = choose_format(caps)
    assert (choice.resolution, choice.fps) == ("1920x1080", 30.0)


def test_unknown_rates_omit_framerate() -> None:
    choice = choose_format(camera(fmt("YUYV", (640, 480, ()))))
    assert choice.fps is None
    assert "-framerate" not in choice.input_args("/dev/video2")
    assert choice.input_args("/dev/video2")[-2:] == ["-i", "/dev/video2"]


@pytest.mark.parametrize(("fps", "text"), [(29.97, "29.97"), (7.5, "7.5"), (25.0, "25")])
def test_fractional_rates_are_written_compactly(fps: float, text: str) -> None:
    choice = choose_format(camera(fmt("YUYV", (640, 480, (fps,)))))
    args = choice.input_args("/dev/video0")
    assert args[args.index("-framerate") + 1] == text


def test_jpeg_fourcc_is_read_as_mjpeg_and_unknown_formats_are_skipped() -> None:
    caps = camera(fmt("Y10B", (1280, 720, (30.0,))), fmt("JPEG", (640, 480, (30.0,)), compressed=True))
    choice = choose_format(caps)
    assert (choice.fourcc, choice.input_format, choice.resolution) == ("JPEG", "mjpeg", "640x480")


def test_unusable_cameras_are_specific_errors() -> None:
    with pytest.raises(FormatPolicyError, match="not a video capture node"):
        choose_format(camera(capture=False))
    with pytest.raises(FormatPolicyError, match=r"offered: Y10B, UVCH"):
        choose_format(camera(fmt("Y10B", (640, 480, (30.0,))), fmt("UVCH")))
    with pytest.raises(FormatPolicyError, match="offered: none"):
        choose_format(camera())
    with pytest.raises(FormatPolicyError, match="no frame size"):
        choose_format(camera(fmt("MJPG", compressed=True)))


def test_empty_device_path_is_rejected() -> None:
    with pytest.raises(ValueError, match="device path"):
        choose_format(usb2_webcam()).input_args("")


@pytest.mark.parametrize(("text", "wh"), [("1280x720", (1280, 720)), (" 640X480 ", (640, 480))])
def test_parse_resolution(text: str, wh: tuple[int, int]) -> None:
    assert parse_resolution(text) == wh


@pytest.mark.parametrize("text", ["", "1280", "1280x", "x720", "0x720", "12a0x720", "-1x5", "1280x720x3"])
def test_parse_resolution_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="resolution must look like 1280x720"):
        parse_resolution(text)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"width": 0}, "width"), ({"height": -1}, "height"), ({"fps": 0}, "fps"), ({"prefer": "vp8"}, "prefer"),
     ({"min_fps": -1}, "min_fps")],
)  # fmt: skip
def test_policy_rejects_bad_values(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        FormatPolicy(**kwargs)  # type: ignore[arg-type]
