"""V4L2 probing: ioctl numbers, struct layouts and end-to-end enumeration against a fake device.

Every byte layout here is built with ``struct.pack`` straight from the kernel's struct definitions
(include/uapi/linux/videodev2.h), independently of the module's own ``struct.Struct`` formats, so a wrong
offset or size in the module shows up as a failing test rather than as a self-consistent mistake.
"""

from __future__ import annotations

import contextlib
import errno
import struct
import threading
from collections.abc import Iterator

import pytest
import trio

from camsvc.cameras import v4l2
from camsvc.cameras.v4l2 import (
    Capabilities,
    DeviceCaps,
    DiscreteSize,
    FormatInfo,
    FrameSize,
    IntervalRange,
    ProbeError,
    ProbeTimeout,
    SizeRange,
)

# ---- kernel facts, written out by hand ------------------------------------------------------------------

CAP_VIDEO_CAPTURE = 0x00000001
CAP_VIDEO_M2M = 0x00008000
CAP_META_CAPTURE = 0x00800000
CAP_STREAMING = 0x04000000
CAP_DEVICE_CAPS = 0x80000000


def fourcc(code: str) -> int:
    a, b, c, d = (ord(ch) for ch in code)
    return a | (b << 8) | (c << 16) | (d << 24)


MJPG, YUYV, H264 = fourcc("MJPG"), fourcc("YUYV"), fourcc("H264")


def capability_bytes(
    driver: bytes, card: bytes, bus: bytes, version: int, caps: int, device_caps: int
) -> bytes:
    # __u8 driver[16]; __u8 card[32]; __u8 bus_info[32]; __u32 version, capabilities, device_caps, reserved[3]
    return struct.pack("=16s32s32s6I", driver, card, bus, version, caps, device_caps, 0, 0, 0)


def fmtdesc_bytes(index: int, flags: int, description: bytes, pixelformat: int) -> bytes:
    # __u32 index, type; __u32 flags; __u8 description[32]; __u32 pixelformat, mbus_code, reserved[3]
    return struct.pack("=3I32s5I", index, 1, flags, description, pixelformat, 0, 0, 0, 0)


def frmsize_discrete_bytes(index: int, pixfmt: int, w: int, h: int) -> bytes:
    # __u32 index, pixel_format, type; union { {width, height} | stepwise (6 x __u32) }; __u32 reserved[2]
    return struct.pack("=3I6I2I", index, pixfmt, 1, w, h, 0, 0, 0, 0, 0, 0)


def frmsize_range_bytes(pixfmt: int, kind: int, min_w: int, max_w: int, step_w: int, min_h: int, max_h: int,
                        step_h: int) -> bytes:  # fmt: skip
    return struct.pack("=3I6I2I", 0, pixfmt, kind, min_w, max_w, step_w, min_h, max_h, step_h, 0, 0)


def frmival_discrete_bytes(index: int, pixfmt: int, w: int, h: int, num: int, den: int) -> bytes:
    # __u32 index, pixel_format, width, height, type; union { fract | {min, max, step} fracts }; reserved[2]
    return struct.pack("=5I6I2I", index, pixfmt, w, h, 1, num, den, 0, 0, 0, 0, 0, 0)


def frmival_range_bytes(pixfmt: int, w: int, h: int, kind: int, mn: tuple[int, int], mx: tuple[int, int],
                        step: tuple[int, int]) -> bytes:  # fmt: skip
    return struct.pack("=5I6I2I", 0, pixfmt, w, h, kind, *mn, *mx, *step, 0, 0)


# ---- ioctl numbers --------------------------------------------------------------------------------------


def test_request_numbers_match_the_generic_kernel_encoding() -> None:
    # _IOR = dir 2 << 30, _IOWR = dir 3 << 30; size << 16; 'V' << 8; nr
    assert (2 << 30) | (104 << 16) | (ord("V") << 8) | 0 == 0x80685600
    generic = v4l2.V4L2Requests.for_abi(v4l2.GENERIC_IOC)
    assert generic.querycap == 0x80685600
    assert generic.enum_fmt == 0xC0405602
    assert generic.enum_framesizes == 0xC02C564A
    assert generic.enum_frameintervals == 0xC034564B


@pytest.mark.parametrize("machine", ["x86_64", "aarch64", "armv7l", "riscv64", "i686"])
def test_common_edge_architectures_use_the_generic_encoding(machine: str) -> None:
    assert v4l2.ioc_abi_for_machine(machine) == v4l2.GENERIC_IOC


