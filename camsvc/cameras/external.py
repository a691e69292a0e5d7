"""External (network) streams: the persisted list, and probing of configured candidate URLs.

Streams come from two places: ``cameras.external`` in the config file (read-only; they cannot be removed
at run time) and ``add_external_stream`` (stored in the state store, table ``external_streams``, so they
survive restarts). Each becomes a network camera whose id is the stream name.

``discover_external_streams`` never scans networks: it runs ``ffprobe`` on each URL of
``cameras.discovery_candidates`` (bounded by a timeout each, a few at a time) and reports what answered.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal

import attrs
import trio

from ..storage.state import StateStore

log = logging.getLogger("camsvc.cameras.external")

#: URL schemes MediaMTX can pull (spec: add_external_stream)
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "srt")
URL_PATTERN = re.compile(r"(rtsps?|rtmp|https?|srt)://[^\s/?#]+[^\s]*")
NAME_PATTERN = re.compile(r"[a-z0-9_]{1,32}")

MIGRATIONS = [
    """
    CREATE TABLE external_streams (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        stream_type TEXT NOT NULL,
        added_at REAL NOT NULL
    );
    CREATE TABLE camera_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
]

Origin = Literal["config", "api"]

#: camera_settings key of the interval set by set_discovery_interval (survives restarts)
SCAN_INTERVAL_KEY = "external_scan_interval"


@attrs.frozen
class ExternalStream:
    name: str
    url: str
    stream_type: str
    origin: Origin
    #: wall-clock seconds it was added (config streams: when the service started)
    added_at: float


def valid_url(url: str) -> bool:
    return URL_PATTERN.fullmatch(url) is not None


