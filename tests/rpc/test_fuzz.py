"""Fuzzing the socket with hypothesis: whatever arrives, the answer is a well-formed JSON-RPC
response or a clean close, and the server keeps serving other clients.

Each example starts the RPC actor on a fresh port (in the example's own trio run)
over services built once for the module; examples are bounded (max_examples).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trio_websocket import ConnectionClosed, WebSocketConnection, open_websocket_url

from camsvc.app import Service, build
from camsvc.rpc.catalog import load_table
from camsvc.rpc.server import RpcServer
from tests.rpc_client import service_config, token_for

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=False)
MAX_MESSAGE = 64 * 1024


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Service:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    return build(service_config(tmp, server={"max_message_bytes": MAX_MESSAGE, "rate_limit_burst": 100000, "rate_limit_per_second": 100000}))


@asynccontextmanager
async def serving(service: Service) -> AsyncIterator[str]:
    server = RpcServer(service.services, load_table(), service.extras["monitors"])
    async with trio.open_nursery() as nursery:
        await nursery.start(server.run)
        yield f"ws://127.0.0.1:{server.bound_port}/ws"
        nursery.cancel_scope.cancel()


def well_formed(message: Any) -> None:
    """A JSON-RPC 2.0 response (or an array of them) in the contract's shape."""
    items = message if isinstance(message, list) else [message]
    assert items, "an empty array is never sent"
    for item in items:
        assert item["jsonrpc"] == "2.0"
        assert "id" in item
        assert ("result" in item) != ("error" in item)
        if "error" in item:
            error = item["error"]
            assert isinstance(error["code"], int) and isinstance(error["message"], str)
            assert isinstance(error["data"]["reason"], str)
            assert "Traceback" not in json.dumps(error)


async def exchange(ws: WebSocketConnection, text: str | bytes) -> tuple[list[Any], int | None]:
    """Send ``text`` then a marker ping; every answer (or the close code).

    Answers may come in any order (the marker is answered inline, a batch in a task
    of its own), so after the marker the test waits until every task of this trio
    run — the in-process server's too — is blocked, then takes what has arrived.
    """
    answers = []
    try:
        await ws.send_message(text)
        await ws.send_message('{"jsonrpc":"2.0","id":"__marker__","method":"ping"}')
        seen_marker = False
        with trio.fail_after(10):
            while not seen_marker:
                message = json.loads(await ws.get_message())
                if isinstance(message, dict) and message.get("id") == "__marker__":
                    seen_marker = True
                else:
                    answers.append(message)
        await trio.testing.wait_all_tasks_blocked(0.01)
        with trio.move_on_after(0.05):  # bounds the drain; everything sent is already queued by now
            while True:
                answers.append(json.loads(await ws.get_message()))
    except ConnectionClosed as exc:
        return answers, exc.reason.code if exc.reason else None
    return answers, None


async def still_serving(url: str) -> None:
    async with open_websocket_url(url) as other:
        await other.send_message('{"jsonrpc":"2.0","id":1,"method":"ping"}')
        with trio.fail_after(5):
            assert json.loads(await other.get_message())["result"] == "pong"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


@FUZZ
@given(text=st.text(max_size=300))
async def test_random_text(built: Service, text: str) -> None:
    async with serving(built) as url:
        async with open_websocket_url(url) as ws:
            answers, closed = await exchange(ws, text)
            assert closed is None
            for answer in answers:
                well_formed(answer)
        await still_serving(url)


@FUZZ
@given(value=json_values)
async def test_random_json_values(built: Service, value: Any) -> None:
    async with serving(built) as url:
        async with open_websocket_url(url) as ws:
            answers, closed = await exchange(ws, json.dumps(value))
            assert closed is None
            for answer in answers:
                well_formed(answer)
            if isinstance(value, dict | list) and value == []:
                assert answers[0]["error"]["code"] == -32600


