"""Spec §1 and §6 over a real socket: envelopes, batches, ids, params, error shapes."""

from __future__ import annotations

import json
from typing import Any

import pytest
import trio
from trio_websocket import open_websocket_url

from camsvc.app import Service
from camsvc.errors import CamsvcError
from camsvc.rpc.server import RpcServer
from camsvc.rpc.table import CallContext, Method, MethodTable, Param
from tests.rpc_client import apoll, rpc_client, token_for, ws_url


async def raw_exchange(url: str, text: str | bytes) -> Any:
    async with open_websocket_url(url) as ws:
        await ws.send_message(text)
        with trio.fail_after(5):
            return json.loads(await ws.get_message())


async def test_invalid_json_is_parse_error_with_null_id(service: Service) -> None:
    answer = await raw_exchange(ws_url(service), '{"jsonrpc": "2.0", "id": 1, "method": "ping"')
    assert answer == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error", "data": {"reason": "invalid_json"}}}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("42", "not_an_object"),
        ('"ping"', "not_an_object"),
        ('{"id": 1, "method": "ping"}', "invalid_jsonrpc_version"),
        ('{"jsonrpc": "1.0", "id": 1, "method": "ping"}', "invalid_jsonrpc_version"),
        ('{"jsonrpc": "2.0", "id": 1}', "missing_method"),
        ('{"jsonrpc": "2.0", "id": 1, "method": 7}', "invalid_method"),
        ('{"jsonrpc": "2.0", "id": {"a": 1}, "method": "ping"}', "invalid_id"),
        ('{"jsonrpc": "2.0", "id": true, "method": "ping"}', "invalid_id"),
        ('{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": "x"}', "invalid_params_type"),
    ],
)
async def test_invalid_requests(service: Service, text: str, reason: str) -> None:
    answer = await raw_exchange(ws_url(service), text)
    assert answer["error"]["code"] == -32600
    assert answer["error"]["message"] == "Invalid Request"
    assert answer["error"]["data"] == {"reason": reason}
    request = json.loads(text)
    echoed = request.get("id") if isinstance(request, dict) and isinstance(request.get("id"), int | str) and not isinstance(request.get("id"), bool) else None
    assert answer["id"] == echoed


async def test_empty_batch_is_one_invalid_request(service: Service) -> None:
    answer = await raw_exchange(ws_url(service), "[]")
    assert answer == {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Invalid Request", "data": {"reason": "empty_batch"}}}


async def test_batch_mixing_requests_and_notifications(service: Service) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": "a", "method": "ping"},
        {"jsonrpc": "2.0", "method": "ping"},  # notification: no answer
        {"jsonrpc": "2.0", "id": 2, "method": "no_such_method"},
        {"jsonrpc": "2.0", "method": "no_such_method"},  # notification of an unknown method: still no answer
        42,
        {"jsonrpc": "2.0", "id": 3, "method": "get_camera_list"},
    ]
    answer = await raw_exchange(ws_url(service), json.dumps(batch))
    assert isinstance(answer, list)
    by_id = {item["id"]: item for item in answer}
    assert len(answer) == 4
    assert by_id["a"]["result"] == "pong"
    assert by_id[2]["error"]["code"] == -32601
    assert by_id[2]["error"]["data"] == {"reason": "method_not_found", "method": "no_such_method"}
    assert by_id[None]["error"]["code"] == -32600
    assert by_id[3]["error"]["code"] == -32001  # unauthenticated: auth_required


async def test_notifications_are_never_answered(service: Service) -> None:
    rpc = service.extras["rpc"]
    async with open_websocket_url(ws_url(service)) as ws:
        await ws.send_message('{"jsonrpc": "2.0", "method": "ping"}')
        await ws.send_message('[{"jsonrpc": "2.0", "method": "ping"}, {"jsonrpc": "2.0", "method": "get_status"}]')
        await apoll(lambda: rpc.stats.by_method_code[("ping", 0)] >= 2 and rpc.stats.by_method_code[("get_status", -32001)] >= 1, what="notifications processed")
        await ws.send_message('{"jsonrpc": "2.0", "id": 9, "method": "ping"}')
        with trio.fail_after(5):
            assert json.loads(await ws.get_message()) == {"jsonrpc": "2.0", "id": 9, "result": "pong"}


