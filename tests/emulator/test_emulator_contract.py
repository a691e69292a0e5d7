"""Every JSON answer of the emulator validates against MediaMTX's OpenAPI document (mediamtx-openapi.yaml).

The document is read from ``shared/reference/`` beside the checkout; see ``Contract`` in conftest.py for
the two places where it is adapted (nullable+allOf, overlapping oneOf) and for the strictness added
(no field unknown to the spec).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from tools.mediamtx_emulator import Emulator
from tools.mediamtx_emulator.recordpath import encode_segment_path

UNKNOWN_ID = "1f4e0b5c-3d2a-4c8e-9a6b-0d1e2f3a4b5c"


async def test_configuration_answers_match_the_spec(api: httpx.AsyncClient, contract: Any) -> None:
    c = contract
    c.check("GET", "/v3/info", await api.get("/v3/info"))
    body = c.check("GET", "/v3/config/global/get", await api.get("/v3/config/global/get"))
    assert body["api"] is True
    c.check(
        "PATCH",
        "/v3/config/global/patch",
        await api.patch("/v3/config/global/patch", json={"logLevel": "warn"}),
    )
    c.check("PATCH", "/v3/config/global/patch", await api.patch("/v3/config/global/patch", json={"x": 1}))
    body = c.check("GET", "/v3/config/pathdefaults/get", await api.get("/v3/config/pathdefaults/get"))
    assert body["name"] == ""
    c.check(
        "PATCH",
        "/v3/config/pathdefaults/patch",
        await api.patch("/v3/config/pathdefaults/patch", json={"recordFormat": "mpegts"}),
    )

    add = "/v3/config/paths/add/{name}"
    c.check(
        "POST", add, await api.post("/v3/config/paths/add/cam1", json={"runOnDemand": "x", "record": True})
    )
    c.check("POST", add, await api.post("/v3/config/paths/add/cam1", json={}))  # 400 exists
    c.check(
        "POST",
        add,
        await api.post(
            "/v3/config/paths/add/ipcam",
            json={
                "source": "rtsp://u:p@192.0.2.1/s",
                "sourceOnDemand": True,
                "publishPass": "x",
                "readIPs": [],
            },
        ),
    )
    c.check("PATCH", "/v3/config/paths/patch/{name}", await api.patch("/v3/config/paths/patch/cam1", json={}))
    c.check("PATCH", "/v3/config/paths/patch/{name}", await api.patch("/v3/config/paths/patch/no", json={}))
    c.check(
        "POST", "/v3/config/paths/replace/{name}", await api.post("/v3/config/paths/replace/cam2", json={})
    )
    c.check("DELETE", "/v3/config/paths/delete/{name}", await api.delete("/v3/config/paths/delete/cam2"))
    c.check("DELETE", "/v3/config/paths/delete/{name}", await api.delete("/v3/config/paths/delete/cam2"))

    body = c.check("GET", "/v3/config/paths/list", await api.get("/v3/config/paths/list"))
    assert [i["name"] for i in body["items"]] == ["all_others", "cam1", "ipcam"]
    c.check("GET", "/v3/config/paths/get/{name}", await api.get("/v3/config/paths/get/ipcam"))
    c.check("GET", "/v3/config/paths/get/{name}", await api.get("/v3/config/paths/get/nothing"))
    c.check("GET", "/v3/config/paths/list", await api.get("/v3/config/paths/list?page=x"))


async def test_runtime_answers_match_the_spec(api: httpx.AsyncClient, contract: Any) -> None:
    c = contract
    await api.post("/v3/config/paths/add/cam1", json={"runOnDemand": "x"})
    await api.post(
        "/v3/config/paths/add/ipcam", json={"source": "rtsp://192.0.2.1/s", "sourceOnDemand": True}
    )
    body = c.check("GET", "/v3/paths/list", await api.get("/v3/paths/list"))
    assert len(body["items"]) == 2
    c.check("GET", "/v3/paths/get/{name}", await api.get("/v3/paths/get/cam1"))
    c.check("GET", "/v3/paths/get/{name}", await api.get("/v3/paths/get/nothing"))
    for group in (
        "rtspconns",
        "rtspsessions",
        "rtmpconns",
        "hlssessions",
        "webrtcsessions",
        "srtconns",
        "moqsessions",
    ):
        c.check("GET", f"/v3/{group}/list", await api.get(f"/v3/{group}/list"))
        c.check("GET", f"/v3/{group}/get/{{id}}", await api.get(f"/v3/{group}/get/{UNKNOWN_ID}"))
        c.check("GET", f"/v3/{group}/get/{{id}}", await api.get(f"/v3/{group}/get/bad"))
    c.check("GET", "/v3/hlsmuxers/list", await api.get("/v3/hlsmuxers/list"))
    c.check("GET", "/v3/hlsmuxers/get/{name}", await api.get("/v3/hlsmuxers/get/cam1"))
    c.check("POST", "/v3/rtspsessions/kick/{id}", await api.post(f"/v3/rtspsessions/kick/{UNKNOWN_ID}"))
    c.check("POST", "/v3/auth/jwks/refresh", await api.post("/v3/auth/jwks/refresh"))


async def test_recordings_answers_match_the_spec(
    emu: Emulator, tmp_path: Path, api: httpx.AsyncClient, contract: Any
) -> None:
    c = contract
    start = dt.datetime(2024, 5, 1, 8, 0, 0, 500000).astimezone()
    file = tmp_path / encode_segment_path("./recordings/%path/%Y-%m-%d_%H-%M-%S-%f", "fmp4", "cam1", start)
    file.parent.mkdir(parents=True)
    file.write_bytes(b"x")
    body = c.check("GET", "/v3/recordings/list", await api.get("/v3/recordings/list"))
    assert body["items"][0]["name"] == "cam1"
    c.check("GET", "/v3/recordings/get/{name}", await api.get("/v3/recordings/get/cam1"))
    segment_start = body["items"][0]["segments"][0]["start"]
    delete = "/v3/recordings/deletesegment"
    c.check("DELETE", delete, await api.delete(delete, params={"path": "cam1", "start": segment_start}))
    c.check("DELETE", delete, await api.delete(delete, params={"path": "cam1", "start": segment_start}))


def test_the_contract_check_rejects_what_the_spec_does_not_allow(contract: Any) -> None:
    import jsonschema
    import pytest

    good = {"name": "cam1", "source": None, "ready": False, "readyTime": None, "readers": []}
    contract.check_schema("Path", good)
    for bad in (
        good | {"sourceReady": True},  # a field MediaMTX does not send
        good | {"ready": "no"},
        good | {"source": {"type": "nonsense", "id": ""}},
        good | {"readers": None},
    ):
        with pytest.raises(jsonschema.ValidationError):
            contract.check_schema("Path", bad)