METHOD_NAMES = sorted(m.name for m in load_table())
requests = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "2.0", "2.0", "1.0"]), "method": st.sampled_from(METHOD_NAMES) | st.text(max_size=10)},
    optional={"id": st.integers() | st.text(max_size=8) | st.none(), "params": st.dictionaries(st.sampled_from(["device", "topics", "filename", "limit", "offset", "token", "auth_token", "x"]), json_values, max_size=4) | json_values},
)


@FUZZ
@given(batch=st.lists(requests, min_size=1, max_size=6) | requests)
async def test_random_requests_as_viewer(built: Service, batch: Any) -> None:
    async with serving(built) as url:
        async with open_websocket_url(url) as ws:
            await ws.send_message(json.dumps({"jsonrpc": "2.0", "id": 0, "method": "authenticate", "params": {"auth_token": token_for(built, "viewer")}}))
            with trio.fail_after(5):
                assert "result" in json.loads(await ws.get_message())
            answers, closed = await exchange(ws, json.dumps(batch))
            assert closed is None
            for answer in answers:
                well_formed(answer)
            requests_ = batch if isinstance(batch, list) else [batch]
            answered = answers[0] if answers and isinstance(answers[0], list) else answers
            assert len(answers) <= 1 and len(answered) <= len(requests_)
            # Every request with an id gets exactly one answer carrying it.
            ids = Counter(repr(r["id"]) for r in requests_ if r.get("id") is not None)
            got = Counter(repr(a["id"]) for a in answered if a["id"] is not None)
            assert got == ids


@FUZZ
@given(depth=st.integers(min_value=1, max_value=MAX_MESSAGE // 2 - 10), kind=st.sampled_from(["[]", "{}"]))
async def test_deeply_nested_json(built: Service, depth: int, kind: str) -> None:
    if kind == "[]":
        text = "[" * depth + "]" * depth
    else:
        text = '{"jsonrpc":"2.0","id":1,"method":"ping","params":' + '{"a":' * depth + "1" + "}" * depth + "}"
    async with serving(built) as url:
        async with open_websocket_url(url) as ws:
            answers, closed = await exchange(ws, text[:MAX_MESSAGE])
            assert closed is None
            for answer in answers:
                well_formed(answer)
        await still_serving(url)


@FUZZ
@given(digits=st.integers(min_value=1, max_value=20000), where=st.sampled_from(["id", "param", "float"]))
async def test_huge_numbers(built: Service, digits: int, where: str) -> None:
    number = "9" * digits
    if where == "id":
        text = '{"jsonrpc":"2.0","id":' + number + ',"method":"ping"}'
    elif where == "param":
        text = '{"jsonrpc":"2.0","id":1,"method":"ping","params":{"n":' + number + "}}"
    else:
        text = '{"jsonrpc":"2.0","id":1e' + str(digits) + ',"method":"ping"}'
    async with serving(built) as url:
        async with open_websocket_url(url) as ws:
            answers, closed = await exchange(ws, text)
            assert closed is None and len(answers) == 1
            well_formed(answers[0])
            answer = answers[0]
            if where == "id" and digits <= 4300:
                assert answer["id"] == int(number) and answer["result"] == "pong"
            elif where == "id":
                assert answer["error"]["code"] == -32700
            elif where == "float" and digits > 308:
                assert answer["error"]["code"] == -32600 and answer["id"] is None  # inf is no id


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(size=st.integers(min_value=MAX_MESSAGE + 1, max_value=MAX_MESSAGE * 4), binary=st.booleans())
async def test_oversized_and_binary_frames_close_cleanly(built: Service, size: int, binary: bool) -> None:
    async with serving(built) as url:
        async with open_websocket_url(url) as bystander:
            async with open_websocket_url(url, max_message_size=10 * MAX_MESSAGE) as ws:
                payload: str | bytes = b"\x00" * 10 if binary else "x" * size
                _, closed = await exchange(ws, payload)
                assert closed == (1003 if binary else 1009)
            await bystander.send_message('{"jsonrpc":"2.0","id":1,"method":"ping"}')
            with trio.fail_after(5):
                assert json.loads(await bystander.get_message())["result"] == "pong"
