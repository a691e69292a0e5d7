"""Fixtures for the MediaMTX emulator's own tests: an in-process emulator and an HTTP client for it;
``media``/``target_api`` for the tests of MediaMTX behaviour that run against the real server too."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.mediamtx_targets import MediamtxTarget
from tools.mediamtx_emulator import Emulator, EmulatorConfig, open_emulator


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[Emulator]:
    """Control API and RTSP server on free ports; the working directory is the test's tmp dir."""
    config = EmulatorConfig(
        api_port=0, rtsp_port=0, record_dir=tmp_path, hook_output="discard", auth_failure_delay=0
    )
    async with open_emulator(config) as emulator:
        yield emulator


@pytest.fixture
async def api(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emu.api_url, timeout=10) as client:
        yield client


@pytest.fixture
def emu_media(emu: Emulator) -> Emulator:
    """The emulator, for its own media tests: skips when RTSP or ffmpeg is unavailable."""
    reason = emu.media_unavailable_reason
    if reason is not None:
        pytest.skip(reason)
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe not found")
    return emu


@pytest.fixture
def media(mediamtx_target: MediamtxTarget) -> MediamtxTarget:
    """MediaMTX, emulator and real binary, for tests that need real media: skips without ffmpeg/ffprobe.

    Its working directory (relative recordPaths, hooks) is ``media.work_dir``."""
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found")
    return mediamtx_target


@pytest.fixture
async def target_api(mediamtx_target: MediamtxTarget) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``mediamtx_target``'s control API (tests that run against both servers)."""
    async with httpx.AsyncClient(base_url=mediamtx_target.api_url, timeout=10) as client:
        yield client


# ---- contract: responses checked against MediaMTX's own OpenAPI document

SPEC_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
SPEC_FILE = SPEC_DIR / "mediamtx-openapi.yaml"


def _tighten(node: Any) -> Any:
    """Adapt the spec for validation.

    * ``nullable`` beside ``allOf`` is ignored by OpenAPI 3.0 validators (the ``allOf`` part still
      requires an object), so such nodes become "null or the allOf".
    * ``PathTrackCodecProps`` is a ``oneOf`` of overlapping object shapes (H264 and H265 props are
      identical), which no real answer can satisfy; it becomes ``anyOf``.
    * Object schemas get ``additionalProperties: false``, so the emulator cannot emit a field
      MediaMTX's spec does not know.
    """
    if isinstance(node, list):
        return [_tighten(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _tighten(v) for k, v in node.items()}
    if "oneOf" in node:
        node["anyOf"] = node.pop("oneOf")
    if node.get("type") == "object" and "properties" in node and "allOf" not in node:
        node.setdefault("additionalProperties", False)
    if node.get("nullable") and "allOf" in node:
        rest = {k: v for k, v in node.items() if k not in ("allOf", "nullable", "type")}
        return {"anyOf": [{"enum": [None]}, {"allOf": node["allOf"]}], **rest}
    return node


class Contract:
    """Validates emulator answers against the response schemas of the OpenAPI document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = _tighten(spec)
        resource = Resource.from_contents(self.spec, default_specification=DRAFT4)
        self.registry = Registry().with_resource("urn:mediamtx-openapi", resource)

    def schema_for(self, method: str, template: str, status: int) -> dict[str, Any]:
        operation = self.spec["paths"][template][method.lower()]
        response = operation["responses"].get(str(status))
        assert response is not None, f"{method} {template}: status {status} is not in the spec"
        return response["content"]["application/json"]["schema"]

    def check(self, method: str, template: str, resp: httpx.Response) -> Any:
        schema = self.schema_for(method, template, resp.status_code)
        ref = schema["$ref"].replace("#", "urn:mediamtx-openapi#", 1)
        body = resp.json()
        OAS30Validator({"$ref": ref}, registry=self.registry).validate(body)
        return body

    def check_schema(self, name: str, value: Any) -> None:
        ref = f"urn:mediamtx-openapi#/components/schemas/{name}"
        OAS30Validator({"$ref": ref}, registry=self.registry).validate(value)


@pytest.fixture(scope="session")
def contract() -> Contract:
    if not SPEC_FILE.is_file():
        pytest.skip(f"MediaMTX OpenAPI document not found at {SPEC_FILE.resolve()}")
    return Contract(yaml.safe_load(SPEC_FILE.read_text()))