@pytest.mark.parametrize("machine", ["ppc64le", "mips", "sparc64", "alpha", "parisc64"])
def test_other_architectures_differ_only_in_ior(machine: str) -> None:
    reqs = v4l2.V4L2Requests.for_abi(v4l2.ioc_abi_for_machine(machine))
    assert reqs.querycap == 0x40685600  # read is 2 << 29 (3 dir bits) or 1 << 30 (parisc)
    assert (reqs.enum_fmt, reqs.enum_framesizes, reqs.enum_frameintervals) == (
        0xC0405602,
        0xC02C564A,
        0xC034564B,
    )


def test_this_machine_uses_the_module_constants() -> None:
    assert v4l2.VIDIOC_QUERYCAP == v4l2.REQUESTS.querycap
    assert v4l2.VIDIOC_ENUM_FRAMEINTERVALS == v4l2.REQUESTS.enum_frameintervals


def test_struct_sizes_match_the_kernel() -> None:
    assert len(capability_bytes(b"", b"", b"", 0, 0, 0)) == v4l2.CAPABILITY_SIZE == 104
    assert len(fmtdesc_bytes(0, 0, b"", 0)) == v4l2.FMTDESC_SIZE == 64
    assert len(frmsize_discrete_bytes(0, 0, 0, 0)) == v4l2.FRMSIZEENUM_SIZE == 44
    assert len(frmival_discrete_bytes(0, 0, 0, 0, 0, 0)) == v4l2.FRMIVALENUM_SIZE == 52


# ---- parsing and packing --------------------------------------------------------------------------------


def test_capture_node_uses_device_caps() -> None:
    raw = capability_bytes(
        b"uvcvideo",
        b"HD Pro Webcam C920",
        b"usb-0000:00:14.0-1",
        0x060C05,
        CAP_VIDEO_CAPTURE | CAP_META_CAPTURE | CAP_STREAMING | CAP_DEVICE_CAPS,
        CAP_VIDEO_CAPTURE | CAP_STREAMING,
    )
    caps = v4l2.parse_capability(raw)
    assert caps == DeviceCaps(
        driver="uvcvideo",
        card="HD Pro Webcam C920",
        bus_info="usb-0000:00:14.0-1",
        version=0x060C05,
        capabilities=CAP_VIDEO_CAPTURE | CAP_META_CAPTURE | CAP_STREAMING | CAP_DEVICE_CAPS,
        device_caps=CAP_VIDEO_CAPTURE | CAP_STREAMING,
        is_capture=True,
    )
    assert caps.version_text == "6.12.5"


def test_uvc_metadata_node_is_not_a_capture_node() -> None:
    # The second node of a UVC webcam: the device can capture, this node only carries metadata.
    raw = capability_bytes(
        b"uvcvideo",
        b"HD Pro Webcam C920",
        b"usb-0000:00:14.0-1",
        0x060C05,
        CAP_VIDEO_CAPTURE | CAP_META_CAPTURE | CAP_STREAMING | CAP_DEVICE_CAPS,
        CAP_META_CAPTURE | CAP_STREAMING,
    )
    assert v4l2.parse_capability(raw).is_capture is False


def test_old_driver_without_device_caps_uses_capabilities() -> None:
    raw = capability_bytes(b"gspca", b"cam", b"usb-1", 0x030200, CAP_VIDEO_CAPTURE, 0xDEAD)
    caps = v4l2.parse_capability(raw)
    assert caps.is_capture is True
    assert caps.device_caps == CAP_VIDEO_CAPTURE


def test_m2m_codec_node_is_not_a_camera() -> None:
    raw = capability_bytes(b"bcm2835-codec", b"enc", b"platform:x", 1, CAP_DEVICE_CAPS | CAP_VIDEO_M2M,
                           CAP_VIDEO_CAPTURE | CAP_VIDEO_M2M)  # fmt: skip
    assert v4l2.parse_capability(raw).is_capture is False


def test_strings_stop_at_the_first_nul() -> None:
    raw = capability_bytes(b"vivid\0junk", b"Cam \xc3\xa9", b"platform:vivid-000", 0, CAP_VIDEO_CAPTURE, 0)
    caps = v4l2.parse_capability(raw)
    assert (caps.driver, caps.card, caps.bus_info) == ("vivid", "Cam é", "platform:vivid-000")