@pytest.mark.parametrize("id_", ["abc", "", "ünïcødé ✓", 0, -5, 7, 2**70, 1.5, -0.25, None])
async def test_ids_are_echoed_exactly(service: Service, id_: Any) -> None:
    text = json.dumps({"jsonrpc": "2.0", "id": id_, "method": "ping"})
    answer = await raw_exchange(ws_url(service), text)
    assert answer["id"] == id_ and type(answer["id"]) is type(id_)
    assert answer["result"] == "pong"


async def test_positional_params_are_rejected(service: Service) -> None:
    answer = await raw_exchange(ws_url(service), '{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1, 2]}')
    assert answer["error"]["code"] == -32602
    assert answer["error"]["data"]["reason"] == "positional_params"
    assert "param" in answer["error"]["data"]


async def test_unknown_method(service: Service) -> None:
    async with rpc_client(ws_url(service)) as c:
        answer = await c.request("get_teapot")
    assert answer["error"] == {"code": -32601, "message": "Method not found", "data": {"reason": "method_not_found", "method": "get_teapot"}}


async def test_known_params_checked_unknown_ignored(service: Service) -> None:
    async with rpc_client(ws_url(service), token=token_for(service, "viewer")) as c:
        wrong_type = await c.request("get_camera_status", {"device": 5})
        assert wrong_type["error"]["code"] == -32602
        assert wrong_type["error"]["data"]["param"] == "device"
        assert wrong_type["error"]["data"]["reason"] == "wrong_type"
        bad_pattern = await c.request("get_camera_status", {"device": "../etc"})
        assert bad_pattern["error"]["data"] == {"reason": "pattern_mismatch", "param": "device"}
        missing = await c.request("get_camera_status", {})
        assert missing["error"]["data"] == {"reason": "missing", "param": "device"}
        ignored = await c.request("get_camera_list", {"auth_type": "jwt", "whatever": [1, 2]})
        assert ignored["result"]["total"] == 0
        unknown_camera = await c.request("get_camera_status", {"device": "camera7"})
        assert unknown_camera["error"]["code"] == -32010
        assert unknown_camera["error"]["message"] == "Camera not found"
        assert unknown_camera["error"]["data"] == {"reason": "camera_not_found", "resource": "camera", "id": "camera7"}


# ---------------------------------------------------- a server with test methods


async def _slow(ctx: CallContext, params: dict[str, Any]) -> str:
    await ctx.services.bus_gate.wait()  # type: ignore[attr-defined]
    return "slow done"


async def _boom(ctx: CallContext, params: dict[str, Any]) -> str:
    raise RuntimeError("secret internals /etc/shadow")


async def _domain_without_code(ctx: CallContext, params: dict[str, Any]) -> str:
    raise CamsvcError("weird_state")


