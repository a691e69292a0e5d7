"""conf/mediamtx.yml: only keys MediaMTX knows, and the addresses camsvc's defaults expect."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from camsvc.config import MediamtxConfig
from tests.helpers import REPO

CONF = REPO / "conf" / "mediamtx.yml"
SPEC = REPO / ".." / "shared" / "reference" / "mediamtx-openapi.yaml"


@pytest.fixture(scope="module")
def conf() -> dict[str, Any]:
    data = yaml.safe_load(CONF.read_text())
    assert isinstance(data, dict)
    return data


def schema_keys(name: str) -> set[str]:
    if not SPEC.exists():
        pytest.skip(f"MediaMTX OpenAPI document not found at {SPEC}")
    spec = yaml.safe_load(Path(SPEC).read_text())
    return set(spec["components"]["schemas"][name]["properties"])


def test_every_key_is_a_mediamtx_key(conf: dict[str, Any]) -> None:
    # MediaMTX refuses a config file with an unknown key, so a typo would stop it from starting
    assert set(conf) - {"pathDefaults", "paths"} <= schema_keys("GlobalConf")
    assert set(conf["pathDefaults"]) <= schema_keys("PathConf")
    user_keys = schema_keys("AuthInternalUser")
    for user in conf["authInternalUsers"]:
        assert set(user) <= user_keys


def test_addresses_match_camsvc_defaults(conf: dict[str, Any]) -> None:
    defaults = MediamtxConfig()
    assert conf["api"] is True
    assert f"http://{conf['apiAddress']}" == defaults.api_url
    assert conf["rtspAddress"] == f":{defaults.rtsp_port}"
    assert conf["hlsAddress"] == f":{defaults.hls_port}"
    assert conf["webrtcAddress"] == f":{defaults.webrtc_port}"


def test_recording_is_off_and_never_deletes(conf: dict[str, Any]) -> None:
    defaults = conf["pathDefaults"]
    assert defaults["record"] is False
    assert defaults["recordDeleteAfter"] == "0s"
    assert "%path" in defaults["recordPath"]


def test_api_is_open_to_loopback_only(conf: dict[str, Any]) -> None:
    api_users = [u for u in conf["authInternalUsers"] if any(p["action"] == "api" for p in u["permissions"])]
    assert api_users and all(set(u["ips"]) <= {"127.0.0.1", "::1"} and u["ips"] for u in api_users)


def test_no_camera_paths_are_defined_here(conf: dict[str, Any]) -> None:
    assert set(conf["paths"]) == {"all_others"}


def test_listeners_camsvc_does_not_use_are_off(conf: dict[str, Any]) -> None:
    # MediaMTX turns most of these on when the key is absent (test_shipped_config.py checks the sockets)
    assert {k: conf.get(k) for k in ("rtmp", "srt", "moq", "metrics", "pprof", "playback")} == dict.fromkeys(
        ("rtmp", "srt", "moq", "metrics", "pprof", "playback"), False
    )
    assert "multicast" not in conf["rtspTransports"]
    assert conf["apiAddress"].startswith("127.0.0.1:")