class ExternalStreamStore:
    """The ``cameras`` room's tables in the state store: API-added streams and run-time settings."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    def ensure_schema(self) -> None:
        self._store.ensure_schema("cameras", MIGRATIONS)

    async def load(self) -> list[ExternalStream]:
        rows = await self._store.fetchall(
            "SELECT name, url, stream_type, added_at FROM external_streams ORDER BY added_at, name"
        )
        return [ExternalStream(r["name"], r["url"], r["stream_type"], "api", r["added_at"]) for r in rows]

    async def insert(self, stream: ExternalStream) -> bool:
        """Store a stream; False if its name is taken."""
        try:
            await self._store.execute(
                "INSERT INTO external_streams(name, url, stream_type, added_at) VALUES (?, ?, ?, ?)",
                (stream.name, stream.url, stream.stream_type, stream.added_at),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    async def delete(self, name: str) -> bool:
        return await self._store.execute("DELETE FROM external_streams WHERE name = ?", (name,)) > 0

    async def get_setting(self, key: str) -> str | None:
        row = await self._store.fetchone("SELECT value FROM camera_settings WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set_setting(self, key: str, value: str) -> None:
        await self._store.execute(
            "INSERT INTO camera_settings(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


# --------------------------------------------------------------------------------------------- candidates


@attrs.frozen
class ProbeResult:
    url: str
    ok: bool
    #: stream facts when ok: codec, width, height, fps
    info: dict[str, Any] = attrs.field(factory=dict)
    error: str | None = None


#: ``probe(url, timeout) -> ProbeResult``; the default runs ffprobe
CandidateProber = Callable[[str, float], Awaitable[ProbeResult]]


def _rate(text: str | None) -> float | None:
    num, _, den = (text or "").partition("/")
    try:
        value = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return round(value, 2) if math.isfinite(value) and value > 0 else None


def parse_ffprobe(url: str, stdout: bytes) -> ProbeResult:
    """The first video stream of ``ffprobe -of json -show_streams`` output."""
    try:
        doc = json.loads(stdout.decode("utf-8", errors="replace") or "{}")
    except json.JSONDecodeError:
        return ProbeResult(url, False, error="ffprobe printed no readable result")
    streams = doc.get("streams") if isinstance(doc, dict) else None
    video = next((s for s in streams or [] if isinstance(s, dict) and s.get("codec_type") == "video"), None)
    if video is None:
        return ProbeResult(url, False, error="no video stream")
    width, height = video.get("width"), video.get("height")
    info: dict[str, Any] = {"codec": video.get("codec_name")}
    if isinstance(width, int) and isinstance(height, int):
        info["resolution"] = f"{width}x{height}"
    fps = _rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate"))
    if fps is not None:
        info["fps"] = fps
    return ProbeResult(url, True, info)


def _last_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", errors="replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


async def ffprobe_candidate(url: str, timeout: float, *, ffprobe: str = "ffprobe") -> ProbeResult:  # noqa: ASYNC109
    """Ask ffprobe what ``url`` serves, within ``timeout`` seconds (the process is killed after)."""
    args = [ffprobe, "-v", "error", "-hide_banner"]
    if url.startswith(("rtsp://", "rtsps://")):
        args += ["-rtsp_transport", "tcp"]
    args += ["-show_streams", "-of", "json", "-i", url]
    try:
        with trio.fail_after(timeout):
            done = await trio.run_process(args, capture_stdout=True, capture_stderr=True, check=False)
    except trio.TooSlowError:
        return ProbeResult(url, False, error=f"no answer within {timeout:g} s")
    except OSError as exc:
        return ProbeResult(url, False, error=f"cannot run {ffprobe}: {exc.strerror or exc}")
    if done.returncode != 0:
        return ProbeResult(
            url, False, error=_last_line(done.stderr) or f"ffprobe exited with {done.returncode}"
        )
    return parse_ffprobe(url, done.stdout)


@attrs.frozen
class ScanReport:
    discovered: tuple[ProbeResult, ...]
    errors: tuple[ProbeResult, ...]
    #: wall-clock time the scan started
    started_at: float
    duration: float


async def scan_candidates(
    urls: Sequence[str],
    prober: CandidateProber,
    *,
    timeout: float,  # noqa: ASYNC109 - a budget per candidate, not for the whole call
    concurrency: int = 4,
) -> ScanReport:
    """Probe every candidate, ``concurrency`` at a time; results keep the configured order."""
    started_at, began = time.time(), trio.current_time()
    results: list[ProbeResult | None] = [None] * len(urls)
    limiter = trio.CapacityLimiter(max(1, concurrency))

    async def one(index: int, url: str) -> None:
        async with limiter:
            try:
                results[index] = await prober(url, timeout)
            except Exception as exc:  # one broken candidate must not spoil the scan
                results[index] = ProbeResult(url, False, error=f"{type(exc).__name__}: {exc}")

    async with trio.open_nursery() as nursery:
        for index, url in enumerate(urls):
            nursery.start_soon(one, index, url)
    done = [r for r in results if r is not None]
    return ScanReport(
        discovered=tuple(r for r in done if r.ok),
        errors=tuple(r for r in done if not r.ok),
        started_at=started_at,
        duration=trio.current_time() - began,
    )


@attrs.define(eq=False)
class ExternalScanner:
    """Candidate probing on demand, and every ``interval`` seconds when that is above 0.

    With periodic scanning on, ``scan(force=False)`` answers from the last periodic result; ``force=True``
    (or on-demand mode) probes now. Concurrent callers share one scan rather than probing twice.
    """

    candidates: tuple[str, ...]
    timeout: float
    interval: float = 0.0
    prober: CandidateProber = ffprobe_candidate
    concurrency: int = 4
    last: ScanReport | None = attrs.field(default=None, init=False)
    _interval_changed: trio.Event = attrs.field(factory=trio.Event, init=False)
    _scan_lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)

    @property
    def enabled(self) -> bool:
        return bool(self.candidates)

    def set_interval(self, seconds: float) -> None:
        if not (seconds >= 0 and math.isfinite(seconds)):
            raise ValueError(f"scan interval must be a finite number >= 0, got {seconds!r}")
        self.interval = float(seconds)
        changed, self._interval_changed = self._interval_changed, trio.Event()
        changed.set()

    async def scan(self, *, force: bool = False) -> ScanReport:
        if not force and self.interval > 0 and self.last is not None:
            return self.last
        seen = self.last
        async with self._scan_lock:
            if self.last is not seen and not force:
                return self.last  # type: ignore[return-value]  # another caller scanned while we waited
            self.last = await scan_candidates(
                self.candidates, self.prober, timeout=self.timeout, concurrency=self.concurrency
            )
            return self.last

    async def run_periodic(self) -> None:
        """Scan every ``interval`` seconds while it is above 0; a new interval takes effect at once."""
        while True:
            changed = self._interval_changed
            if self.interval <= 0 or not self.enabled:
                await changed.wait()
                continue
            with trio.move_on_after(self.interval):
                await changed.wait()
            if changed.is_set():
                continue
            try:
                await self.scan(force=True)
            except Exception:  # keep scanning on the next tick
                log.exception("external stream scan failed")
