"""Record a camera for a few seconds through camsvc's JSON-RPC API; runs inside the deployment container.

Run with the release venv's interpreter (it has trio and trio-websocket):

    /opt/camera-service/current/venv/bin/python record_via_rpc.py TOKEN CAMERA SECONDS

Prints the ``stop_recording`` result as JSON; exits non-zero with the JSON-RPC error otherwise.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import trio
from trio_websocket import WebSocketConnection, open_websocket_url

URL = "ws://127.0.0.1:8002/ws"


async def call(ws: WebSocketConnection, call_id: int, method: str, params: dict[str, Any]) -> Any:
    await ws.send_message(json.dumps({"jsonrpc": "2.0", "id": call_id, "method": method, "params": params}))
    while True:
        message = json.loads(await ws.get_message())
        if message.get("id") != call_id:
            continue  # a notification
        if "error" in message:
            raise SystemExit(f"{method}: {json.dumps(message['error'])}")
        return message["result"]


async def main(token: str, camera: str, seconds: float) -> None:
    with trio.fail_after(seconds + 60):
        async with open_websocket_url(URL) as ws:
            await call(ws, 1, "authenticate", {"auth_token": token})
            await call(ws, 2, "start_recording", {"device": camera})
            await trio.sleep(seconds)  # the length of the recording, not synchronisation
            print(json.dumps(await call(ws, 3, "stop_recording", {"device": camera})))


if __name__ == "__main__":
    trio.run(main, sys.argv[1], sys.argv[2], float(sys.argv[3]))
