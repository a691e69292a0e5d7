"""A ready stream: the publisher's media description and the fan-out of its RTP/RTCP packets to readers."""

from __future__ import annotations

from typing import Any, Protocol

from tools.mediamtx_emulator.sdp import SessionDescription, codec_name, codec_props, reader_sdp


class StreamClient(Protocol):
    """Something attached to a stream or a path: an RTSP session (or an internal reader such as the recorder)."""

    internal: bool

    def api_ref(self) -> dict[str, str]: ...

    def kick(self) -> None: ...

    def on_packet(self, track: int, rtcp: bool, payload: bytes) -> int:
        """Queue a packet for sending; returns the bytes accepted (0 when dropped)."""
        ...


class Stream:
    def __init__(self, desc: SessionDescription) -> None:
        self.desc = desc
        self.sdp = reader_sdp(desc)
        self.bytes_received = 0
        self.bytes_sent = 0
        self._clients: list[StreamClient] = []

    def attach(self, client: StreamClient) -> None:
        if client not in self._clients:
            self._clients.append(client)

    def detach(self, client: StreamClient) -> None:
        if client in self._clients:
            self._clients.remove(client)

    def publish(self, track: int, rtcp: bool, payload: bytes) -> None:
        self.bytes_received += len(payload)
        for client in list(self._clients):
            sent = client.on_packet(track, rtcp, payload)
            if not client.internal:
                self.bytes_sent += sent

    def close(self) -> None:
        """The source went away: disconnect everyone reading, as MediaMTX does."""
        clients, self._clients = self._clients, []
        for client in clients:
            client.kick()

    def tracks(self) -> list[str]:
        return [codec_name(m) for m in self.desc.medias]

    def tracks2(self) -> list[dict[str, Any]]:
        return [{"codec": codec_name(m), "codecProps": codec_props(m)} for m in self.desc.medias]
