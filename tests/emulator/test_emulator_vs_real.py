"""The emulator answers as the real MediaMTX does: the same requests to both, answers compared.

Every endpoint, error and config default camsvc relies on (camsvc/mediamtx/client.py): info, the
global config and path defaults (read from the same config file), the path list with pagination,
add/get/patch/replace/delete of a path with camsvc's own keys and their errors, the runtime path
list and get, and gin's plain-text 404. Status, body shape and values must be equal; only what
differs by nature (start times, ports, version string, ids) is masked. Where they disagree, the
real server is right. Runs whenever the real binary is present (see tests/mediamtx_targets.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio

from tests.mediamtx_targets import MediamtxTarget, open_target, real_binary

# Answers differ here by nature, not by fidelity: masked to their JSON type.
VOLATILE = frozenset(
    {"started", "version", "readyTime", "availableTime", "onlineTime", "created", "id",
     "apiAddress", "rtspAddress", "rtpAddress", "rtcpAddress"}
)  # fmt: skip

# A path as camsvc's reconciler writes it (camsvc/mediamtx/paths.py): every key it manages.
CAMERA = {
    "source": "publisher",
    "runOnDemand": "true -f lavfi -i testsrc -f rtsp rtsp://localhost:$RTSP_PORT/$MTX_PATH",
    "runOnDemandRestart": True,
    "runOnInit": "",
    "runOnInitRestart": False,
    "runOnDemandStartTimeout": "10s",
    "runOnDemandCloseAfter": "10s",
    "sourceOnDemand": False,
    "sourceOnDemandStartTimeout": "10s",
    "sourceOnDemandCloseAfter": "10s",
    "record": False,
    "recordPath": "/var/recordings/%path_%Y-%m-%d_%H-%M-%S-%f",
    "recordFormat": "fmp4",
    "recordSegmentDuration": "1800s",
    "recordDeleteAfter": "0s",
}
NETWORK = CAMERA | {"source": "rtsp://192.0.2.10:554/live", "sourceOnDemand": True, "runOnDemand": ""}

Step = tuple[str, str, Any]  # method, URL, JSON body (bytes: sent raw)

SCENARIOS: dict[str, list[Step]] = {
    "info": [("GET", "/v3/info", None)],
    "global config from the file": [("GET", "/v3/config/global/get", None)],
    "path defaults from the file": [("GET", "/v3/config/pathdefaults/get", None)],
    "entries from the file": [("GET", "/v3/config/paths/list", None), ("GET", "/v3/config/paths/get/all_others", None)],
    "add, get, list a camera path": [
        ("POST", "/v3/config/paths/add/camera0", CAMERA),
        ("GET", "/v3/config/paths/get/camera0", None),
        ("POST", "/v3/config/paths/add/stream0", NETWORK),
        ("GET", "/v3/config/paths/list", None),
        ("GET", "/v3/config/paths/list?page=1&itemsPerPage=2", None),
        ("GET", "/v3/config/paths/list?page=5&itemsPerPage=2", None),
    ],
    "patch and replace": [
        ("POST", "/v3/config/paths/add/camera0", CAMERA),
        ("PATCH", "/v3/config/paths/patch/camera0",
         {"record": True, "recordFormat": "mpegts", "runOnInit": CAMERA["runOnDemand"], "runOnDemand": ""}),
        ("GET", "/v3/config/paths/get/camera0", None),
        ("POST", "/v3/config/paths/replace/camera0", NETWORK),
        ("GET", "/v3/config/paths/get/camera0", None),
        ("POST", "/v3/config/paths/replace/camera1", CAMERA),  # replace is an upsert
        ("GET", "/v3/config/paths/get/camera1", None),
    ],
    "delete": [
        ("POST", "/v3/config/paths/add/camera0", CAMERA),
        ("DELETE", "/v3/config/paths/delete/camera0", None),
        ("DELETE", "/v3/config/paths/delete/camera0", None),
        ("GET", "/v3/config/paths/get/camera0", None),
    ],
    "errors camsvc maps": [
        ("POST", "/v3/config/paths/add/camera0", CAMERA),
        ("POST", "/v3/config/paths/add/camera0", CAMERA),
        ("PATCH", "/v3/config/paths/patch/camera0", {"nope": 1}),
        ("PATCH", "/v3/config/paths/patch/camera0", {"record": "yes"}),
        ("PATCH", "/v3/config/paths/patch/missing", {"record": True}),
        ("POST", "/v3/config/paths/add/stream0", NETWORK | {"source": "rtsp://host:abc/x"}),
        ("POST", "/v3/config/paths/add/stream0", NETWORK | {"recordFormat": "avi"}),
        ("POST", "/v3/config/paths/add/bad%20name", CAMERA),
        ("POST", "/v3/config/paths/add/camera2", b"{"),
        ("POST", "/v3/config/paths/add/camera2", b"[]"),
        ("PATCH", "/v3/config/paths/patch/camera0", {"record": 1}),
        ("GET", "/v3/config/paths/get/missing", None),
        ("GET", "/v3/nope", None),
    ],
    "runtime paths": [
        ("POST", "/v3/config/paths/add/camera0", CAMERA),
        ("GET", "/v3/paths/list", None),
        ("GET", "/v3/paths/get/camera0", None),
        ("GET", "/v3/paths/get/missing", None),
    ],
}


@attrs.frozen
class Answer:
    status: int
    body: Any  # masked JSON, or the text when the answer is not JSON


def mask(value: Any, work_dir: str) -> Any:
    """Volatile values become their type name; each target's own work dir becomes ``<work>``."""
    if isinstance(value, dict):
        return {k: (type(v).__name__ if k in VOLATILE else mask(v, work_dir)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, work_dir) for v in value]
    if isinstance(value, str):
        return value.replace(work_dir, "<work>")
    return value


