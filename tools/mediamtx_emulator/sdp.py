"""SDP handling for the RTSP relay: parse a publisher's ANNOUNCE, serve readers a rebuilt one, name codecs.

The relay forwards RTP packets untouched, so readers get the publisher's media descriptions with the
server's own ``a=control:trackID=N`` attributes, as MediaMTX's RTSP server produces them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import attrs

_STATIC_PAYLOADS = {0: ("PCMU", 8000, 1), 8: ("PCMA", 8000, 1), 14: ("MPA", 90000, 1), 26: ("JPEG", 90000, 1),
                    32: ("MPV", 90000, 1), 33: ("MP2T", 90000, 1)}  # fmt: skip


class SdpError(ValueError):
    pass


@attrs.frozen
class Media:
    """One ``m=`` section."""

    kind: str  # "video", "audio", "application"
    payload_type: int
    encoding: str  # rtpmap encoding name, upper-case ("H264", "MPEG4-GENERIC", "OPUS", ...)
    clock_rate: int
    channels: int
    fmtp: dict[str, str]
    control: str  # the publisher's control attribute ("" if none)
    lines: tuple[str, ...]  # the section without its a=control line


@attrs.frozen
class SessionDescription:
    session_lines: tuple[str, ...]
    medias: tuple[Media, ...]


def parse_sdp(text: str) -> SessionDescription:
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n") if ln.strip()]
    if not lines or not lines[0].startswith("v="):
        raise SdpError("invalid SDP: missing v= line")
    session: list[str] = []
    sections: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
        else:
            session.append(line)
    if not sections:
        raise SdpError("invalid SDP: no media")
    return SessionDescription(tuple(session), tuple(_parse_media(sec) for sec in sections))


def _parse_media(section: list[str]) -> Media:
    parts = section[0][2:].split()
    if len(parts) < 4:
        raise SdpError(f"invalid media line: {section[0]!r}")
    kind = parts[0]
    try:
        payload_type = int(parts[3])
    except ValueError:
        raise SdpError(f"invalid payload type in {section[0]!r}") from None
    encoding, clock, channels = _STATIC_PAYLOADS.get(payload_type, ("", 90000, 1))
    fmtp: dict[str, str] = {}
    control = ""
    kept: list[str] = []
    for line in section:
        if line.startswith("a=control:"):
            control = line[len("a=control:") :]
            continue
        kept.append(line)
        if line.startswith(f"a=rtpmap:{payload_type} "):
            spec = line.split(" ", 1)[1].split("/")
            encoding = spec[0].upper()
            clock = int(spec[1]) if len(spec) > 1 and spec[1].isdigit() else clock
            channels = int(spec[2]) if len(spec) > 2 and spec[2].isdigit() else 1
        elif line.startswith(f"a=fmtp:{payload_type} "):
            for item in line.split(" ", 1)[1].split(";"):
                key, _, value = item.strip().partition("=")
                if key:
                    fmtp[key.lower()] = value
    return Media(kind, payload_type, encoding, clock, channels, fmtp, control, tuple(kept))


def reader_sdp(desc: SessionDescription, server_ip: str = "127.0.0.1") -> str:
    """The SDP readers receive in DESCRIBE."""
    out = ["v=0", f"o=- 0 0 IN IP4 {server_ip}", "s=Stream", "c=IN IP4 0.0.0.0", "t=0 0"]
    for line in desc.session_lines:
        if line[:2] in ("v=", "o=", "s=", "c=", "t=") or line.startswith(("a=control:", "a=range:")):
            continue
        out.append(line)
    for index, media in enumerate(desc.medias):
        out.append(media.lines[0])
        out.append(f"a=control:trackID={index}")
        out.extend(media.lines[1:])
    return "\r\n".join(out) + "\r\n"


_CODEC_NAMES = {
    "H264": "H264", "H265": "H265", "VP8": "VP8", "VP9": "VP9", "AV1": "AV1", "MP4V-ES": "MPEG-4 Video",
    "MPV": "MPEG-1/2 Video", "JPEG": "M-JPEG", "OPUS": "Opus", "MPEG4-GENERIC": "MPEG-4 Audio",
    "MP4A-LATM": "MPEG-4 Audio LATM", "MPA": "MPEG-1/2 Audio", "AC3": "AC3", "SPEEX": "Speex",
    "G722": "G722", "PCMU": "G711", "PCMA": "G711", "L8": "LPCM", "L16": "LPCM", "L24": "LPCM",
    "MP2T": "MPEG-TS", "SMPTE336M": "KLV", "VORBIS": "Vorbis",
}  # fmt: skip


def codec_name(media: Media) -> str:
    if media.encoding.startswith("G726"):
        return "G726"
    return _CODEC_NAMES.get(media.encoding, "Generic")


def codec_props(media: Media) -> dict[str, Any] | None:
    """``tracks2[].codecProps`` for the codecs whose properties the SDP reveals."""
    name = codec_name(media)
    if name == "H264":
        return _h264_props(media.fmtp)
    if name == "Opus":
        return {"channelCount": media.channels if media.channels > 0 else 2}
    if name == "MPEG-4 Audio":
        return _aac_props(media.fmtp)
    if name == "G711":
        return {
            "muLaw": media.encoding == "PCMU",
            "sampleRate": media.clock_rate,
            "channelCount": media.channels,
        }
    if name == "LPCM":
        depth = {"L8": 8, "L16": 16, "L24": 24}[media.encoding]
        return {"bitDepth": depth, "sampleRate": media.clock_rate, "channelCount": media.channels}
    return None


def _aac_props(fmtp: dict[str, str]) -> dict[str, Any] | None:
    try:
        config = binascii.unhexlify(fmtp.get("config", ""))
    except (binascii.Error, ValueError):
        return None
    if len(config) < 2:
        return None
    bits = int.from_bytes(config[:2], "big")
    freq_index = (bits >> 7) & 0x0F
    channels = (bits >> 3) & 0x0F
    rates = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350]
    rate = rates[freq_index] if freq_index < len(rates) else 0
    return {"sampleRate": rate, "channelCount": channels}


_H264_PROFILES = {66: "Baseline", 77: "Main", 88: "Extended", 100: "High", 110: "High 10", 122: "High 4:2:2",
                  244: "High 4:4:4 Predictive"}  # fmt: skip


def _h264_props(fmtp: dict[str, str]) -> dict[str, Any] | None:
    sets = fmtp.get("sprop-parameter-sets", "")
    if not sets:
        return None
    try:
        sps = base64.b64decode(sets.split(",")[0] + "==")
        width, height = h264_sps_size(sps)
    except (ValueError, IndexError, binascii.Error):
        return None
    profile_idc, level_idc = sps[1], sps[3]
    return {
        "width": width,
        "height": height,
        "profile": _H264_PROFILES.get(profile_idc, str(profile_idc)),
        "level": f"{level_idc // 10}.{level_idc % 10}",
    }


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        v = self.ue()
        return (v + 1) // 2 if v & 1 else -(v // 2)


def _unescape_rbsp(nal: bytes) -> bytes:
    out = bytearray()
    zeros = 0
    for b in nal:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def h264_sps_size(sps: bytes) -> tuple[int, int]:
    """Picture width and height from an H.264 sequence parameter set (NAL header included)."""
    r = _Bits(_unescape_rbsp(sps[1:]))
    profile_idc = r.u(8)
    r.u(16)  # constraint flags, level_idc
    r.ue()  # seq_parameter_set_id
    chroma_format_idc = 1
    if profile_idc in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma_format_idc = r.ue()
        if chroma_format_idc == 3:
            r.u(1)
        r.ue()
        r.ue()
        r.u(1)
        if r.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if r.u(1):
                    size = 16 if i < 6 else 64
                    last = nxt = 8
                    for _ in range(size):
                        if nxt != 0:
                            nxt = (last + r.se() + 256) % 256
                        last = nxt if nxt != 0 else last
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.u(1)
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.u(1)
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.u(1)
    if not frame_mbs_only:
        r.u(1)
    r.u(1)
    crop = (0, 0, 0, 0)
    if r.u(1):
        crop = (r.ue(), r.ue(), r.ue(), r.ue())
    crop_x = 2 if chroma_format_idc in (1, 2) else 1
    crop_y = (2 if chroma_format_idc == 1 else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (crop[2] + crop[3])
    return width, height
