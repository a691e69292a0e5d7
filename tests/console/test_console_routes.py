"""The web console's HTTP side: ``/`` and ``/console/*`` served from the package, ``/console/config``
naming the WebSocket for the host the browser used, and a strict CSP on every console response."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from camsvc.http.console_routes import CONSOLE_DIR
from tests.helpers import REPO
from tests.media.rawhttp import request
from tests.rpc_client import running_service

CSP_REQUIRED = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
]


def _csp(headers: dict[str, str]) -> dict[str, str]:
    return {d.split(" ", 1)[0]: d for d in (p.strip() for p in headers["content-security-policy"].split(";"))}


async def test_index_and_config_name_the_ws_and_hls_origins_of_the_host_used(tmp_path: Path) -> None:
    async with running_service(tmp_path, mediamtx={"hls_port": 18888}) as service:
        port = service.http.bound_port
        assert port is not None
        ws_port = service.extras["rpc"].bound_port

        page = await request(port, "/", host=f"cam.example:{port}")
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        assert page.body == (CONSOLE_DIR / "index.html").read_bytes()
        policy = _csp(page.headers)
        for directive in CSP_REQUIRED:
            assert directive in policy.values(), directive
        assert policy["connect-src"] == f"connect-src 'self' ws://cam.example:{ws_port} http://cam.example:18888"
        assert "'unsafe-inline'" not in page.headers["content-security-policy"]
        assert "'unsafe-eval'" not in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-frame-options"] == "DENY"

        config = await request(port, "/console/config", host=f"cam.example:{port}")
        assert config.status == 200
        assert config.json() == {"ws_url": f"ws://cam.example:{ws_port}/ws", "media_origin": "http://cam.example:18888"}

        v6 = await request(port, "/console/config", host=f"[::1]:{port}")
        assert v6.json()["ws_url"] == f"ws://[::1]:{ws_port}/ws"


async def test_public_host_names_the_media_origin(tmp_path: Path) -> None:
    async with running_service(tmp_path, mediamtx={"public_host": "media.example"}) as service:
        port = service.http.bound_port
        assert port is not None
        config = (await request(port, "/console/config", host="10.0.0.5")).json()
        assert config["media_origin"] == "http://media.example:8888"
        assert config["ws_url"].startswith("ws://10.0.0.5:")


@pytest.mark.parametrize("name", ["console.js", "rpc.js", "live.js", "dom.js", "vendor/hls.light.min.js"])
async def test_scripts_are_served_as_javascript_with_the_csp(tmp_path: Path, name: str) -> None:
    async with running_service(tmp_path) as service:
        port = service.http.bound_port
        assert port is not None
        response = await request(port, f"/console/{name}")
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.body == (CONSOLE_DIR / name).read_bytes()
        assert "script-src 'self'" in response.headers["content-security-policy"]


async def test_every_file_the_page_loads_is_shipped_and_the_vendored_library_has_its_licence() -> None:
    html = (CONSOLE_DIR / "index.html").read_text()
    assert "<script>" not in html and "style=" not in html and "<style" not in html  # the CSP forbids inline code
    referenced = re.findall(r'(?:src|href)="console/([^"]+)"', html)
    assert referenced, "index.html loads no console files"
    for script in CONSOLE_DIR.glob("*.js"):
        referenced += re.findall(r'from "\./([^"]+)"|import\("\./([^"]+)"\)', script.read_text())
    for ref in referenced:
        name = ref if isinstance(ref, str) else next(r for r in ref if r)
        assert (CONSOLE_DIR / name).is_file(), name
    assert (CONSOLE_DIR / "vendor" / "hls.js.LICENSE").read_text().startswith("Copyright")
    assert "1.7.4" in (CONSOLE_DIR / "vendor" / "README.md").read_text()


async def test_bad_host_and_missing_file_get_json_errors(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service:
        port = service.http.bound_port
        assert port is not None
        bad = await request(port, "/console/config", host="evil.example\tx")
        assert bad.status == 400 and bad.json()["reason"] == "bad_request"
        assert bad.headers["content-security-policy"].startswith("default-src 'none'")
        missing = await request(port, "/console/nope.js")
        assert missing.status == 404 and missing.json()["reason"] == "not_found"
        assert "default-src 'none'" in missing.headers["content-security-policy"]
        traversal = await request(port, "/console/../camsvc/config.py")
        assert traversal.status == 404


def test_package_data_ships_every_console_file() -> None:
    # an installed (non-editable) camsvc has only what package-data names; a new file type must be added there
    globs = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["camsvc"]
    package = REPO / "camsvc"
    for path in CONSOLE_DIR.rglob("*"):
        if path.is_file():
            relative = path.relative_to(package).as_posix()
            assert any(fnmatch.fnmatch(relative, g) for g in globs), f"{relative} is not in package-data"
