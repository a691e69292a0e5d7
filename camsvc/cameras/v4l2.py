"""Capability probing of V4L2 device nodes through native ioctls, using only the standard library.

What a probe learns: the driver/card/bus identity of the node, whether it is a video *capture* node, and for
capture nodes every pixel format with its frame sizes and frame rates.

Kernel layouts (``include/uapi/linux/videodev2.h``). Every member is a ``__u32`` or a ``__u8`` array, so the
structs have no padding and the same size on every Linux ABI (32/64-bit, either endianness); the integers are
in host byte order, hence the ``=`` (native order, standard sizes, no alignment) struct formats below::

    struct v4l2_capability   104 B  driver[16] card[32] bus_info[32] version capabilities device_caps reserved[3]
    struct v4l2_fmtdesc       64 B  index type flags description[32] pixelformat mbus_code reserved[3]
    struct v4l2_frmsizeenum   44 B  index pixel_format type
                                    union{discrete{width,height} | stepwise{min_w,max_w,step_w,min_h,max_h,step_h}}
                                    reserved[2]
    struct v4l2_frmivalenum   52 B  index pixel_format width height type
                                    union{discrete{num,den} | stepwise{min{num,den},max{num,den},step{num,den}}}
                                    reserved[2]

Request numbers follow the kernel's ``_IOC(dir, type, nr, size)`` encoding. On the generic ABI (x86, arm,
arm64, riscv, ...) that is ``dir << 30 | size << 16 | type << 8 | nr`` with read=2, write=1::

    VIDIOC_QUERYCAP            = _IOR('V', 0, struct v4l2_capability)    = 0x80685600
    VIDIOC_ENUM_FMT            = _IOWR('V', 2, struct v4l2_fmtdesc)      = 0xc0405602
    VIDIOC_ENUM_FRAMESIZES     = _IOWR('V', 74, struct v4l2_frmsizeenum) = 0xc02c564a
    VIDIOC_ENUM_FRAMEINTERVALS = _IOWR('V', 75, struct v4l2_frmivalenum) = 0xc034564b

powerpc, mips, sparc and alpha use 3 direction bits (none=1, read=2, write=4) and 13 size bits; parisc swaps the
read and write bits. :func:`ioc_abi_for_machine` picks the right variant, so only ``_IOR`` numbers differ there.

Enumeration ends when the driver answers ``EINVAL`` for an index. Stepwise/continuous size and interval ranges
are expanded to a bounded set of common values inside the range, never to every step.

The ioctl and the open are injectable (``ioctl=``, ``open_device=``) so tests drive :func:`probe_device` end to
end with a fake device answering from hand-built byte layouts.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import platform
import struct
from collections.abc import Callable, Iterator

import attrs
import trio

IoctlFn = Callable[[int, int, bytearray], None]
"""``ioctl(fd, request, buf)``: performs the request, mutating ``buf`` in place; raises ``OSError`` on failure."""

OpenDeviceFn = Callable[[str], contextlib.AbstractContextManager[int]]
"""``open_device(path)``: a context manager yielding a file descriptor, closed on exit."""


# --------------------------------------------------------------------------------------------------------------
# ioctl request encoding


@attrs.frozen
class IocAbi:
    """The per-architecture parameters of the kernel's ``_IOC`` macro."""

    size_bits: int
    read: int
    write: int

    @property
    def dir_shift(self) -> int:
        return 16 + self.size_bits

    def request(self, direction: int, type_char: str, nr: int, size: int) -> int:
        if size >= 1 << self.size_bits:
            raise ValueError(f"ioctl argument size {size} does not fit in {self.size_bits} bits")
        return (direction << self.dir_shift) | (size << 16) | (ord(type_char) << 8) | nr

    def ior(self, type_char: str, nr: int, size: int) -> int:
        return self.request(self.read, type_char, nr, size)

    def iowr(self, type_char: str, nr: int, size: int) -> int:
        return self.request(self.read | self.write, type_char, nr, size)