@pytest.mark.parametrize(
    ("code", "value"),
    [("MJPG", 0x47504A4D), ("YUYV", 0x56595559), ("H264", 0x34363248)],
)
def test_fourcc_round_trip(code: str, value: int) -> None:
    assert fourcc(code) == value
    assert v4l2.fourcc_to_str(value) == code
    assert v4l2.fourcc_from_str(code) == value


def test_fourcc_padding_big_endian_and_garbage() -> None:
    assert v4l2.fourcc_to_str(fourcc("Y16 ")) == "Y16"
    assert v4l2.fourcc_from_str("Y16") == fourcc("Y16 ")
    assert v4l2.fourcc_to_str(fourcc("Y16 ") | (1 << 31)) == "Y16-BE"
    assert v4l2.fourcc_to_str(0x00000001) == "0x00000001"
    with pytest.raises(ValueError, match="not a fourcc"):
        v4l2.fourcc_from_str("TOOLONG")


def test_fmtdesc_pack_and_parse() -> None:
    request = v4l2.pack_fmtdesc(3)
    assert len(request) == 64
    index, buf_type = struct.unpack_from("=2I", request, 0)
    assert (index, buf_type) == (3, 1)
    parsed = v4l2.parse_fmtdesc(fmtdesc_bytes(3, 0x0001, b"Motion-JPEG", MJPG))
    assert parsed == v4l2.FormatDesc(MJPG, "MJPG", "Motion-JPEG", True)
    yuyv = v4l2.parse_fmtdesc(fmtdesc_bytes(0, 0, b"YUYV 4:2:2", YUYV))
    assert yuyv == v4l2.FormatDesc(YUYV, "YUYV", "YUYV 4:2:2", False)


def test_frmsizeenum_pack_and_parse() -> None:
    request = v4l2.pack_frmsizeenum(2, MJPG)
    assert len(request) == 44
    assert struct.unpack_from("=2I", request, 0) == (2, MJPG)
    assert v4l2.parse_frmsizeenum(frmsize_discrete_bytes(0, MJPG, 1280, 720)) == DiscreteSize(1280, 720)
    stepwise = frmsize_range_bytes(MJPG, 3, 160, 1920, 8, 120, 1080, 4)
    assert v4l2.parse_frmsizeenum(stepwise) == SizeRange(160, 1920, 8, 120, 1080, 4)
    continuous = frmsize_range_bytes(MJPG, 2, 48, 4096, 0, 32, 2160, 0)
    assert v4l2.parse_frmsizeenum(continuous) == SizeRange(48, 4096, 1, 32, 2160, 1)
    assert v4l2.parse_frmsizeenum(frmsize_range_bytes(MJPG, 9, 1, 2, 1, 1, 2, 1)) is None


def test_frmivalenum_pack_and_parse() -> None:
    request = v4l2.pack_frmivalenum(1, YUYV, 640, 480)
    assert len(request) == 52
    assert struct.unpack_from("=4I", request, 0) == (1, YUYV, 640, 480)
    assert v4l2.parse_frmivalenum(frmival_discrete_bytes(0, YUYV, 640, 480, 1, 30)) == 30.0
    assert v4l2.parse_frmivalenum(frmival_discrete_bytes(0, YUYV, 640, 480, 1001, 30000)) == 29.97
    assert v4l2.parse_frmivalenum(frmival_discrete_bytes(0, YUYV, 640, 480, 0, 30)) is None
    rng = frmival_range_bytes(YUYV, 640, 480, 3, (1, 60), (1, 5), (1, 1))
    assert v4l2.parse_frmivalenum(rng) == IntervalRange(min_fps=5.0, max_fps=60.0)


def test_stepwise_sizes_expand_to_a_bounded_common_set() -> None:
    sizes = v4l2.expand_size_range(SizeRange(160, 1920, 8, 120, 1080, 8))
    assert {(1920, 1080), (1280, 720), (640, 480), (160, 120)} <= set(sizes)
    assert len(sizes) <= len(v4l2.COMMON_SIZES) + 2
    continuous = v4l2.expand_size_range(SizeRange(1, 4096, 1, 1, 4096, 1))
    assert len(continuous) <= len(v4l2.COMMON_SIZES) + 2
    assert continuous[-1] == (4096, 4096)


def test_stepwise_sizes_respect_the_grid() -> None:
    # widths 100, 200, ... 1900 and heights 100, 200, ... 1000: 1280x720 is off the grid.
    sizes = v4l2.expand_size_range(SizeRange(100, 1950, 100, 100, 1000, 100))
    assert (1280, 720) not in sizes
    assert (100, 100) in sizes
    assert sizes[-1] == (1900, 1000)  # the maximum snapped down onto the grid


