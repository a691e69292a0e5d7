"""The SDK cannot drift from the server's method table: every method has an SDK method with the
table's params (names, required-ness, JSON types), and the SDK loads without the service."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from camsvc.client import Client, SyncClient
from camsvc.client.methods import api_methods
from camsvc.rpc.catalog import load_table
from tests.helpers import REPO

#: optional params the SDK leaves out on purpose: compatibility spellings of a param it has
COMPAT_ONLY = {("start_recording", "duration_seconds"), ("start_recording", "duration_minutes"), ("start_recording", "duration_hours")}

#: JSON Schema type → the Python type an SDK argument must have
PY_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool, "array": Sequence, "object": Mapping}


def _base(annotation: Any) -> Any:
    """``str | None`` → str, ``Sequence[str]`` → Sequence."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    return typing.get_origin(annotation) or annotation


def test_every_table_method_has_an_sdk_method() -> None:
    table = {m.name for m in load_table()}
    sdk = api_methods(Client)
    missing = sorted(table - set(sdk))
    assert not missing, f"API methods without an SDK method in camsvc/client/methods.py: {missing}"
    assert not sorted(set(sdk) - table), "SDK methods for API methods the server does not have"


def test_sdk_params_match_the_table() -> None:
    sdk = api_methods(Client)
    problems = []
    for method in load_table():
        fn = getattr(Client, sdk[method.name])
        hints = typing.get_type_hints(fn)
        sig = {n: p for n, p in inspect.signature(fn).parameters.items() if n != "self"}
        table = {p.name: p for p in method.params}
        for name in sorted(set(sig) - set(table)):
            problems.append(f"{method.name}: SDK argument {name!r} is not a param of the API")
        for name, param in table.items():
            if name not in sig:
                if param.required or (method.name, name) not in COMPAT_ONLY:
                    problems.append(f"{method.name}: param {name!r} has no SDK argument")
                continue
            sdk_required = sig[name].default is inspect.Parameter.empty
            if sdk_required != param.required:
                problems.append(f"{method.name}: {name!r} required={param.required} in the table, {sdk_required} in the SDK")
            json_type = param.type if isinstance(param.type, str) else param.type[0]
            expected, got = PY_TYPES[json_type], _base(hints[name])
            if not (got is expected or (isinstance(got, type) and isinstance(expected, type) and issubclass(expected, got))):
                problems.append(f"{method.name}: {name!r} is {json_type} in the table, {got} in the SDK")
    assert not problems, "\n".join(problems)


def test_sync_client_has_every_api_method() -> None:
    for attr in api_methods(Client).values():
        assert attr in dir(SyncClient("ws://127.0.0.1:9/ws")), attr


def test_the_sdk_loads_without_the_service() -> None:
    # Client users may not want the server's dependencies: importing the SDK imports none of it.
    code = "import json, sys, camsvc.client; print(json.dumps(sorted(m for m in sys.modules if m.startswith(('camsvc.', 'quart', 'hypercorn', 'pyudev')))))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert [m for m in loaded if not m.startswith("camsvc.client")] == []


def test_every_error_code_the_server_sends_has_an_sdk_class() -> None:
    from camsvc.client import ERROR_CLASSES, RateLimited, RpcError
    from camsvc.client.errors import error_from
    from camsvc.rpc import protocol

    server_codes = set(protocol.MESSAGES) | {protocol.AUTH, protocol.NOT_FOUND}
    assert server_codes <= set(ERROR_CLASSES), sorted(server_codes - set(ERROR_CLASSES))
    for code, cls in ERROR_CLASSES.items():
        exc = error_from({"code": code, "message": "m", "data": {"reason": "why"}})
        assert type(exc) is cls and (exc.code, exc.reason, exc.message) == (code, "why", "m")
    limited = error_from({"code": -32040, "message": "Rate limit exceeded", "data": {"reason": "rate_limited", "retry_after_ms": 1500}})
    assert isinstance(limited, RateLimited) and limited.retry_after == 1.5
    odd = error_from({"code": -1, "message": "?"})
    assert type(odd) is RpcError and odd.reason == "unknown" and odd.retry_after is None
