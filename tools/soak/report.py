"""The soak's report: figures from what the clients saw, plus a check of the files camsvc left behind.

The file check runs after camsvc has stopped: it reads the recording sessions from camsvc's state database
(read-only) and compares them with the recordings and snapshots directories.
"""

from __future__ import annotations

import collections
import json
import os
import sqlite3
import statistics
from pathlib import Path
from typing import Any

import attrs

from .stack import Stack
from .workload import Options, Seen, is_expected

JPEG_END = b"\xff\xd9"
PNG_END = b"IEND\xaeB`\x82"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


def _sessions(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(
            "SELECT session_id, device, status, reason, files, start_time, end_time FROM recording_sessions"
        ).fetchall()
    finally:
        conn.close()
    return [{**dict(r), "files": json.loads(r["files"])} for r in rows]


def _complete_image(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return False
    with path.open("rb") as f:
        f.seek(max(0, size - 8))
        tail = f.read()
    return tail.endswith(JPEG_END) if path.suffix in (".jpg", ".jpeg") else tail.endswith(PNG_END)


def deleted_by_service(log: Path) -> set[str]:
    """Names of the files camsvc says it deleted (retention, delete_recording/delete_snapshot)."""
    deleted: set[str] = set()
    if not log.exists():
        return deleted
    with log.open(errors="replace") as lines:
        for line in lines:
            if '"file deleted"' not in line:
                continue
            try:
                deleted.add(json.loads(line)["file"])
            except (ValueError, KeyError):
                continue
    return deleted


def check_files(stack: Stack, seen: Seen) -> dict[str, Any]:
    sessions = _sessions(stack.state_db)
    deleted = deleted_by_service(stack.log)
    listing = [p for p in stack.recordings.iterdir() if p.is_file()] if stack.recordings.exists() else []
    # hidden names are a writer's own temporaries (the emulator's, when SIGKILLed mid-segment); camsvc lists none
    on_disk = {p.name: p for p in listing if not p.name.startswith(".")}
    owned: set[str] = set()
    missing, empty_sessions, failed_empty, still_open = [], [], [], []
    for s in sessions:
        owned.update(s["files"])
        if s["status"] == "RECORDING":
            still_open.append(s["session_id"])
        gone = [f for f in s["files"] if f not in deleted and (f not in on_disk or on_disk[f].stat().st_size == 0)]
        if gone:
            missing.append({"session_id": s["session_id"], "files": gone})
        if not s["files"] and s["status"] != "RECORDING":
            ran = (s["end_time"] or s["start_time"]) - s["start_time"]
            # a FAILED session says why it has nothing (no_media, camera_disconnected); a STOPPED one lies
            (failed_empty if s["status"] == "FAILED" else empty_sessions).append(
                {"session_id": s["session_id"], "device": s["device"], "status": s["status"],
                 "reason": s["reason"], "ran_s": round(ran, 1)}
            )  # fmt: skip
    known = {s["session_id"] for s in sessions}
    snaps = {p.name: p for p in stack.snapshots.iterdir() if p.is_file()} if stack.snapshots.exists() else {}
    partial = sorted(name for name, p in snaps.items() if name.startswith(".") or not _complete_image(p))
    return {
        "sessions": len(sessions),
        "sessions_by_status": _count(s["status"] for s in sessions),
        "sessions_started_by_clients": len(seen.sessions),
        "sessions_unknown_to_service": sorted(set(seen.sessions) - known),
        "sessions_still_open": still_open,
        "sessions_with_missing_files": missing,
        "sessions_without_files": empty_sessions,
        "failed_sessions_without_files": failed_empty,
        "recording_files": len(on_disk),
        "hidden_recording_temporaries": len(listing) - len(on_disk),
        "files_without_session": sorted(set(on_disk) - owned),
        "snapshots_taken": len(seen.snapshots),
        "snapshots_missing": sorted(seen.snapshots - set(snaps) - deleted),
        "deleted_by_service": len(deleted),
        "partial_snapshots": partial,
    }


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out


def lost_notifications(seen: Seen, files: dict[str, Any], sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """Events every observer must have got: each session's start and end, each snapshot taken."""
    expected = {("recording_status_update", f"{sid}:RECORDING") for sid in seen.sessions}
    ends = {s["session_id"]: s["status"] for s in sessions if s["status"] != "RECORDING"}
    expected |= {("recording_status_update", f"{sid}:{ends[sid]}") for sid in seen.sessions if sid in ends}
    expected |= {("snapshot_taken", name) for name in seen.snapshots}
    lost = [len(expected - got) for got in seen.observed]
    return {"observers": len(seen.observed), "expected_per_observer": len(expected), "lost": sum(lost),
            "lost_by_observer": lost}  # fmt: skip


def _episodes(events: list[tuple[str, str]], device: str) -> tuple[int, int, int]:
    """(recoveries, appearances, disappearances) of ``device`` in one observer's camera_status_update
    sequence: ERROR then CONNECTED again; listed (any status) after being absent; DISCONNECTED."""
    recoveries = appearances = disappearances = 0
    present, failed = False, False
    for dev, status in events:
        if dev != device:
            continue
        if status == "DISCONNECTED":
            disappearances += present
            present = failed = False
            continue
        appearances += not present
        present = True
        if status == "ERROR":
            failed = True
        elif status == "CONNECTED" and failed:
            recoveries += 1
            failed = False
    return recoveries, appearances, disappearances


def camera_events(seen: Seen, crashes: collections.Counter[str]) -> dict[str, Any]:
    """What every observer must have seen of camera chaos: each crashed actor's camera back from ERROR
    to CONNECTED, each hot-plugged camera appear and disappear; and how many of those it did not see."""
    missed = []
    for events in seen.camera_events:
        lost = 0
        for device in set(crashes) | set(seen.plugs):
            recoveries, appearances, disappearances = _episodes(events, device)
            lost += max(0, crashes[device] - recoveries)
            lost += max(0, seen.plugs[device] - appearances) + max(0, seen.unplugs[device] - disappearances)
        missed.append(lost)
    expected = sum(crashes.values()) + sum(seen.plugs.values()) + sum(seen.unplugs.values())
    return {"expected_per_observer": expected, "missed": sum(missed), "missed_by_observer": missed}


def _camera_restarts(restarts: dict[str, int]) -> dict[str, int]:
    return {p: n for p, n in restarts.items() if p.startswith("cameras/") and p != "cameras/discovery"}


def actor_chaos(stack: Stack, seen: Seen) -> dict[str, Any]:
    """Crashes camsvc carried out (its fault-injection journal), the camera actor restarts ``/supervisor``
    and ``/health/system`` show for them, and crashes no restart accounts for."""
    journal = [e for e in stack.crash_journal() if e.get("fault") == "crash"]
    crashes = collections.Counter(str(e["camera"]) for e in journal if e.get("outcome") == "posted")
    refused = collections.Counter(str(e.get("reason")) for e in journal if e.get("outcome") != "posted")
    restarts = _camera_restarts(supervisor_restarts(seen.supervisor))
    components = seen.health_system.get("components", {})
    health_restarts = _camera_restarts({p: c.get("restarts") or 0 for p, c in components.items()})
    return {
        "actor_crash_requests": stack.actor_crash_requests,
        "actor_crashes": sum(crashes.values()),
        "actor_crashes_by_camera": dict(crashes),
        "actor_crashes_refused": dict(refused),
        "camera_actor_restarts": restarts,
        "health_system_camera_restarts": {p: n for p, n in health_restarts.items() if n},
        "crashes_without_restart": {c: n - restarts.get(f"cameras/{c}", 0) for c, n in crashes.items()
                                    if n > restarts.get(f"cameras/{c}", 0)},  # fmt: skip
        "hotplugs": sum(seen.plugs.values()),
        "unplugs": sum(seen.unplugs.values()),
    }


def process_growth(samples: list[dict[str, float]], warmup: float) -> dict[str, Any]:
    """RSS growth under load after warm-up (first vs last loaded sample); fd growth idle to idle (before the
    clients connect vs after they left), so open connections do not count as a leak."""
    loaded = [s for s in samples if s["load"] and s["t"] >= warmup] or samples
    if not loaded:
        return {}
    base, last = loaded[0], loaded[-1]
    mb = 1024 * 1024
    return {
        "samples": len(samples),
        "warmup_s": warmup,
        "rss_start_mb": round(samples[0]["rss"] / mb, 1),
        "rss_after_warmup_mb": round(base["rss"] / mb, 1),
        "rss_end_mb": round(last["rss"] / mb, 1),
        "rss_max_mb": round(max(s["rss"] for s in samples) / mb, 1),
        "rss_growth_pct": round(100 * (last["rss"] - base["rss"]) / base["rss"], 2),
        "rss_slope_mb_per_min_last_half": _slope_per_min(loaded[len(loaded) // 2 :], mb),
        **_window_medians(loaded, mb),
        "fds_idle_before": int(samples[0]["fds"]),
        "fds_idle_after": int(samples[-1]["fds"]),
        "fds_max": int(max(s["fds"] for s in samples)),
        "fd_growth": int(samples[-1]["fds"] - samples[0]["fds"]),
        #: [seconds, MB, fds] per sample, to tell a plateau from a climb
        "series": [[round(s["t"]), round(s["rss"] / mb, 1), int(s["fds"])] for s in samples],
    }


def _window_medians(loaded: list[dict[str, float]], unit: float, windows: int = 6) -> dict[str, Any]:
    """RSS medians over equal windows of the loaded time after warm-up, and the last one's growth over
    the first: the periodic heap trim swings single samples by a few MB, a window's median does not."""
    if len(loaded) < windows:
        return {}
    start, span = loaded[0]["t"], (loaded[-1]["t"] - loaded[0]["t"]) / windows or 1.0
    buckets: list[list[float]] = [[] for _ in range(windows)]
    for s in loaded:
        buckets[min(int((s["t"] - start) / span), windows - 1)].append(s["rss"] / unit)
    medians = [round(statistics.median(b), 1) for b in buckets if b]
    return {
        "rss_window_s": round(span),
        "rss_window_medians_mb": medians,
        "rss_growth_median_pct": round(100 * (medians[-1] - medians[0]) / medians[0], 2),
    }


def _slope_per_min(samples: list[dict[str, float]], unit: float) -> float | None:
    """Least-squares slope of RSS over time: near 0 on a plateau, positive while it climbs."""
    if len(samples) < 3:
        return None
    ts = [s["t"] for s in samples]
    ys = [s["rss"] / unit for s in samples]
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    var = sum((t - mt) ** 2 for t in ts)
    return round(60 * sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / var, 3) if var else None


def _with_fd_detail(growth: dict[str, Any], seen: Seen) -> dict[str, Any]:
    return {**growth, "fd_detail": seen.fd_detail} if seen.fd_detail else growth


def supervisor_restarts(doc: dict[str, Any], prefix: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for child in doc.get("children", []):
        path = prefix + child["name"]
        if child.get("restarts"):
            out[path] = child["restarts"]
        if child.get("supervisor"):
            out.update(supervisor_restarts(child["supervisor"], path + "/"))
    return out


def build(stack: Stack, options: Options, seen: Seen, exit_code: int | None, elapsed: float) -> dict[str, Any]:
    expected: dict[str, int] = {}
    unexpected: dict[str, int] = {}
    for (method, code, reason), n in sorted(seen.errors.items()):
        bucket = expected if is_expected(code, reason) else unexpected
        bucket[f"{method} {code} {reason}"] = n
    methods = {
        m: {"count": len(v), "p50_ms": round(1000 * percentile(v, 0.5), 1), "p99_ms": round(1000 * percentile(v, 0.99), 1)}
        for m, v in sorted(seen.latencies.items()) if v
    }  # fmt: skip
    files = check_files(stack, seen)
    sessions = _sessions(stack.state_db)
    cameras = actor_chaos(stack, seen)
    return {
        "options": {"mediamtx": stack.mediamtx, **attrs.asdict(options)},
        "elapsed_s": round(elapsed, 1),
        "calls": sum(len(v) for v in seen.latencies.values()),
        "methods": methods,
        "errors": {"expected": expected, "unexpected": unexpected, "unexpected_total": sum(unexpected.values())},
        "notifications": {
            **lost_notifications(seen, files, sessions),
            "camera_events": camera_events(seen, collections.Counter(cameras["actor_crashes_by_camera"])),
        },
        "process": _with_fd_detail(process_growth(seen.samples, warmup=min(60.0, options.duration / 4)), seen),
        "supervisor_restarts": supervisor_restarts(seen.supervisor),
        "chaos": {"mediamtx_kills": stack.mediamtx_kills, "publisher_kills": stack.publisher_kills,
                  "externals_added": seen.churn_added, "externals_removed": seen.churn_removed,
                  "downloads": seen.downloads, **cameras},  # fmt: skip
        "files": files,
        "service_exit_code": exit_code,
    }


def summary(report: dict[str, Any]) -> str:
    o, p, f, n, e = report["options"], report["process"], report["files"], report["notifications"], report["errors"]
    lines = [
        f"soak: {report['elapsed_s']} s, {o['clients']} clients, MediaMTX {o['mediamtx']}, "
        f"{report['calls']} calls, camsvc exit code {report['service_exit_code']}",
        f"errors: {e['unexpected_total']} unexpected, {sum(e['expected'].values())} expected",
    ]
    lines += [f"  UNEXPECTED {k}: {v}" for k, v in e["unexpected"].items()]
    lines += [f"  expected   {k}: {v}" for k, v in e["expected"].items()]
    lines.append("latency (ms)       count     p50     p99")
    lines += [f"  {m:<18}{v['count']:>6}{v['p50_ms']:>8}{v['p99_ms']:>8}" for m, v in report["methods"].items()]
    lines.append(
        f"notifications: {n['lost']} lost over {n['observers']} observers ({n['expected_per_observer']} expected each);"
        f" camera chaos: {n['camera_events']['missed']} missed ({n['camera_events']['expected_per_observer']} expected each)"
    )
    if p:
        lines.append(
            f"camsvc RSS: {p['rss_after_warmup_mb']} MB after {p['warmup_s']:g} s warm-up → {p['rss_end_mb']} MB "
            f"({p['rss_growth_pct']:+.1f}%; window medians {p.get('rss_window_medians_mb')}: "
            f"{p.get('rss_growth_median_pct', 0):+.1f}%), max {p['rss_max_mb']} MB, "
            f"{p['rss_slope_mb_per_min_last_half']} MB/min over the last half; fds idle {p['fds_idle_before']} → "
            f"{p['fds_idle_after']} (max {p['fds_max']} under load); {p['samples']} samples"
        )
    lines.append(f"supervisor restarts: {report['supervisor_restarts'] or 'none'}")
    c = report["chaos"]
    lines.append(
        f"chaos: MediaMTX killed {c['mediamtx_kills']}×, publishers killed {c['publisher_kills']}×, "
        f"externals +{c['externals_added']}/-{c['externals_removed']}, {c['downloads']} downloads; "
        f"camera actors crashed {c['actor_crashes']}× of {c['actor_crash_requests']} asked "
        f"(refused {c['actor_crashes_refused'] or 'none'}; restarts {c['camera_actor_restarts'] or 'none'}; "
        f"without restart {c['crashes_without_restart'] or 'none'}), fake nodes plugged {c['hotplugs']}× "
        f"and unplugged {c['unplugs']}×"
    )
    lines.append(
        f"files: {f['sessions']} sessions {f['sessions_by_status']}, {f['recording_files']} recording files, "
        f"{f['snapshots_taken']} snapshots"
    )
    for key in ("sessions_unknown_to_service", "sessions_still_open", "sessions_with_missing_files",
                "files_without_session", "snapshots_missing", "partial_snapshots", "sessions_without_files"):  # fmt: skip
        lines.append(f"  {key}: {len(f[key])}" + (f" {f[key][:5]}" if f[key] else ""))
    reasons = collections.Counter(s["reason"] for s in f["failed_sessions_without_files"])
    lines.append(f"  failed_sessions_without_files (they say why): {dict(reasons)}")
    return "\n".join(lines)


def write(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=True))