GENERIC_IOC = IocAbi(size_bits=14, read=2, write=1)
THREE_BIT_DIR_IOC = IocAbi(size_bits=13, read=2, write=4)  # powerpc, mips, sparc, alpha
PARISC_IOC = IocAbi(size_bits=14, read=1, write=2)


def ioc_abi_for_machine(machine: str) -> IocAbi:
    """The ``_IOC`` variant for a ``platform.machine()`` / ``uname -m`` value."""
    m = machine.lower()
    if m.startswith(("ppc", "powerpc", "mips", "sparc", "alpha")):
        return THREE_BIT_DIR_IOC
    if m.startswith("parisc"):
        return PARISC_IOC
    return GENERIC_IOC


CAPABILITY_SIZE = 104
FMTDESC_SIZE = 64
FRMSIZEENUM_SIZE = 44
FRMIVALENUM_SIZE = 52

_CAPABILITY = struct.Struct("=16s32s32sIII12x")
_FMTDESC = struct.Struct("=III32sII12x")
_FRMSIZEENUM = struct.Struct("=III6I8x")
_FRMIVALENUM = struct.Struct("=IIIII6I8x")
assert (_CAPABILITY.size, _FMTDESC.size, _FRMSIZEENUM.size, _FRMIVALENUM.size) == (
    CAPABILITY_SIZE,
    FMTDESC_SIZE,
    FRMSIZEENUM_SIZE,
    FRMIVALENUM_SIZE,
)


@attrs.frozen
class V4L2Requests:
    querycap: int
    enum_fmt: int
    enum_framesizes: int
    enum_frameintervals: int

    @classmethod
    def for_abi(cls, abi: IocAbi) -> V4L2Requests:
        return cls(
            querycap=abi.ior("V", 0, CAPABILITY_SIZE),
            enum_fmt=abi.iowr("V", 2, FMTDESC_SIZE),
            enum_framesizes=abi.iowr("V", 74, FRMSIZEENUM_SIZE),
            enum_frameintervals=abi.iowr("V", 75, FRMIVALENUM_SIZE),
        )


REQUESTS = V4L2Requests.for_abi(ioc_abi_for_machine(platform.machine()))
VIDIOC_QUERYCAP = REQUESTS.querycap
VIDIOC_ENUM_FMT = REQUESTS.enum_fmt
VIDIOC_ENUM_FRAMESIZES = REQUESTS.enum_framesizes
VIDIOC_ENUM_FRAMEINTERVALS = REQUESTS.enum_frameintervals

# Capability bits, buffer type, format flags and enumeration kinds (videodev2.h).
V4L2_CAP_VIDEO_CAPTURE = 0x00000001
V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000
V4L2_CAP_VIDEO_M2M_MPLANE = 0x00004000
V4L2_CAP_VIDEO_M2M = 0x00008000
V4L2_CAP_META_CAPTURE = 0x00800000
V4L2_CAP_STREAMING = 0x04000000
V4L2_CAP_DEVICE_CAPS = 0x80000000
V4L2_BUF_TYPE_VIDEO_CAPTURE = 1
V4L2_FMT_FLAG_COMPRESSED = 0x0001
FRMSIZE_TYPE_DISCRETE, FRMSIZE_TYPE_CONTINUOUS, FRMSIZE_TYPE_STEPWISE = 1, 2, 3
FRMIVAL_TYPE_DISCRETE, FRMIVAL_TYPE_CONTINUOUS, FRMIVAL_TYPE_STEPWISE = 1, 2, 3
_FOURCC_BIG_ENDIAN = 1 << 31


# --------------------------------------------------------------------------------------------------------------
# values


@attrs.frozen
class DeviceCaps:
    """Identity and capabilities of one V4L2 node (VIDIOC_QUERYCAP).

    ``capabilities`` are those of the whole physical device; ``device_caps`` are this node's own (equal to
    ``capabilities`` for old drivers without ``V4L2_CAP_DEVICE_CAPS``). ``is_capture`` is decided on
    ``device_caps``: the UVC metadata node of a webcam reports META_CAPTURE only and is not a camera.
    """

    driver: str
    card: str
    bus_info: str
    version: int
    capabilities: int
    device_caps: int
    is_capture: bool

    @property
    def version_text(self) -> str:
        return f"{self.version >> 16}.{(self.version >> 8) & 0xFF}.{self.version & 0xFF}"


