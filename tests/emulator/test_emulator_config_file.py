"""The emulator reads the mediamtx.yml it is given, as MediaMTX does (the real server is the reference:
test_emulator_vs_real.py compares the two; these hold without a real binary)."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
import trio
import yaml

from tests.helpers import REPO
from tools.mediamtx_emulator import EmulatorConfig, open_emulator
from tools.mediamtx_emulator.conffile import ConfFileError, load_conf_file


def _config(tmp_path: Path, conf: dict[str, object]) -> EmulatorConfig:
    path = tmp_path / "mediamtx.yml"
    path.write_text(yaml.safe_dump(conf))
    return EmulatorConfig(api_port=0, rtsp_port=None, record_dir=tmp_path, config_file=path, auth_failure_delay=0)


async def test_path_defaults_and_entries_come_from_the_file(tmp_path: Path) -> None:
    conf = {
        "logLevel": "warn",
        "pathDefaults": {"recordPath": "/srv/rec/%path_%Y-%m-%d_%H-%M-%S-%f", "recordSegmentDuration": "30m",
                         "recordDeleteAfter": "0s"},
        "paths": {"fixed": {"source": "publisher", "maxReaders": 2}},
    }  # fmt: skip
    async with open_emulator(_config(tmp_path, conf)) as emu, httpx.AsyncClient(base_url=emu.api_url) as api:
        defaults = (await api.get("/v3/config/pathdefaults/get")).json()
        assert defaults["recordPath"] == "/srv/rec/%path_%Y-%m-%d_%H-%M-%S-%f"
        assert (defaults["recordSegmentDuration"], defaults["recordDeleteAfter"]) == ("30m0s", "")
        assert defaults["rpiCameraH264Profile"] == "auto"  # a key the file leaves out: the built-in default
        assert (await api.get("/v3/config/global/get")).json()["logLevel"] == "warn"
        items = (await api.get("/v3/config/paths/list")).json()["items"]
        assert [(i["name"], i["maxReaders"], i["recordSegmentDuration"]) for i in items] == [("fixed", 2, "30m0s")]
        # all_others exists only when the file lists it; an API restart starts from the file again
        assert (await api.get("/v3/config/paths/get/all_others")).status_code == 404
        await api.post("/v3/config/paths/add/made", json={})
        await emu.restart()
        names = [i["name"] for i in (await api.get("/v3/config/paths/list")).json()["items"]]
        assert names == ["fixed"]


def test_the_shipped_config_loads_with_every_key(tmp_path: Path) -> None:
    loaded = load_conf_file(REPO / "conf" / "mediamtx.yml")
    assert loaded.global_values["moq"] is False and loaded.global_values["apiAddress"] == "127.0.0.1:9997"
    assert list(loaded.paths) == ["all_others"] and loaded.paths["all_others"] == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope: 1\n", 'json: unknown field "nope"'),
        ("pathDefaults:\n  record: maybe\n", "cannot unmarshal string into Go value of type bool"),
        ("paths:\n  cam:\n    recordFormat: avi\n", "invalid record format 'avi'"),
        ("- a list\n", "the configuration is not a map"),
    ],
)
def test_a_bad_file_refuses_to_start_naming_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mediamtx.yml"
    path.write_text(text)
    with pytest.raises(ConfFileError, match=message):
        load_conf_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope: 1\n", b'json: unknown field "nope"'),
        ("paths:\n  cam:\n    recordPath: ./x\n", b"'recordPath' must contain %path"),
    ],
)
async def test_the_command_line_refuses_a_bad_file(tmp_path: Path, text: str, message: bytes) -> None:
    path = tmp_path / "mediamtx.yml"
    path.write_text(text)
    argv = [sys.executable, "-m", "tools.mediamtx_emulator", "--config", str(path), "--api", "127.0.0.1:0"]
    with trio.fail_after(10):
        result = await trio.run_process(argv, cwd=str(REPO), capture_stdout=True, capture_stderr=True, check=False)
    assert result.returncode == 1
    assert message in result.stderr