async def send(http: httpx.AsyncClient, target: MediamtxTarget, method: str, url: str, body: Any) -> Answer:
    content = body if isinstance(body, bytes) else None if body is None else json.dumps(body).encode()
    reply = await http.request(method, url, content=content)
    try:
        return Answer(reply.status_code, mask(reply.json(), str(target.work_dir)))
    except ValueError:
        return Answer(reply.status_code, reply.text)


@pytest.fixture
def real() -> Path:
    return real_binary()  # skips, naming what is missing


@pytest.fixture
async def both(real: Path, tmp_path: Path) -> AsyncIterator[tuple[MediamtxTarget, MediamtxTarget]]:
    async with open_target("emulator", tmp_path / "emulator") as emu, open_target("real", tmp_path / "real") as mtx:
        yield emu, mtx


def diff(emulated: Any, real: Any, where: str = "") -> list[str]:
    """Every place where the emulator's answer differs from the real one, by JSON path."""
    if isinstance(emulated, dict) and isinstance(real, dict):
        out = [f"{where}.{k}: only in the real answer" for k in real.keys() - emulated.keys()]
        out += [f"{where}.{k}: only in the emulator's answer" for k in emulated.keys() - real.keys()]
        for k in sorted(real.keys() & emulated.keys()):
            out += diff(emulated[k], real[k], f"{where}.{k}")
        return out
    if isinstance(emulated, list) and isinstance(real, list) and len(emulated) == len(real):
        return [d for i, (e, r) in enumerate(zip(emulated, real, strict=True)) for d in diff(e, r, f"{where}[{i}]")]
    if emulated != real:
        return [f"{where or 'body'}: emulator {emulated!r} != real {real!r}"]
    return []


async def ready_path(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    with trio.fail_after(15):
        while True:
            item: dict[str, Any] = (await http.get(f"/v3/paths/get/{name}")).json()
            if item["ready"]:
                return item
            await trio.sleep(0.1)  # polling interval of a deadline loop


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_same_answers_as_the_real_server(
    scenario: str, both: tuple[MediamtxTarget, MediamtxTarget]
) -> None:
    emu, mtx = both
    problems: list[str] = []
    async with (
        httpx.AsyncClient(base_url=emu.api_url, timeout=5) as emu_http,
        httpx.AsyncClient(base_url=mtx.api_url, timeout=5) as mtx_http,
    ):
        for method, url, body in SCENARIOS[scenario]:
            emulated = await send(emu_http, emu, method, url, body)
            real_answer = await send(mtx_http, mtx, method, url, body)
            step = f"{method} {url}"
            if emulated.status != real_answer.status:
                problems.append(f"{step}: status emulator {emulated.status} != real {real_answer.status}")
            problems += [f"{step}: {d}" for d in diff(emulated.body, real_answer.body)]
    assert not problems, "\n".join(problems)


async def test_runtime_paths_are_the_same_once_a_publisher_is_up(
    both: tuple[MediamtxTarget, MediamtxTarget],
) -> None:
    """A runOnInit publisher makes the path ready on both; the runtime item has the same shape."""
    ffmpeg = "ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=320x240:rate=10 -c:v libx264"
    publish = f"{ffmpeg} -preset ultrafast -g 10 -f rtsp rtsp://localhost:$RTSP_PORT/$MTX_PATH"
    items = []
    for target in both:
        async with httpx.AsyncClient(base_url=target.api_url, timeout=5) as http:
            assert (await http.post("/v3/config/paths/add/live", json={"runOnInit": publish})).status_code == 200
            item = await ready_path(http, "live")
            counters = ("inboundBytes", "bytesReceived")
            items.append(mask({k: v for k, v in item.items() if k not in counters}, str(target.work_dir)))
    assert not diff(items[0], items[1]), "\n".join(diff(items[0], items[1]))