def test_interval_range_expands_to_common_rates() -> None:
    assert v4l2.expand_interval_range(IntervalRange(min_fps=7.0, max_fps=30.0)) == (
        30.0, 25.0, 24.0, 20.0, 15.0, 10.0, 7.5, 7.0,
    )  # fmt: skip


# ---- a fake device answering from prepared layouts ------------------------------------------------------


class FakeV4L2Device:
    """Answers the four ioctls from prepared byte layouts; anything not prepared answers EINVAL."""

    def __init__(self, capability: bytes) -> None:
        self.capability = capability
        self.formats: list[bytes] = []
        self.sizes: dict[int, list[bytes]] = {}
        self.intervals: dict[tuple[int, int, int], list[bytes]] = {}
        self.fail: dict[int, int] = {}  # request -> errno to raise
        self.calls: list[int] = []
        self.opened = 0
        self.closed = 0

    @contextlib.contextmanager
    def open(self, path: str) -> Iterator[int]:
        self.opened += 1
        try:
            yield 99
        finally:
            self.closed += 1

    def ioctl(self, fd: int, request: int, buf: bytearray) -> None:
        assert fd == 99
        self.calls.append(request)
        if request in self.fail:
            raise OSError(self.fail[request], "injected")
        if request == 0x80685600:
            assert len(buf) == 104
            answer: bytes | None = self.capability
        elif request == 0xC0405602:
            assert len(buf) == 64
            index, buf_type = struct.unpack_from("=2I", buf, 0)
            assert buf_type == 1
            answer = self._pick(self.formats, index)
        elif request == 0xC02C564A:
            assert len(buf) == 44
            index, pixfmt = struct.unpack_from("=2I", buf, 0)
            answer = self._pick(self.sizes.get(pixfmt, []), index)
        elif request == 0xC034564B:
            assert len(buf) == 52
            index, pixfmt, w, h = struct.unpack_from("=4I", buf, 0)
            answer = self._pick(self.intervals.get((pixfmt, w, h), []), index)
        else:
            raise OSError(errno.ENOTTY, "unknown request")
        if answer is None:
            raise OSError(errno.EINVAL, "end of enumeration")
        buf[:] = answer

    @staticmethod
    def _pick(items: list[bytes], index: int) -> bytes | None:
        return items[index] if index < len(items) else None

    def probe(self, **kwargs: object) -> Capabilities:
        return v4l2.probe_device("/dev/video0", ioctl=self.ioctl, open_device=self.open, **kwargs)  # type: ignore[arg-type]


def capture_caps() -> bytes:
    return capability_bytes(b"uvcvideo", b"USB Camera", b"usb-0000:00:14.0-2", 0x060C00,
                            CAP_VIDEO_CAPTURE | CAP_META_CAPTURE | CAP_STREAMING | CAP_DEVICE_CAPS,
                            CAP_VIDEO_CAPTURE | CAP_STREAMING)  # fmt: skip


# The common sizes on the grid 640..1280 step 16 x 360..720 step 4, by area.
H264_SAMPLED_SIZES = ((640, 360), (640, 480), (800, 448), (848, 480), (800, 600), (960, 540), (1024, 576),
                      (1280, 720))  # fmt: skip


def uvc_webcam() -> FakeV4L2Device:
    dev = FakeV4L2Device(capture_caps())
    dev.formats = [
        fmtdesc_bytes(0, 0x0001, b"Motion-JPEG", MJPG),
        fmtdesc_bytes(1, 0, b"YUYV 4:2:2", YUYV),
        fmtdesc_bytes(2, 0x0001, b"H.264", H264),
    ]
    dev.sizes[MJPG] = [frmsize_discrete_bytes(0, MJPG, 1280, 720), frmsize_discrete_bytes(1, MJPG, 640, 480)]
    dev.sizes[YUYV] = [frmsize_discrete_bytes(0, YUYV, 1280, 720), frmsize_discrete_bytes(1, YUYV, 640, 480)]
    dev.sizes[H264] = [frmsize_range_bytes(H264, 3, 640, 1280, 16, 360, 720, 4)]
    dev.intervals[(MJPG, 1280, 720)] = [frmival_discrete_bytes(0, MJPG, 1280, 720, 1, 30),
                                        frmival_discrete_bytes(1, MJPG, 1280, 720, 1, 15)]  # fmt: skip
    dev.intervals[(MJPG, 640, 480)] = [frmival_discrete_bytes(0, MJPG, 640, 480, 1, 30)]
    dev.intervals[(YUYV, 1280, 720)] = [frmival_discrete_bytes(0, YUYV, 1280, 720, 1, 10)]
    dev.intervals[(YUYV, 640, 480)] = [frmival_discrete_bytes(0, YUYV, 640, 480, 1, 30),
                                       frmival_discrete_bytes(1, YUYV, 640, 480, 1001, 30000)]  # fmt: skip
    for w, h in H264_SAMPLED_SIZES:
        dev.intervals[(H264, w, h)] = [frmival_range_bytes(H264, w, h, 2, (1, 30), (1, 15), (1, 1))]
    return dev