async def _echo(ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
    return params


async def _ping(ctx: CallContext, params: dict[str, Any]) -> str:
    return "pong"


def test_table(gate: trio.Event) -> MethodTable:
    async def slow(ctx: CallContext, params: dict[str, Any]) -> str:
        await gate.wait()
        return "slow done"

    return MethodTable(
        [
            Method("ping", _ping, None, "ping", inline=True),
            Method("slow", slow, None, "waits for the gate"),
            Method("boom", _boom, None, "raises"),
            Method("odd", _domain_without_code, None, "domain error without a code"),
            Method(
                "echo",
                _echo,
                None,
                "echoes checked params",
                params=(
                    Param("n", "integer", minimum=1, maximum=10, default=3),
                    Param("x", "number", exclusive_minimum=0),
                    Param("name", "string", aliases=("old_name",), pattern=r"[a-z]+", max_length=5),
                    Param("kind", "string", enum=("a", "b")),
                    Param("flag", "boolean"),
                    Param("tags", "array", items="string"),
                ),
            ),
        ]
    )


test_table.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
async def custom(service: Service):  # type: ignore[no-untyped-def]
    gate = trio.Event()
    server = RpcServer(service.services, test_table(gate), service.extras["monitors"])
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield f"ws://127.0.0.1:{server.bound_port}/ws", gate, server
        nursery.cancel_scope.cancel()


async def test_slow_method_never_blocks_ping(custom) -> None:  # type: ignore[no-untyped-def]
    url, gate, _ = custom
    async with rpc_client(url) as c:
        async with trio.open_nursery() as nursery:
            slow_result: list[Any] = []

            async def slow() -> None:
                slow_result.append(await c.call("slow"))

            nursery.start_soon(slow)
            for _ in range(5):
                assert await c.call("ping") == "pong"
            assert slow_result == []
            gate.set()
        assert slow_result == ["slow done"]


async def test_internal_errors_carry_request_id_never_traceback(custom) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = custom
    async with rpc_client(url) as c:
        answer = await c.request("boom")
        odd = await c.request("odd")
    error = answer["error"]
    assert error["code"] == -32603 and error["message"] == "Internal error"
    assert error["data"]["reason"] == "internal_error" and error["data"]["request_id"]
    assert "shadow" not in json.dumps(answer) and "Traceback" not in json.dumps(answer)
    assert odd["error"]["code"] == -32603
    assert odd["error"]["data"]["reason"] == "weird_state" and odd["error"]["data"]["request_id"]


@pytest.mark.parametrize(
    ("params", "param", "reason"),
    [
        ({"n": 0}, "n", "out_of_range"),
        ({"n": 11}, "n", "out_of_range"),
        ({"n": 2.5}, "n", "wrong_type"),
        ({"n": True}, "n", "wrong_type"),
        ({"x": 0}, "x", "out_of_range"),
        ({"x": "1"}, "x", "wrong_type"),
        ({"name": "ABC"}, "name", "pattern_mismatch"),
        ({"name": "abcdef"}, "name", "too_long"),
        ({"old_name": "A"}, "name", "pattern_mismatch"),
        ({"kind": "c"}, "kind", "not_allowed"),
        ({"flag": 1}, "flag", "wrong_type"),
        ({"tags": ["a", 1]}, "tags", "wrong_type"),
        ({"tags": "a"}, "tags", "wrong_type"),
    ],
)
async def test_param_checks(custom, params: dict[str, Any], param: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = custom
    async with rpc_client(url) as c:
        answer = await c.request("echo", params)
    assert answer["error"]["code"] == -32602
    assert answer["error"]["message"] == "Invalid params"
    assert answer["error"]["data"]["param"] == param
    assert answer["error"]["data"]["reason"] == reason


async def test_params_aliases_defaults_and_nulls(custom) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = custom
    async with rpc_client(url) as c:
        assert await c.call("echo", {"old_name": "abc", "x": 0.5, "extra": 1, "kind": None}) == {"n": 3, "x": 0.5, "name": "abc"}
        assert await c.call("echo") == {"n": 3}
        # JSON has one number type: 2.0 is the integer 2 (as the published JSON Schema says)
        assert await c.call("echo", {"n": 2.0}) == {"n": 2}


async def test_batch_runs_concurrently_and_answers_as_one_array(custom) -> None:  # type: ignore[no-untyped-def]
    url, gate, _ = custom
    async with rpc_client(url) as c:
        batch = [{"jsonrpc": "2.0", "id": i, "method": "ping"} for i in range(3)]
        batch.append({"jsonrpc": "2.0", "id": "s", "method": "slow"})
        async with trio.open_nursery() as nursery:
            answers: list[Any] = []

            async def send() -> None:
                answers.append(await c.raw(json.dumps(batch), batch=True))

            nursery.start_soon(send)
            assert await c.call("ping") == "pong"  # the batch waiting on "slow" blocks nobody
            gate.set()
        assert sorted(str(a["id"]) for a in answers[0]) == ["0", "1", "2", "s"]