@attrs.frozen
class FrameSize:
    """One frame size and its frame rates (frames per second, highest first; empty if the driver won't say)."""

    width: int
    height: int
    fps: tuple[float, ...]

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


@attrs.frozen
class FormatInfo:
    """One pixel format a capture node offers, e.g. ``fourcc="MJPG"``, with its sizes in driver order."""

    fourcc: str
    description: str
    compressed: bool
    sizes: tuple[FrameSize, ...]


@attrs.frozen
class Capabilities:
    """The result of a probe: node identity plus formats (empty for nodes that are not capture nodes)."""

    caps: DeviceCaps
    formats: tuple[FormatInfo, ...]

    @property
    def is_capture(self) -> bool:
        return self.caps.is_capture

    @property
    def fourccs(self) -> tuple[str, ...]:
        return tuple(f.fourcc for f in self.formats)

    @property
    def resolutions(self) -> tuple[str, ...]:
        """Distinct ``"WxH"`` over all formats, largest area first."""
        sizes = {(s.width, s.height) for f in self.formats for s in f.sizes}
        ordered = sorted(sizes, key=lambda wh: (wh[0] * wh[1], wh[0]), reverse=True)
        return tuple(f"{w}x{h}" for w, h in ordered)

    @property
    def fps_options(self) -> tuple[float, ...]:
        """Distinct frame rates over all formats and sizes, highest first."""
        return tuple(sorted({r for f in self.formats for s in f.sizes for r in s.fps}, reverse=True))


@attrs.frozen
class DiscreteSize:
    width: int
    height: int


@attrs.frozen
class SizeRange:
    """A stepwise (or, with steps of 1, continuous) frame-size range."""

    min_width: int
    max_width: int
    step_width: int
    min_height: int
    max_height: int
    step_height: int


@attrs.frozen
class IntervalRange:
    """A stepwise/continuous frame-interval range, expressed as frame rates."""

    min_fps: float
    max_fps: float


