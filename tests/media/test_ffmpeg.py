"""The ffmpeg runner: argument lists, timeouts, bounded stderr in errors, children killed on cancel."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest
import trio

from camsvc.errors import DependencyFailed
from camsvc.media.ffmpeg import STDERR_LIMIT, FfmpegRunner, jpeg_qscale, parse_probe
from tests.media.fakes import HAVE_FFMPEG, make_sample

needs_ffmpeg = pytest.mark.skipif(not HAVE_FFMPEG, reason="ffmpeg/ffprobe not installed")


def _children() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]


@needs_ffmpeg
async def test_ffmpeg_writes_a_frame_and_probe_reads_it(tmp_path: Path) -> None:
    runner = FfmpegRunner()
    out = tmp_path / "frame.png"
    result = await runner.ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=5",
            "-frames:v",
            "1",
            "-f",
            "image2",
            "-update",
            "1",
            str(out),
        ],
        timeout=10,
    )
    assert result.ok and out.stat().st_size > 0
    info = await runner.probe(out, timeout=10)
    assert (info.width, info.height) == (64, 48)


@needs_ffmpeg
async def test_failure_raises_dependency_failed_with_stderr_detail(tmp_path: Path) -> None:
    runner = FfmpegRunner()
    with pytest.raises(DependencyFailed) as err:
        await runner.ffmpeg(["-i", str(tmp_path / "missing.mp4"), "-f", "null", "-"], timeout=10)
    assert err.value.data["dependency"] == "ffmpeg"
    assert "No such file" in err.value.data["detail"]
    assert "exit status" in err.value.data["detail"]


@needs_ffmpeg
async def test_probe_of_a_non_media_file_fails_cleanly(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(DependencyFailed) as err:
        await FfmpegRunner().probe(junk, timeout=10)
    assert "ffprobe failed" in err.value.data["detail"]


@needs_ffmpeg
async def test_probe_reads_duration_of_fragmented_mp4_and_mpegts(tmp_path: Path) -> None:
    runner = FfmpegRunner()
    for fmt in ("mp4", "ts"):
        sample = make_sample(tmp_path / f"s.{fmt}", seconds=2.0, fmt=fmt)
        info = await runner.probe(sample, timeout=10)
        assert info.duration is not None and abs(info.duration - 2.0) < 0.3
        assert info.resolution == "160x120"


@needs_ffmpeg
async def test_timeout_stops_the_process_and_says_so() -> None:
    runner = FfmpegRunner()
    with pytest.raises(DependencyFailed) as err:
        await runner.ffmpeg(["-re", "-f", "lavfi", "-i", "testsrc2=rate=5", "-f", "null", "-"], timeout=0.5)
    assert "timed out after 0.5s" in err.value.data["detail"]
    assert not [p for p in _children() if "ffmpeg" in p.name()]


@needs_ffmpeg
async def test_cancelling_the_caller_kills_the_child() -> None:
    runner = FfmpegRunner()
    started = trio.Event()

    async def watch() -> None:
        while True:  # poll the process table: the child's start has no event of its own
            if [p for p in _children() if "ffmpeg" in p.name()]:
                started.set()
                return
            await trio.sleep(0.02)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(
            lambda: runner.ffmpeg(
                ["-re", "-f", "lavfi", "-i", "testsrc2=rate=5", "-f", "null", "-"], timeout=60
            )
        )
        nursery.start_soon(watch)
        await started.wait()
        nursery.cancel_scope.cancel()
    assert not [p for p in _children() if "ffmpeg" in p.name()]


async def test_missing_binary_is_a_clear_error() -> None:
    runner = FfmpegRunner(ffmpeg_path="/nonexistent/ffmpeg")
    with pytest.raises(DependencyFailed) as err:
        await runner.ffmpeg(["-version"], timeout=5)
    assert "not installed" in err.value.data["detail"]


async def test_stderr_is_bounded_and_summarised(tmp_path: Path) -> None:
    # A stand-in "ffmpeg" that floods stderr with 1 MiB and fails.
    fake = tmp_path / "fake-ffmpeg"
    fake.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stderr.write('x' * 1048576 + '\\nthe real reason\\n')\nsys.exit(3)\n"
    )
    fake.chmod(0o755)
    runner = FfmpegRunner(ffmpeg_path=str(fake))
    result = await runner.run([str(fake)], timeout=10, what="flood")
    assert result.returncode == 3
    assert len(result.stderr) <= STDERR_LIMIT
    assert result.stderr.rstrip().endswith("the real reason")
    with pytest.raises(DependencyFailed) as err:
        await runner.ffmpeg(["-i", "x"], timeout=10)
    detail = err.value.data["detail"]
    assert "the real reason" in detail and len(detail) < 1000


def test_quality_maps_onto_qscale_monotonically() -> None:
    assert jpeg_qscale(1) == 31 and jpeg_qscale(100) == 2
    values = [jpeg_qscale(q) for q in range(1, 101)]
    assert values == sorted(values, reverse=True)


def test_parse_probe_tolerates_missing_fields() -> None:
    assert parse_probe({}).duration is None
    info = parse_probe(
        {
            "format": {"duration": "N/A"},
            "streams": [{"codec_type": "video", "duration": "4.5", "width": 8, "height": 6}],
        }
    )
    assert info.duration == 4.5 and info.resolution == "8x6"
