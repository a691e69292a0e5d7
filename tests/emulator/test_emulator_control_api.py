"""The control API against the rules of mediamtx-api-notes.md (§1–§10).

Tests taking ``target_api`` run against the emulator and the real server (ids ``emulator``/``real``).
Those taking ``api`` are the emulator's own: they rely on its stock configuration (no config file:
only ``all_others``, every listener on, so every list endpoint answers), its credentials, fault
injection or restart, which a per-test real server (RTSP/TCP and the API only) does not offer.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from tools.mediamtx_emulator import Emulator, EmulatorConfig, open_emulator
from tools.mediamtx_emulator.recordpath import encode_segment_path

RTSP_SOURCE = "rtsp://192.0.2.1:554/stream"


def error_of(resp: httpx.Response) -> str:
    body = resp.json()
    assert body["status"] == "error"
    return str(body["error"])


# ---- basics


async def test_info_reports_version_and_a_start_time(emu: Emulator, api: httpx.AsyncClient) -> None:
    resp = await api.get("/v3/info")
    assert resp.status_code == 200
    body = resp.json()
    assert body["version"] == "v1.20.1"
    started = dt.datetime.fromisoformat(body["started"].replace("Z", "+00:00"))
    assert abs((dt.datetime.now(dt.UTC) - started).total_seconds()) < 60


async def test_stock_config_has_only_all_others(api: httpx.AsyncClient) -> None:
    body = (await api.get("/v3/config/paths/list")).json()
    assert [item["name"] for item in body["items"]] == ["all_others"]
    assert body["itemCount"] == 1 and body["pageCount"] == 1
    defaults = (await api.get("/v3/config/pathdefaults/get")).json()
    assert defaults["name"] == ""
    assert defaults["source"] == "publisher"
    assert defaults["recordPath"] == "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f"
    assert defaults["recordSegmentDuration"] == "1h0m0s"
    assert defaults["recordDeleteAfter"] == "1d"
    assert defaults["runOnDemandCloseAfter"] == "10s"
    assert defaults["overridePublisher"] is True


async def test_success_without_payload_is_status_ok(target_api: httpx.AsyncClient) -> None:
    resp = await target_api.post("/v3/config/paths/add/cam1", json={})
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    assert resp.headers["content-type"].startswith("application/json")


async def test_unknown_routes_and_wrong_methods_get_plain_text_404(target_api: httpx.AsyncClient) -> None:
    for method, url in [
        ("GET", "/v3/nothing"),
        ("GET", "/v2/paths/list"),
        ("POST", "/v3/paths/list"),
        ("GET", "/v3/config/paths/add/cam1"),
        ("DELETE", "/v3/config/paths/get/cam1"),
        ("GET", "/v3/rtspsconns/list"),  # RTSPS is off in the stock config: route not registered
    ]:
        resp = await target_api.request(method, url)
        assert resp.status_code == 404, (method, url)
        assert resp.text == "404 page not found"
        assert resp.headers["content-type"].startswith("text/plain")


async def test_empty_name_is_invalid_and_bare_route_redirects(target_api: httpx.AsyncClient) -> None:
    resp = await target_api.get("/v3/config/paths/get/")
    assert resp.status_code == 400
    assert error_of(resp) == "invalid name"
    resp = await target_api.get("/v3/config/paths/get")
    assert resp.status_code == 301
    assert resp.headers["location"] == "/v3/config/paths/get/"


# ---- strict decoding


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "unexpected end of JSON input"),
        (b"{", "unexpected end of JSON input"),
        (b"nope", "invalid character 'o' in literal null (expecting 'u')"),
        (b"{'a': 1}", "invalid character '\\'' looking for beginning of object key string"),
        (b'{"record": true} x', "invalid character 'x' after top-level value"),
        (b"[]", "json: cannot unmarshal array into Go value of type map[string]json.RawMessage"),
        (b'{"foo": 1}', 'json: unknown field "foo"'),
        (b'{"record": "yes"}', "json: cannot unmarshal string into Go value of type bool"),
        (b'{"source": 5}', "json: cannot unmarshal number into Go value of type string"),
        (b'{"recordSegmentDuration": 60}', "json: cannot unmarshal number into Go value of type string"),
        (b'{"recordSegmentDuration": "abc"}', 'time: invalid duration "abc"'),
        (b'{"recordSegmentDuration": "10"}', 'time: missing unit in duration "10"'),
        (b'{"maxReaders": 1.5}', "json: cannot unmarshal number 1.5 into Go value of type int"),
        (b'{"rpiCameraWidth": -1}', "json: cannot unmarshal number -1 into Go value of type uint"),
        (b'{"forward": [{"dest": "srt://x", "x": 1}]}', 'json: unknown field "forward[0].x"'),
        (b'{"recordFormat": "mkv"}', "invalid record format 'mkv'"),
    ],
)
async def test_bodies_are_decoded_strictly(target_api: httpx.AsyncClient, body: bytes, message: str) -> None:
    resp = await target_api.post("/v3/config/paths/add/cam1", content=body)
    assert resp.status_code == 400
    got = error_of(resp)
    if body == b"nope":
        # Go names the literal it was reading; the emulator reports the first bad character.
        assert got.startswith("invalid character ")
    else:
        assert got == message
    assert (await target_api.get("/v3/config/paths/get/cam1")).status_code == 404  # nothing was created


# ---- normalisation and effective config


@pytest.mark.parametrize(
    ("given", "shown"),
    [("3600s", "1h0m0s"), ("24h", "1d"), ("90s", "1m30s"), ("0s", ""), ("1d2h", "1d2h0m0s"),
     ("1.5s", "1.5s"), ("500ms", "500ms"), ("", "")],
)  # fmt: skip
async def test_durations_are_normalised(target_api: httpx.AsyncClient, given: str, shown: str) -> None:
    resp = await target_api.post(
        "/v3/config/paths/add/cam1", json={"runOnDemandCloseAfter": given, "recordDeleteAfter": "0s"}
    )
    assert resp.status_code == 200, resp.text
    conf = (await target_api.get("/v3/config/paths/get/cam1")).json()
    assert conf["runOnDemandCloseAfter"] == shown


async def test_get_returns_effective_config_with_name(target_api: httpx.AsyncClient) -> None:
    await target_api.post(
        "/v3/config/paths/add/group/cam1", json={"runOnDemand": "ffmpeg x", "recordMaxPartSize": "2097152B"}
    )
    conf = (await target_api.get("/v3/config/paths/get/group/cam1")).json()
    assert conf["name"] == "group/cam1"
    assert conf["runOnDemand"] == "ffmpeg x"
    assert conf["recordMaxPartSize"] == "2M"
    assert conf["source"] == "publisher"  # from the defaults
    assert conf["record"] is False
    assert "publishUser" not in conf and "runOnReady" not in conf  # deprecated: absent until set


async def test_deprecated_fields_are_echoed_once_set_and_secrets_redacted(api: httpx.AsyncClient) -> None:
    resp = await api.post(
        "/v3/config/paths/add/cam1",
        json={"publishUser": "u", "publishPass": "secret", "disablePublisherOverride": True},
    )
    assert resp.status_code == 200, resp.text
    conf = (await api.get("/v3/config/paths/get/cam1")).json()
    assert conf["publishUser"] == "u"
    assert conf["publishPass"] == "<redacted>"
    assert conf["disablePublisherOverride"] is True
    assert conf["overridePublisher"] is False
    raw = (await api.get("/v3/config/paths/get/cam1")).content
    assert b"\\u003credacted\\u003e" in raw  # Go's encoder escapes < and >


async def test_null_leaves_unchanged_in_patch_and_means_default_in_replace(target_api: httpx.AsyncClient) -> None:
    await target_api.post("/v3/config/paths/add/cam1", json={"runOnDemand": "a", "runOnDemandCloseAfter": "5s"})
    resp = await target_api.patch("/v3/config/paths/patch/cam1", json={"runOnDemand": None, "record": True})
    assert resp.status_code == 200
    conf = (await target_api.get("/v3/config/paths/get/cam1")).json()
    assert conf["runOnDemand"] == "a" and conf["record"] is True and conf["runOnDemandCloseAfter"] == "5s"
    resp = await target_api.post("/v3/config/paths/replace/cam1", json={"runOnDemand": None, "record": True})
    assert resp.status_code == 200
    conf = (await target_api.get("/v3/config/paths/get/cam1")).json()
    assert conf["runOnDemand"] == "" and conf["record"] is True
    assert conf["runOnDemandCloseAfter"] == "10s"  # replace dropped the old override


# ---- status codes


async def test_mutation_status_codes(target_api: httpx.AsyncClient) -> None:
    assert (await target_api.post("/v3/config/paths/add/cam1", json={})).status_code == 200
    resp = await target_api.post("/v3/config/paths/add/cam1", json={})
    assert resp.status_code == 400 and error_of(resp) == "path already exists"
    resp = await target_api.post("/v3/config/paths/add/all_others", json={})
    assert resp.status_code == 400 and error_of(resp) == "path already exists"
    resp = await target_api.patch("/v3/config/paths/patch/ghost", json={})
    assert resp.status_code == 404 and error_of(resp) == "path not found"
    resp = await target_api.delete("/v3/config/paths/delete/ghost")
    assert resp.status_code == 404 and error_of(resp) == "path not found"
    resp = await target_api.get("/v3/config/paths/get/ghost")
    assert resp.status_code == 404 and error_of(resp) == "path configuration not found"
    assert (await target_api.delete("/v3/config/paths/delete/cam1")).status_code == 200
    assert (await target_api.get("/v3/config/paths/get/cam1")).status_code == 404


async def test_replace_is_an_upsert(target_api: httpx.AsyncClient) -> None:
    resp = await target_api.post("/v3/config/paths/replace/cam9", json={"runOnDemand": "x"})
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    assert (await target_api.get("/v3/config/paths/get/cam9")).json()["runOnDemand"] == "x"


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        ("bad name", {}, "invalid path name 'bad name': can contain only alphanumeric characters, underscore, dot, minus, slash"),
        ("/cam", {}, "invalid path name '/cam': can't begin with a slash"),
        ("cam/", {}, "invalid path name 'cam/': can't end with a slash"),
        ("a/%2E%2E/b", {}, "invalid path name 'a/../b': can't contain dot path segments"),
        ("~(", {}, "invalid regular expression: ("),
        ("cam", {"source": "foo"}, "invalid source: 'foo'"),
        ("cam", {"source": RTSP_SOURCE, "runOnDemand": "x"},
         "'runOnDemand' and 'runOnUnDemand' can be used only when source is 'publisher'"),
        ("cam", {"sourceOnDemand": True}, "'sourceOnDemand' is useless when source is 'publisher'"),
        ("cam", {"recordPath": "./rec/%Y-%m-%d_%H-%M-%S"}, "'recordPath' must contain %path"),
        ("cam", {"recordPath": "./rec/%path/%Y-%m"}, "'recordPath' must contain either %s or %Y %m %d %H %M %S"),
        ("cam", {"recordSegmentDuration": "25h", "recordDeleteAfter": "0s"}, "maximum segment duration is 1 day"),
        ("cam", {"recordDeleteAfter": "30m", "recordSegmentDuration": "1h"},
         "'recordDeleteAfter' cannot be lower than 'recordSegmentDuration'"),
        ("~^cam", {"runOnInit": "x"},
         "a path with a regular expression (or path 'all_others') does not support option 'runOnInit'; use another path"),
        ("~^cam", {"source": RTSP_SOURCE},
         "a path with a regular expression (or path 'all_others') and a static source must have 'sourceOnDemand' set to true"),
        ("all", {}, "all_others, all and '~^.*$' are aliases"),
        ("cam", {"source": "rtmp://user@host/app"}, "username and password must be both provided"),
        ("cam", {"source": "rtsp://host:port/x"}, "'rtsp://host:port/x' is not a valid URL"),
    ],
)  # fmt: skip
async def test_validation_messages(
    target_api: httpx.AsyncClient, name: str, body: dict[str, Any], message: str
) -> None:
    resp = await target_api.post(f"/v3/config/paths/add/{name}", json=body)
    assert resp.status_code == 400
    assert error_of(resp) == message
    names = [i["name"] for i in (await target_api.get("/v3/config/paths/list")).json()["items"]]
    assert names == ["all_others"]  # a refused change changes nothing


async def test_valid_special_configurations_are_accepted(target_api: httpx.AsyncClient) -> None:
    ok = [
        ("cam1", {"recordSegmentDuration": "1d", "recordDeleteAfter": "0s"}),
        ("cam2", {"recordDeleteAfter": ""}),
        ("cam3", {"source": RTSP_SOURCE, "sourceOnDemand": True}),
        ("cam4", {"recordPath": "/data/%path/%s"}),
    ]
    for name, body in ok:
        resp = await target_api.post(f"/v3/config/paths/add/{name}", json=body)
        assert resp.status_code == 200, (name, resp.text)
    resp = await target_api.post("/v3/config/paths/add/%7E%5Ecam_(%5Cd%2B)%24", json={})
    assert resp.status_code == 200, resp.text
    assert (await target_api.get("/v3/config/paths/get/%7E%5Ecam_(%5Cd%2B)%24")).json()["name"] == "~^cam_(\\d+)$"


async def test_whole_config_is_revalidated(api: httpx.AsyncClient) -> None:
    resp = await api.patch("/v3/config/pathdefaults/patch", json={"recordPath": "./x/%Y-%m-%d_%H-%M-%S"})
    assert resp.status_code == 400 and error_of(resp) == "'recordPath' must contain %path"
    assert (
        (await api.get("/v3/config/pathdefaults/get")).json()["recordPath"].startswith("./recordings/%path")
    )
    # enabling playback makes %f mandatory in every entry
    await api.post("/v3/config/paths/add/cam1", json={"recordPath": "./r/%path/%Y-%m-%d_%H-%M-%S"})
    resp = await api.patch("/v3/config/global/patch", json={"playback": True})
    assert resp.status_code == 400 and error_of(resp) == "'recordPath' must contain %f"
    assert (await api.get("/v3/config/global/get")).json()["playback"] is False


async def test_path_defaults_patch_applies_to_entries(target_api: httpx.AsyncClient) -> None:
    await target_api.post("/v3/config/paths/add/cam1", json={})
    resp = await target_api.patch("/v3/config/pathdefaults/patch", json={"runOnDemandCloseAfter": "2m"})
    assert resp.status_code == 200
    assert (await target_api.get("/v3/config/paths/get/cam1")).json()["runOnDemandCloseAfter"] == "2m0s"
    assert (await target_api.get("/v3/config/pathdefaults/get")).json()["runOnDemandCloseAfter"] == "2m0s"


async def test_global_config_get_and_patch(api: httpx.AsyncClient, emu: Emulator) -> None:
    conf = (await api.get("/v3/config/global/get")).json()
    assert conf["api"] is True
    assert conf["rtspAddress"] == f":{emu.rtsp_port}"
    assert conf["readTimeout"] == "10s"
    resp = await api.patch("/v3/config/global/patch", json={"readTimeout": "20s", "logLevel": "debug"})
    assert resp.status_code == 200
    conf = (await api.get("/v3/config/global/get")).json()
    assert conf["readTimeout"] == "20s" and conf["logLevel"] == "debug"
    resp = await api.patch("/v3/config/global/patch", json={"nope": 1})
    assert resp.status_code == 400 and error_of(resp) == 'json: unknown field "nope"'


# ---- pagination


async def test_pagination(target_api: httpx.AsyncClient) -> None:
    for name in ["e", "b", "d", "a", "c"]:
        await target_api.post(f"/v3/config/paths/add/{name}", json={})
    body = (await target_api.get("/v3/config/paths/list", params={"itemsPerPage": 2})).json()
    assert body["itemCount"] == 6 and body["pageCount"] == 3
    assert [i["name"] for i in body["items"]] == ["a", "all_others"]
    body = (await target_api.get("/v3/config/paths/list", params={"itemsPerPage": 2, "page": 2})).json()
    assert [i["name"] for i in body["items"]] == ["d", "e"]
    body = (await target_api.get("/v3/config/paths/list", params={"page": 7})).json()
    assert body["items"] == [] and body["itemCount"] == 6 and body["pageCount"] == 1
    runtime = (await target_api.get("/v3/paths/list", params={"itemsPerPage": 4, "page": 1})).json()
    assert [i["name"] for i in runtime["items"]] == ["e"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"itemsPerPage": "0"}, "invalid items per page"),
        ({"itemsPerPage": "x"}, 'strconv.ParseUint: parsing "x": invalid syntax'),
        ({"page": "-1"}, 'strconv.ParseUint: parsing "-1": invalid syntax'),
        (
            {"page": "99999999999999999999"},
            'strconv.ParseUint: parsing "99999999999999999999": value out of range',
        ),
    ],
)
async def test_bad_pagination_parameters(
    target_api: httpx.AsyncClient, params: dict[str, str], message: str
) -> None:
    resp = await target_api.get("/v3/paths/list", params=params)
    assert resp.status_code == 400
    assert error_of(resp) == message


async def test_empty_lists_are_empty_arrays(api: httpx.AsyncClient) -> None:
    for group in [
        "paths",
        "rtspconns",
        "rtspsessions",
        "rtmpconns",
        "hlsmuxers",
        "webrtcsessions",
        "srtconns",
    ]:
        body = (await api.get(f"/v3/{group}/list")).json()
        assert body == {"itemCount": 0, "pageCount": 0, "items": []}, group


# ---- runtime paths


async def test_runtime_path_exists_for_each_configured_entry(target_api: httpx.AsyncClient) -> None:
    assert (await target_api.get("/v3/paths/get/cam1")).status_code == 404
    await target_api.post("/v3/config/paths/add/cam1", json={"runOnDemand": "ffmpeg -version"})
    resp = await target_api.get("/v3/paths/get/cam1")
    assert resp.status_code == 200
    item = resp.json()
    assert item["name"] == "cam1" and item["confName"] == "cam1"
    assert item["ready"] is False and item["available"] is False
    assert item["readyTime"] is None and item["availableTime"] is None
    assert item["source"] is None
    assert item["readers"] == [] and item["tracks"] == [] and item["tracks2"] == []
    assert item["bytesReceived"] == 0 and item["inboundBytes"] == 0
    assert [i["name"] for i in (await target_api.get("/v3/paths/list")).json()["items"]] == ["cam1"]
    await target_api.delete("/v3/config/paths/delete/cam1")
    resp = await target_api.get("/v3/paths/get/cam1")
    assert resp.status_code == 404 and error_of(resp) == "path not found"


async def test_names_matched_only_by_a_regexp_have_no_idle_runtime_path(target_api: httpx.AsyncClient) -> None:
    await target_api.post("/v3/config/paths/add/%7E%5Ecam", json={})
    resp = await target_api.get("/v3/paths/get/cam7")
    assert resp.status_code == 404 and error_of(resp) == "path not found"
    assert (await target_api.get("/v3/paths/list")).json()["items"] == []


async def test_static_source_is_reported_before_it_connects(target_api: httpx.AsyncClient) -> None:
    await target_api.post("/v3/config/paths/add/ipcam", json={"source": RTSP_SOURCE, "sourceOnDemand": True})
    item = (await target_api.get("/v3/paths/get/ipcam")).json()
    assert item["source"] == {"type": "rtspSource", "id": ""}
    assert item["ready"] is False and item["readyTime"] is None


# ---- auth, faults, restarts


async def test_auth_required_when_configured(tmp_path: Path) -> None:
    config = EmulatorConfig(
        api_port=0, rtsp_port=None, record_dir=tmp_path, auth=("admin", "s3cret"), auth_failure_delay=0
    )
    async with open_emulator(config) as emu, httpx.AsyncClient(base_url=emu.api_url) as client:
        resp = await client.get("/v3/info")
        assert resp.status_code == 401
        assert resp.json() == {"status": "error", "error": "authentication error"}
        assert resp.headers["www-authenticate"] == 'Basic realm="mediamtx"'
        resp = await client.get("/v3/info", auth=("admin", "wrong"))
        assert resp.status_code == 401 and "www-authenticate" not in resp.headers
        assert (await client.get("/v3/nothing")).status_code == 401  # auth runs before routing
        assert (await client.get("/v3/info", auth=("admin", "s3cret"))).status_code == 200
        bearer = {"Authorization": "Bearer admin:s3cret"}
        assert (await client.get("/v3/info", headers=bearer)).status_code == 200
        users = (await client.get("/v3/config/global/get", auth=("admin", "s3cret"))).json()[
            "authInternalUsers"
        ]
        assert {"user": "admin", "pass": "<redacted>"}.items() <= users[1].items()


async def test_wrong_credentials_are_answered_late_by_default(tmp_path: Path) -> None:
    config = EmulatorConfig(api_port=0, rtsp_port=None, record_dir=tmp_path, auth=("a", "b"))
    async with open_emulator(config) as emu, httpx.AsyncClient(base_url=emu.api_url, timeout=0.05) as client:
        assert (await client.get("/v3/info")).status_code == 401  # no credentials: answered at once
        # Wrong credentials wait a random 0-4 s; a 50 ms client timeout fires unless the draw was tiny.
        outcomes = []
        for _ in range(3):
            try:
                outcomes.append((await client.get("/v3/info", auth=("a", "x"))).status_code)
            except httpx.ReadTimeout:
                outcomes.append("timeout")
        assert "timeout" in outcomes


async def test_injected_failures_hangs_and_delays(emu: Emulator, api: httpx.AsyncClient) -> None:
    emu.faults.fail(500)
    resp = await api.get("/v3/paths/list")
    assert resp.status_code == 500
    assert resp.json() == {"status": "error", "error": "terminated"}
    emu.faults.clear()
    assert (await api.get("/v3/paths/list")).status_code == 200

    emu.faults.hang()
    with pytest.raises(httpx.ReadTimeout):
        await api.get("/v3/info", timeout=0.3)
    last = emu.requests[-1]
    assert (last.method, last.target, last.status) == ("GET", "/v3/info", None)  # held, never answered
    emu.faults.clear()
    assert (await api.get("/v3/info")).status_code == 200

    emu.faults.fail(503, "busy")
    emu.faults.only("/v3/config/")
    assert (await api.get("/v3/info")).status_code == 200
    assert (await api.get("/v3/config/paths/list")).status_code == 503
    emu.faults.clear()
    statuses = [(r.method, r.target, r.status) for r in emu.requests]
    assert ("GET", "/v3/config/paths/list", 503) in statuses


async def test_restart_forgets_api_made_config_and_changes_started(
    emu: Emulator, api: httpx.AsyncClient
) -> None:
    before = (await api.get("/v3/info")).json()["started"]
    await api.post("/v3/config/paths/add/cam1", json={})
    async with trio.open_nursery() as nursery:
        nursery.start_soon(emu.restart, 0.3)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(httpx.ConnectError):  # down: connection refused
            await api.get("/v3/info")
    after = (await api.get("/v3/info")).json()["started"]
    assert after != before
    assert (await api.get("/v3/config/paths/get/cam1")).status_code == 404
    assert (await api.get("/v3/paths/get/cam1")).status_code == 404
    assert [i["name"] for i in (await api.get("/v3/config/paths/list")).json()["items"]] == ["all_others"]


# ---- misc routes


async def test_ids_are_parsed_as_uuids(api: httpx.AsyncClient) -> None:
    resp = await api.get("/v3/rtspsessions/get/abc")
    assert resp.status_code == 400 and error_of(resp) == "invalid UUID length: 3"
    unknown = "1f4e0b5c-3d2a-4c8e-9a6b-0d1e2f3a4b5c"
    resp = await api.get(f"/v3/rtspsessions/get/{unknown}")
    assert resp.status_code == 404 and error_of(resp) == "session not found"
    resp = await api.post(f"/v3/rtspsessions/kick/{unknown}")
    assert resp.status_code == 404 and error_of(resp) == "session not found"
    resp = await api.get(f"/v3/rtspconns/get/{unknown}")
    assert resp.status_code == 404 and error_of(resp) == "connection not found"
    resp = await api.get("/v3/hlsmuxers/get/cam1")
    assert resp.status_code == 404 and error_of(resp) == "muxer not found"


async def test_cors_preflight(target_api: httpx.AsyncClient) -> None:
    resp = await target_api.options(
        "/v3/config/paths/add/cam1", headers={"Origin": "http://x", "Access-Control-Request-Method": "POST"}
    )
    assert resp.status_code == 204
    assert resp.headers["access-control-allow-origin"] == "*"


# ---- recordings (files made by hand here; real ones in the media tests)


def _segment(tmp_path: Path, name: str, start: dt.datetime, record_format: str = "fmp4") -> Path:
    default = "./recordings/%path/%Y-%m-%d_%H-%M-%S-%f"
    file = tmp_path / encode_segment_path(default, record_format, name, start)
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(b"x")
    return file


async def test_recordings_list_get_and_delete(tmp_path: Path, api: httpx.AsyncClient) -> None:
    local = dt.datetime(2024, 1, 14, 16, 33, 17, 123456).astimezone()
    _segment(tmp_path, "cam1", local + dt.timedelta(hours=1))
    first = _segment(tmp_path, "cam1", local)
    _segment(tmp_path, "group/cam2", local)
    (tmp_path / "recordings" / "cam1" / "notes.txt").write_text("not a segment")

    body = (await api.get("/v3/recordings/list")).json()
    assert [i["name"] for i in body["items"]] == ["cam1", "group/cam2"]
    starts = [s["start"] for s in body["items"][0]["segments"]]
    assert len(starts) == 2 and starts[0] < starts[1]
    assert re.fullmatch(r"2024-01-14T16:33:17\.123456(Z|[+-]\d\d:\d\d)", starts[0])

    got = (await api.get("/v3/recordings/get/cam1")).json()
    assert got["name"] == "cam1" and [s["start"] for s in got["segments"]] == starts
    empty = await api.get("/v3/recordings/get/cam3")
    assert empty.status_code == 200 and empty.json() == {"name": "cam3", "segments": []}

    resp = await api.delete("/v3/recordings/deletesegment", params={"path": "cam1", "start": starts[0]})
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}
    assert not first.exists()
    resp = await api.delete("/v3/recordings/deletesegment", params={"path": "cam1", "start": starts[0]})
    assert resp.status_code == 400 and error_of(resp).endswith(": no such file or directory")
    assert error_of(resp).startswith("remove ./recordings/cam1/2024-01-14_16-33-17-123456.mp4")
    resp = await api.delete("/v3/recordings/deletesegment", params={"path": "cam1", "start": "yesterday"})
    assert resp.status_code == 400 and error_of(resp).startswith("invalid 'start' parameter: ")


async def test_recordings_of_unconfigured_names(target_api: httpx.AsyncClient) -> None:
    await target_api.delete("/v3/config/paths/delete/all_others")
    resp = await target_api.get("/v3/recordings/get/cam1")
    assert resp.status_code == 400 and error_of(resp) == "path 'cam1' is not configured"
