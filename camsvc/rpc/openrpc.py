"""``rpc.discover``: the OpenRPC 1.x document, generated from the method table that is dispatched."""

from __future__ import annotations

from typing import Any

from .. import __version__
from .protocol import MESSAGES
from .table import MethodTable

OPENRPC_VERSION = "1.3.2"


def _role(method_role: Any) -> str:
    return method_role.label if method_role is not None else "none"


def openrpc_document(table: MethodTable) -> dict[str, Any]:
    methods = []
    for m in table:
        params = []
        for p in m.params:
            entry: dict[str, Any] = {"name": p.name, "required": p.required, "schema": p.json_schema()}
            if p.description:
                entry["description"] = p.description
            if p.aliases:
                entry["x-aliases"] = list(p.aliases)
            params.append(entry)
        methods.append(
            {
                "name": m.name,
                "summary": m.description.split(". ")[0].rstrip("."),
                "description": m.description,
                "tags": [{"name": m.group}] if m.group else [],
                "paramStructure": "by-name",
                "params": params,
                "result": {"name": "result", "schema": m.result or {}},
                "x-required-role": _role(m.role),
            }
        )
    return {
        "openrpc": OPENRPC_VERSION,
        "info": {
            "title": "camsvc JSON-RPC API",
            "version": __version__,
            "description": "Camera service API (contract v1). Errors carry data.reason; see the error catalog.",
        },
        "servers": [{"name": "websocket", "url": "ws://{host}:8002/ws"}],
        "methods": methods,
        "components": {
            "errors": {str(code): {"code": code, "message": msg} for code, msg in sorted(MESSAGES.items())},
        },
    }
