"""docs/api.md and rpc.discover are both derived from the dispatched method table."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema

from camsvc.app import Service
from camsvc.rpc.apidocs import render
from camsvc.rpc.catalog import load_table
from tests.rpc_client import rpc_client, ws_url

REPO = Path(__file__).resolve().parents[2]


def test_docs_api_md_is_up_to_date() -> None:
    current = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    assert current == render(load_table()), "docs/api.md is stale: run `python tools/gen_api_docs.py`"


def test_docs_name_every_method_with_its_role() -> None:
    text = render(load_table())
    for method in load_table():
        assert f"### `{method.name}`" in text
        role = method.role.label if method.role else "none (no authentication)"
        section = text.split(f"### `{method.name}`", 1)[1].split("### ", 1)[0]
        assert f"minimum role: **{role}**" in section


async def test_rpc_discover_is_openrpc_of_the_dispatched_table(service: Service) -> None:
    async with rpc_client(ws_url(service)) as c:
        doc = await c.call("rpc.discover")
    assert re.fullmatch(r"1\.\d+\.\d+", doc["openrpc"])
    assert doc["info"]["title"] and doc["info"]["version"]
    table = service.extras["rpc"].table
    assert [m["name"] for m in doc["methods"]] == [m.name for m in table]
    for entry in doc["methods"]:
        assert entry["paramStructure"] == "by-name"
        assert entry["x-required-role"] in ("none", "viewer", "operator", "admin")
        for param in entry["params"]:
            assert {"name", "schema", "required"} <= set(param)
            jsonschema.Draft202012Validator.check_schema(param["schema"])
        jsonschema.Draft202012Validator.check_schema(entry["result"]["schema"])
    by_name = {m["name"]: m for m in doc["methods"]}
    auth_param = by_name["authenticate"]["params"][0]
    assert auth_param["name"] == "auth_token" and auth_param["x-aliases"] == ["token"] and auth_param["required"]
    assert by_name["get_metrics"]["x-required-role"] == "admin"