def test_probe_enumerates_formats_sizes_and_rates() -> None:
    dev = uvc_webcam()
    result = dev.probe()
    assert result.caps.card == "USB Camera"
    assert result.is_capture
    mjpg, yuyv, h264 = result.formats
    assert mjpg == FormatInfo(
        "MJPG",
        "Motion-JPEG",
        True,
        (FrameSize(1280, 720, (30.0, 15.0)), FrameSize(640, 480, (30.0,))),
    )
    assert yuyv == FormatInfo(
        "YUYV",
        "YUYV 4:2:2",
        False,
        (FrameSize(1280, 720, (10.0,)), FrameSize(640, 480, (30.0, 29.97))),
    )
    # Stepwise 640x360..1280x720 step 16x4 sampled at common sizes; continuous 15..30 fps sampled too.
    assert h264.fourcc == "H264" and h264.compressed
    assert [(s.width, s.height) for s in h264.sizes] == list(H264_SAMPLED_SIZES)
    assert all(s.fps == (30.0, 25.0, 24.0, 20.0, 15.0) for s in h264.sizes)
    assert result.fourccs == ("MJPG", "YUYV", "H264")
    assert result.resolutions[0] == "1280x720" and "800x448" in result.resolutions
    assert result.fps_options[0] == 30.0 and 10.0 in result.fps_options
    assert dev.opened == dev.closed == 1


def test_metadata_node_is_probed_without_format_enumeration() -> None:
    dev = FakeV4L2Device(capability_bytes(b"uvcvideo", b"USB Camera", b"usb-1", 1,
                                          CAP_VIDEO_CAPTURE | CAP_META_CAPTURE | CAP_DEVICE_CAPS,
                                          CAP_META_CAPTURE))  # fmt: skip
    dev.formats = [fmtdesc_bytes(0, 0, b"UVC Payload Header Metadata", fourcc("UVCH"))]
    result = dev.probe()
    assert result.is_capture is False
    assert result.formats == ()
    assert dev.calls == [0x80685600]


def test_driver_without_size_or_interval_enumeration() -> None:
    dev = FakeV4L2Device(capture_caps())
    dev.formats = [fmtdesc_bytes(0, 0, b"YUYV", YUYV)]
    dev.fail[0xC02C564A] = errno.ENOTTY
    assert dev.probe().formats == (FormatInfo("YUYV", "YUYV", False, ()),)
    dev2 = FakeV4L2Device(capture_caps())
    dev2.formats = [fmtdesc_bytes(0, 0, b"YUYV", YUYV)]
    dev2.sizes[YUYV] = [frmsize_discrete_bytes(0, YUYV, 320, 240)]
    assert dev2.probe().formats[0].sizes == (FrameSize(320, 240, ()),)


def test_duplicate_and_nonsense_entries_are_skipped() -> None:
    dev = FakeV4L2Device(capture_caps())
    dev.formats = [fmtdesc_bytes(0, 0, b"YUYV", YUYV), fmtdesc_bytes(1, 0, b"YUYV again", YUYV)]
    dev.sizes[YUYV] = [frmsize_discrete_bytes(0, YUYV, 0, 0), frmsize_discrete_bytes(1, YUYV, 320, 240),
                       frmsize_discrete_bytes(2, YUYV, 320, 240)]  # fmt: skip
    result = dev.probe()
    assert len(result.formats) == 1
    assert [s.resolution for s in result.formats[0].sizes] == ["320x240"]


