"""Unit tests of the emulator's Go-compatible helpers, command preparation, recordPath and SDP handling."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest

from tools.mediamtx_emulator.commands import CommandError, expand, prepare
from tools.mediamtx_emulator.gotypes import (
    DAY,
    HOUR,
    MILLISECOND,
    MINUTE,
    SECOND,
    GoValueError,
    format_byte_size,
    format_go_datetime,
    format_mtx_duration,
    parse_byte_size,
    parse_mtx_duration,
    parse_rfc3339,
)
from tools.mediamtx_emulator.recordpath import encode_segment_path, list_segments
from tools.mediamtx_emulator.rtsp import split_url
from tools.mediamtx_emulator.sdp import codec_name, codec_props, h264_sps_size, parse_sdp, reader_sdp


@pytest.mark.parametrize(
    ("text", "ns"),
    [("10s", 10 * SECOND), ("1h", HOUR), ("1d", DAY), ("1d2h", DAY + 2 * HOUR), ("1.5s", 1500 * MILLISECOND),
     ("2h45m", 2 * HOUR + 45 * MINUTE), ("", 0), ("0", 0), ("-1m", -MINUTE), ("300ms", 300 * MILLISECOND)],
)  # fmt: skip
def test_durations_parse(text: str, ns: int) -> None:
    assert parse_mtx_duration(text) == ns


@pytest.mark.parametrize(
    ("ns", "text"),
    [(HOUR, "1h0m0s"), (DAY, "1d"), (90 * SECOND, "1m30s"), (0, ""), (DAY + HOUR, "1d1h0m0s"),
     (1500 * MILLISECOND, "1.5s"), (200 * MILLISECOND, "200ms"), (2 * DAY, "2d")],
)  # fmt: skip
def test_durations_format(ns: int, text: str) -> None:
    assert format_mtx_duration(ns) == text


@pytest.mark.parametrize(
    ("text", "message"),
    [("abc", 'time: invalid duration "abc"'), ("5", 'time: missing unit in duration "5"'),
     ("5x", 'time: unknown unit "x" in duration "5x"')],
)  # fmt: skip
def test_bad_durations_have_go_messages(text: str, message: str) -> None:
    with pytest.raises(GoValueError) as err:
        parse_mtx_duration(text)
    assert str(err.value) == message


def test_byte_sizes() -> None:
    assert parse_byte_size("50M") == 50 * 1024 * 1024
    assert parse_byte_size("1.5KB") == 1536
    assert format_byte_size(50 * 1024 * 1024) == "50M"
    assert format_byte_size(1536) == "1.5K"
    with pytest.raises(GoValueError):
        parse_byte_size("lots")


def test_go_time_formatting_trims_nanoseconds() -> None:
    utc = dt.datetime(2024, 1, 14, 16, 33, 17, 120000, tzinfo=dt.UTC)
    assert format_go_datetime(utc) == "2024-01-14T16:33:17.12Z"
    plus_one = dt.datetime(2024, 1, 14, 16, 33, 17, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert format_go_datetime(plus_one) == "2024-01-14T16:33:17+01:00"
    parsed, nanos = parse_rfc3339("2024-01-14T16:33:17.123456+01:00")
    assert parsed.utcoffset() == dt.timedelta(hours=1) and nanos == 123456000


def test_commands_expand_like_go_and_split_like_a_shell() -> None:
    env = {"MTX_PATH": "cam 1", "RTSP_PORT": "8554"}
    # Go os.Expand: "$$" is the special variable "$", a lone "$" stays, "${}" is eaten
    assert expand("a $MTX_PATH ${RTSP_PORT} $$ $ x ${}", lambda n: env.get(n, "?")) == "a cam 1 8554 ? $ x "
    argv = prepare("ffmpeg -i 'rtsp://localhost:$RTSP_PORT/$MTX_PATH' -f null -", env)
    assert argv == ["ffmpeg", "-i", "rtsp://localhost:8554/cam 1", "-f", "null", "-"]
    # expansion happens before splitting: a value with spaces splits unless quoted
    assert prepare("echo $MTX_PATH", env) == ["echo", "cam", "1"]
    assert prepare("sh -c 'echo \"$MTX_PATH\" | cat'", env) == ["sh", "-c", 'echo "cam 1" | cat']
    with pytest.raises(CommandError):
        prepare("echo 'unterminated", env)


def test_record_path_names_round_trip(tmp_path: Path) -> None:
    start = dt.datetime(2024, 3, 9, 7, 5, 3, 42).astimezone()
    template = "./rec/%path/%Y/%m/%d/%H-%M-%S-%f"
    name = encode_segment_path(template, "mpegts", "group/cam1", start)
    assert name == "./rec/group/cam1/2024/03/09/07-05-03-000042.ts"
    file = tmp_path / name
    file.parent.mkdir(parents=True)
    file.write_bytes(b"")
    (file.parent / "other.ts").write_bytes(b"")
    found = list_segments(tmp_path, template, "mpegts", "group/cam1")
    assert [s.file for s in found] == [file]
    assert found[0].start == start
    unix = encode_segment_path("/r/%path_%s_%z", "fmp4", "c", dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    assert unix == "/r/c_1704067200_Z.mp4"


def test_h264_sps_sizes_including_cropping() -> None:
    assert h264_sps_size(base64.b64decode("Z2QAH6zZQFAFuwEQAAADABAAAAMBQPGDGWA=")) == (1280, 720)
    assert h264_sps_size(base64.b64decode("Z2QAH6zZQFAFvqsBEAAAAwAQAAADAUDxgxlg")) == (1278, 718)


PUBLISHER_SDP = """v=0\r
o=- 0 0 IN IP4 127.0.0.1\r
s=No Name\r
c=IN IP4 127.0.0.1\r
t=0 0\r
a=tool:libavformat 59.27.100\r
m=video 0 RTP/AVP 96\r
a=rtpmap:96 H264/90000\r
a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z2QAH6zZQFAFuwEQAAADABAAAAMBQPGDGWA=,aOvjyyLA; profile-level-id=64001F\r
a=control:streamid=0\r
m=audio 0 RTP/AVP 97\r
a=rtpmap:97 MPEG4-GENERIC/48000/2\r
a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=119056E500\r
a=control:streamid=1\r
"""


def test_sdp_is_rebuilt_for_readers_with_track_controls() -> None:
    desc = parse_sdp(PUBLISHER_SDP)
    assert [m.control for m in desc.medias] == ["streamid=0", "streamid=1"]
    out = reader_sdp(desc)
    assert "a=control:trackID=0" in out and "a=control:trackID=1" in out and "streamid" not in out
    assert [codec_name(m) for m in desc.medias] == ["H264", "MPEG-4 Audio"]
    assert codec_props(desc.medias[0]) == {"width": 1280, "height": 720, "profile": "High", "level": "3.1"}
    assert codec_props(desc.medias[1]) == {"sampleRate": 48000, "channelCount": 2}


def test_rtsp_urls_split_into_path_and_query() -> None:
    assert split_url("rtsp://h:1/group/cam1") == ("group/cam1", "")
    assert split_url("rtsp://h:1/cam1/trackID=0") == ("cam1/trackID=0", "")
    assert split_url("rtsp://h:1/cam1?token=x/trackID=1") == ("cam1/trackID=1", "token=x")