class ProbeError(Exception):
    """A node could not be probed. ``reason`` says why in words; ``errno`` is set when the OS said so."""

    def __init__(self, path: str, reason: str, errno_value: int | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.errno = errno_value


class ProbeTimeout(ProbeError):
    """The probe did not finish in time (a wedged driver or USB device)."""


# --------------------------------------------------------------------------------------------------------------
# packing and parsing (pure, unit-tested against hand-built layouts)


def fourcc_to_str(value: int) -> str:
    """``0x47504a4d`` → ``"MJPG"``; a big-endian variant gets ``-BE``; unprintable codes become hex."""
    suffix = "-BE" if value & _FOURCC_BIG_ENDIAN else ""
    raw = (value & ~_FOURCC_BIG_ENDIAN & 0xFFFFFFFF).to_bytes(4, "little")
    if all(32 <= b < 127 for b in raw):
        return raw.decode("ascii").rstrip(" ") + suffix
    return f"0x{value:08x}"


def fourcc_from_str(code: str) -> int:
    """``"MJPG"`` → its little-endian u32; short codes are space padded (``"Y16"`` → ``"Y16 "``)."""
    text = code.removesuffix("-BE")
    if not 1 <= len(text) <= 4 or not text.isascii():
        raise ValueError(f"not a fourcc: {code!r}")
    value = int.from_bytes(text.ljust(4).encode("ascii"), "little")
    return value | _FOURCC_BIG_ENDIAN if code.endswith("-BE") else value


def _cstr(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("utf-8", errors="replace")


def parse_capability(buf: bytes | bytearray) -> DeviceCaps:
    driver, card, bus_info, version, capabilities, device_caps = _CAPABILITY.unpack(buf)
    node_caps = device_caps if capabilities & V4L2_CAP_DEVICE_CAPS else capabilities
    # Memory-to-memory codecs (e.g. a Raspberry Pi's encoder nodes) are not cameras even if they claim capture.
    is_capture = bool(node_caps & V4L2_CAP_VIDEO_CAPTURE) and not node_caps & (
        V4L2_CAP_VIDEO_M2M | V4L2_CAP_VIDEO_M2M_MPLANE
    )
    return DeviceCaps(
        driver=_cstr(driver),
        card=_cstr(card),
        bus_info=_cstr(bus_info),
        version=version,
        capabilities=capabilities,
        device_caps=node_caps,
        is_capture=is_capture,
    )


def pack_fmtdesc(index: int, buf_type: int = V4L2_BUF_TYPE_VIDEO_CAPTURE) -> bytearray:
    return bytearray(_FMTDESC.pack(index, buf_type, 0, b"", 0, 0))


@attrs.frozen
class FormatDesc:
    """One VIDIOC_ENUM_FMT entry; ``pixelformat`` is the raw code the size/interval requests need."""

    pixelformat: int
    fourcc: str
    description: str
    compressed: bool


def parse_fmtdesc(buf: bytes | bytearray) -> FormatDesc:
    _index, _type, flags, description, pixelformat, _mbus = _FMTDESC.unpack(buf)
    return FormatDesc(
        pixelformat=pixelformat,
        fourcc=fourcc_to_str(pixelformat),
        description=_cstr(description),
        compressed=bool(flags & V4L2_FMT_FLAG_COMPRESSED),
    )


def pack_frmsizeenum(index: int, pixel_format: int) -> bytearray:
    return bytearray(_FRMSIZEENUM.pack(index, pixel_format, 0, 0, 0, 0, 0, 0, 0))


def parse_frmsizeenum(buf: bytes | bytearray) -> DiscreteSize | SizeRange | None:
    """One frame-size entry; ``None`` for an unknown kind or nonsense values (the entry is skipped)."""
    _index, _pixfmt, kind, a, b, c, d, e, f = _FRMSIZEENUM.unpack(buf)
    if kind == FRMSIZE_TYPE_DISCRETE:
        return DiscreteSize(a, b) if a and b else None
    if kind in (FRMSIZE_TYPE_STEPWISE, FRMSIZE_TYPE_CONTINUOUS):
        if not (0 < a <= b and 0 < d <= e):
            return None
        if kind == FRMSIZE_TYPE_CONTINUOUS:
            c = f = 1
        return SizeRange(a, b, max(c, 1), d, e, max(f, 1))
    return None


def pack_frmivalenum(index: int, pixel_format: int, width: int, height: int) -> bytearray:
    return bytearray(_FRMIVALENUM.pack(index, pixel_format, width, height, 0, 0, 0, 0, 0, 0, 0))


def _fps(numerator: int, denominator: int) -> float | None:
    # An interval is seconds per frame, so fps is its inverse.
    if numerator == 0 or denominator == 0:
        return None
    return round(denominator / numerator, 3)


def parse_frmivalenum(buf: bytes | bytearray) -> float | IntervalRange | None:
    """One frame-interval entry as a frame rate (discrete) or an fps range; ``None`` if unusable."""
    _index, _pixfmt, _w, _h, kind, min_num, min_den, max_num, max_den, _sn, _sd = _FRMIVALENUM.unpack(buf)
    if kind == FRMIVAL_TYPE_DISCRETE:
        return _fps(min_num, min_den)
    if kind in (FRMIVAL_TYPE_STEPWISE, FRMIVAL_TYPE_CONTINUOUS):
        fastest = _fps(min_num, min_den)  # the shortest interval is the highest rate
        slowest = _fps(max_num, max_den)
        if fastest is None or slowest is None or slowest > fastest:
            return None
        return IntervalRange(min_fps=slowest, max_fps=fastest)
    return None


# Common sizes and rates used to sample stepwise/continuous ranges instead of enumerating every step.
COMMON_SIZES: tuple[tuple[int, int], ...] = (
    (160, 120), (176, 144), (320, 180), (320, 240), (352, 288), (424, 240), (640, 360), (640, 480),
    (800, 448), (800, 600), (848, 480), (960, 540), (1024, 576), (1024, 768), (1280, 720), (1280, 960),
    (1280, 1024), (1600, 1200), (1920, 1080), (2560, 1440), (3840, 2160),
)  # fmt: skip
COMMON_FPS: tuple[float, ...] = (5, 7.5, 10, 15, 20, 24, 25, 30, 50, 60, 90, 120)


def expand_size_range(r: SizeRange) -> tuple[tuple[int, int], ...]:
    """The common sizes that lie on the range's grid, plus its largest and smallest size, smallest first."""

    def on_grid(w: int, h: int) -> bool:
        return (
            r.min_width <= w <= r.max_width
            and r.min_height <= h <= r.max_height
            and (w - r.min_width) % r.step_width == 0
            and (h - r.min_height) % r.step_height == 0
        )

    # The maximum may sit off-grid when (max - min) is not a multiple of step; snap it down onto the grid.
    top_w = r.max_width - (r.max_width - r.min_width) % r.step_width
    top_h = r.max_height - (r.max_height - r.min_height) % r.step_height
    picked = {wh for wh in COMMON_SIZES if on_grid(*wh)} | {(r.min_width, r.min_height), (top_w, top_h)}
    return tuple(sorted(picked, key=lambda wh: (wh[0] * wh[1], wh[0])))


def expand_interval_range(r: IntervalRange) -> tuple[float, ...]:
    """The common frame rates inside the range plus both ends, highest first."""
    picked = {float(f) for f in COMMON_FPS if r.min_fps <= f <= r.max_fps} | {r.min_fps, r.max_fps}
    return tuple(sorted(picked, reverse=True))


# --------------------------------------------------------------------------------------------------------------
# probing


def native_ioctl(fd: int, request: int, buf: bytearray) -> None:
    """``fcntl.ioctl`` with an in-place mutable buffer, retried on EINTR."""
    while True:
        try:
            fcntl.ioctl(fd, request, buf, True)
            return
        except InterruptedError:
            continue


@contextlib.contextmanager
def open_device_node(path: str) -> Iterator[int]:
    # O_NONBLOCK: never block in open() on a node that is mid-removal; probing needs no blocking reads.
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        yield fd
    finally:
        os.close(fd)


_REASONS = {
    errno.ENOENT: "no such device node",
    errno.ENODEV: "device is gone (unplugged?)",
    errno.ENXIO: "device is gone (unplugged?)",
    errno.EACCES: "permission denied (the service user needs access to the node, usually the 'video' group)",
    errno.EPERM: "permission denied (the service user needs access to the node, usually the 'video' group)",
    errno.EBUSY: "device is busy",
    errno.ENOTTY: "not a V4L2 device (ioctl not supported)",
    errno.EIO: "I/O error talking to the device",
}


def _probe_error(path: str, step: str, exc: OSError) -> ProbeError:
    code = exc.errno
    reason = _REASONS.get(code) if code is not None else None
    if reason is None:
        reason = os.strerror(code) if code is not None else str(exc)
    return ProbeError(path, f"{step}: {reason}", code)


@attrs.frozen
class _Enumerator:
    """Runs the enumeration ioctls on one open node; EINVAL (or ENOTTY) ends a list."""

    path: str
    fd: int
    ioctl: IoctlFn
    requests: V4L2Requests
    max_entries: int

    def _entries(self, step: str, request: int, make: Callable[[int], bytearray]) -> Iterator[bytearray]:
        # max_entries bounds a driver (or fake) that never says EINVAL.
        for index in range(self.max_entries):
            buf = make(index)
            try:
                self.ioctl(self.fd, request, buf)
            except OSError as exc:
                if exc.errno in (errno.EINVAL, errno.ENOTTY):
                    return
                raise _probe_error(self.path, step, exc) from exc
            yield buf

    def query_caps(self) -> DeviceCaps:
        buf = bytearray(CAPABILITY_SIZE)
        try:
            self.ioctl(self.fd, self.requests.querycap, buf)
        except OSError as exc:
            if exc.errno == errno.EINVAL:
                raise ProbeError(self.path, "VIDIOC_QUERYCAP: not a V4L2 device", exc.errno) from exc
            raise _probe_error(self.path, "VIDIOC_QUERYCAP", exc) from exc
        return parse_capability(buf)

    def formats(self) -> tuple[FormatInfo, ...]:
        result: list[FormatInfo] = []
        seen: set[str] = set()
        for buf in self._entries("VIDIOC_ENUM_FMT", self.requests.enum_fmt, pack_fmtdesc):
            desc = parse_fmtdesc(buf)
            if desc.fourcc in seen:
                continue
            seen.add(desc.fourcc)
            sizes = self.sizes(desc.pixelformat)
            result.append(FormatInfo(desc.fourcc, desc.description, desc.compressed, sizes))
        return tuple(result)

    def sizes(self, pixfmt: int) -> tuple[FrameSize, ...]:
        found: list[tuple[int, int]] = []
        entries = self._entries(
            "VIDIOC_ENUM_FRAMESIZES", self.requests.enum_framesizes, lambda i: pack_frmsizeenum(i, pixfmt)
        )
        for buf in entries:
            entry = parse_frmsizeenum(buf)
            if isinstance(entry, SizeRange):
                found.extend(expand_size_range(entry))
                break  # a range is reported only at index 0
            if entry is not None:
                found.append((entry.width, entry.height))
        distinct = dict.fromkeys(found)  # keeps driver order
        return tuple(FrameSize(w, h, self.rates(pixfmt, w, h)) for w, h in distinct)

    def rates(self, pixfmt: int, width: int, height: int) -> tuple[float, ...]:
        found: set[float] = set()
        entries = self._entries(
            "VIDIOC_ENUM_FRAMEINTERVALS",
            self.requests.enum_frameintervals,
            lambda i: pack_frmivalenum(i, pixfmt, width, height),
        )
        for buf in entries:
            entry = parse_frmivalenum(buf)
            if isinstance(entry, IntervalRange):
                found.update(expand_interval_range(entry))
                break
            if entry is not None:
                found.add(entry)
        return tuple(sorted(found, reverse=True))


def probe_device(
    path: str,
    *,
    ioctl: IoctlFn = native_ioctl,
    open_device: OpenDeviceFn = open_device_node,
    requests: V4L2Requests = REQUESTS,
    max_entries: int = 256,
) -> Capabilities:
    """Probe one node (blocking). Non-capture nodes come back with ``is_capture=False`` and no formats.

    Raises :class:`ProbeError` when the node cannot be opened or is not a V4L2 device, or when an enumeration
    fails with anything other than the EINVAL that ends a list.
    """
    with contextlib.ExitStack() as stack:
        try:
            fd = stack.enter_context(open_device(path))
        except OSError as exc:
            raise _probe_error(path, "open", exc) from exc
        enum = _Enumerator(path, fd, ioctl, requests, max_entries)
        caps = enum.query_caps()
        formats = enum.formats() if caps.is_capture else ()
    return Capabilities(caps, formats)


async def probe(
    path: str,
    *,
    timeout: float,  # noqa: ASYNC109 - the caller states a probe budget; fail_after is applied inside
    ioctl: IoctlFn = native_ioctl,
    open_device: OpenDeviceFn = open_device_node,
) -> Capabilities:
    """:func:`probe_device` in a worker thread, bounded by ``timeout`` seconds.

    On timeout or cancellation the thread is abandoned (a wedged ioctl cannot be interrupted); it closes the
    node itself whenever the driver lets go. A timeout raises :class:`ProbeTimeout`.
    """
    if not timeout > 0:
        raise ValueError(f"probe timeout must be > 0 seconds, got {timeout!r}")
    work = functools.partial(probe_device, path, ioctl=ioctl, open_device=open_device)
    try:
        with trio.fail_after(timeout):
            return await trio.to_thread.run_sync(work, abandon_on_cancel=True)
    except trio.TooSlowError:
        raise ProbeTimeout(path, f"no answer within {timeout:g} s (driver or device hung?)") from None