def test_enumeration_is_bounded_when_the_driver_never_says_einval() -> None:
    dev = FakeV4L2Device(capture_caps())
    dev.formats = [fmtdesc_bytes(0, 0, b"YUYV", YUYV)]
    endless = frmsize_discrete_bytes(0, YUYV, 320, 240)
    dev.sizes[YUYV] = [endless] * 10_000
    result = dev.probe(max_entries=50)
    assert len(result.formats[0].sizes) == 1
    assert dev.calls.count(0xC02C564A) == 50


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOENT, "no such device node"),
        (errno.EACCES, "permission denied"),
        (errno.EBUSY, "busy"),
        (errno.ENODEV, "gone"),
        (errno.EROFS, "Read-only file system"),
    ],
)
def test_open_errors_become_probe_errors(code: int, words: str) -> None:
    def refuse(path: str) -> contextlib.AbstractContextManager[int]:
        raise OSError(code, "refused")

    with pytest.raises(ProbeError, match=words) as info:
        v4l2.probe_device("/dev/video7", ioctl=uvc_webcam().ioctl, open_device=refuse)
    assert info.value.path == "/dev/video7"
    assert info.value.errno == code
    assert str(info.value).startswith("/dev/video7: open: ")


@pytest.mark.parametrize("code", [errno.ENOTTY, errno.EINVAL])
def test_querycap_refused_means_not_v4l2(code: int) -> None:
    dev = uvc_webcam()
    dev.fail[0x80685600] = code
    with pytest.raises(ProbeError, match="not a V4L2 device") as info:
        dev.probe()
    assert info.value.errno == code
    assert dev.closed == 1


def test_unplug_during_enumeration_is_a_probe_error_and_closes_the_node() -> None:
    dev = uvc_webcam()
    dev.fail[0xC034564B] = errno.ENODEV
    with pytest.raises(ProbeError, match="VIDIOC_ENUM_FRAMEINTERVALS: device is gone"):
        dev.probe()
    assert dev.opened == dev.closed == 1


def test_real_non_v4l2_nodes_give_specific_errors(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(ProbeError, match="not a V4L2 device") as info:
        v4l2.probe_device("/dev/null")
    assert info.value.errno == errno.ENOTTY
    plain = tmp_path / "video0"  # type: ignore[operator]
    plain.write_bytes(b"")
    with pytest.raises(ProbeError, match="not a V4L2 device"):
        v4l2.probe_device(str(plain))
    with pytest.raises(ProbeError, match="no such device node"):
        v4l2.probe_device(str(tmp_path / "missing"))  # type: ignore[operator]


# ---- async probe ----------------------------------------------------------------------------------------


async def test_async_probe_runs_in_a_thread() -> None:
    dev = uvc_webcam()
    seen_threads: set[int] = set()

    def ioctl(fd: int, request: int, buf: bytearray) -> None:
        seen_threads.add(threading.get_ident())
        dev.ioctl(fd, request, buf)

    result = await v4l2.probe("/dev/video0", timeout=5, ioctl=ioctl, open_device=dev.open)
    assert result == dev.probe()
    assert threading.get_ident() not in seen_threads


async def test_async_probe_times_out_on_a_wedged_driver() -> None:
    release = threading.Event()
    entered = threading.Event()

    def wedged(fd: int, request: int, buf: bytearray) -> None:
        entered.set()
        release.wait(10)  # bounded, so the abandoned thread always ends
        raise OSError(errno.EIO, "late")

    try:
        with pytest.raises(ProbeTimeout, match="no answer within 0.2 s") as info:
            await v4l2.probe("/dev/video3", timeout=0.2, ioctl=wedged, open_device=uvc_webcam().open)
        assert info.value.path == "/dev/video3"
        assert isinstance(info.value, ProbeError)
        assert entered.is_set()
    finally:
        release.set()


async def test_async_probe_propagates_probe_errors() -> None:
    with pytest.raises(ProbeError, match="no such device node"):
        await v4l2.probe("/nonexistent/video0", timeout=5)


@pytest.mark.parametrize("budget", [0, -1.0])
async def test_async_probe_rejects_a_nonpositive_timeout(budget: float) -> None:
    with pytest.raises(ValueError, match="timeout must be > 0"):
        await v4l2.probe("/dev/video0", timeout=budget)


async def test_async_probe_is_cancellable() -> None:
    release = threading.Event()

    def wedged(fd: int, request: int, buf: bytearray) -> None:
        release.wait(10)
        raise OSError(errno.EIO, "late")

    try:
        with trio.move_on_after(0.1) as scope:
            await v4l2.probe("/dev/video3", timeout=30, ioctl=wedged, open_device=uvc_webcam().open)
        assert scope.cancelled_caught
    finally:
        release.set()
