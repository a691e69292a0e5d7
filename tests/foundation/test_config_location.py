"""One place decides which config (and so which state dir and JWT secret) every command uses:
run from the checkout, `camsvc token create` signs with the demo's secret, from any directory."""

from __future__ import annotations

import os
from pathlib import Path

import jwt
import pytest

from camsvc import cli, config
from tests.helpers import REPO


def test_locate_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.locate("given.yaml", environ={"CAMSVC_CONFIG": "env.yaml"}) == "given.yaml"
    assert config.locate(None, environ={"CAMSVC_CONFIG": "env.yaml"}) == "env.yaml"
    # this test runs from a source checkout: its demo configuration
    assert config.locate(None, environ={}) == str(REPO / "conf" / "demo.yaml")
    monkeypatch.setattr(config, "checkout_config", lambda: None)
    monkeypatch.setattr(config, "SYSTEM_CONFIG", str(tmp_path / "absent.yaml"))
    assert config.locate(None, environ={}) is None


def test_relative_paths_are_relative_to_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = config.load(REPO / "conf" / "demo.yaml", environ={})
    assert cfg.storage.state_dir == str(REPO / "var" / "state")
    assert cfg.recording.dir == str(REPO / "var" / "recordings")
    assert cfg.snapshots.dir == str(REPO / "var" / "snapshots")


def test_token_create_from_the_checkout_signs_with_the_demo_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checkout = tmp_path / "checkout"
    (checkout / "conf").mkdir(parents=True)
    demo = checkout / "conf" / "demo.yaml"
    demo.write_text((REPO / "conf" / "demo.yaml").read_text())
    for name in list(os.environ):
        if name.startswith("CAMSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(config, "checkout_config", lambda: demo)
    monkeypatch.chdir(tmp_path)  # not the checkout's root: the file decides, not the directory
    assert cli.main(["token", "create", "--role", "admin"]) == 0
    token = capsys.readouterr().out.strip()
    secret = (checkout / "var" / "state" / "jwt_secret").read_text().strip()
    assert jwt.decode(token, secret, algorithms=["HS256"])["role"] == "admin"
