"""The ceiling for the RPC benchmarks: a minimal JSON-RPC ``ping`` server on picows + uvloop + orjson.

This is the fastest Python WebSocket stack on the benchmark box doing the least a JSON-RPC server can do
per message (parse the request, answer with its id), so camsvc's ratio to it says how much of the
per-message budget our own protocol, auth, limits and dispatch take. It checks nothing else.

    python tools/bench/ceiling_server.py [PORT]    # prints {"port": N} when listening
"""

from __future__ import annotations

import json
import sys

import orjson
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server

_PARSE_ERROR = b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}'


class _JsonRpcPing(WSListener):  # type: ignore[misc]
    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.TEXT:
            try:
                request = orjson.loads(frame.get_payload_as_memoryview())
            except orjson.JSONDecodeError:
                transport.send(WSMsgType.TEXT, _PARSE_ERROR)
                return
            answer = {"jsonrpc": "2.0", "id": request.get("id"), "result": "pong"}
            transport.send(WSMsgType.TEXT, orjson.dumps(answer))
        elif frame.msg_type is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()


async def _serve(port: int) -> None:
    server = await ws_create_server(lambda _request: _JsonRpcPing(), "127.0.0.1", port)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(_serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
