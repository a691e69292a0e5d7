"""Hooks as MediaMTX runs them (notes §11): environment, working directory, on-demand start and SIGINT stop.

These need no ffmpeg: the commands are small shell scripts and the reader is a raw RTSP DESCRIBE.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from tools.mediamtx_emulator import Emulator


async def rtsp_describe(port: int, url_path: str) -> str:
    """Send one DESCRIBE and return the status line of the answer."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        request = f"DESCRIBE rtsp://127.0.0.1:{port}/{url_path} RTSP/1.0\r\nCSeq: 1\r\n\r\n"
        await stream.send_all(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive_some(4096)
            if not chunk:
                break
            data += chunk
    return data.decode().split("\r\n")[0]


@pytest.fixture
def rtsp(emu: Emulator) -> Emulator:
    if not emu.rtsp_available:
        pytest.skip(str(emu.rtsp_unavailable_reason))
    return emu


async def test_on_demand_command_gets_mediamtx_environment_and_times_out(
    rtsp: Emulator, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    script = "sh -c 'echo \"$MTX_PATH|$G1|$RTSP_PORT|$MTX_QUERY|$RTSP_PATH\" > env.txt; exec sleep 30'"
    resp = await api.post(
        "/v3/config/paths/add/%7E%5Egrp_(%5Cw%2B)%24",
        json={"runOnDemand": script, "runOnDemandStartTimeout": "1s"},
    )
    assert resp.status_code == 200, resp.text
    assert (await api.get("/v3/paths/list")).json()["items"] == []  # regexp entry: no idle path

    with trio.fail_after(8):
        status = await rtsp_describe(rtsp.rtsp_port, "grp_cam7?token=abc")
    assert status == "RTSP/1.0 404 Not Found"  # nobody published within runOnDemandStartTimeout
    # the command ran in the working directory with the hook variables
    assert (tmp_path / "env.txt").read_text().strip() == f"grp_cam7|cam7|{rtsp.rtsp_port}|token=abc|grp_cam7"
    # the path existed only while demanded
    assert (await api.get("/v3/paths/get/grp_cam7")).status_code == 404


async def test_commands_are_stopped_with_sigint_when_the_path_goes(
    emu: Emulator, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    script = "sh -c 'trap \"echo interrupted > out.txt; exit 0\" INT; echo running > out.txt; while :; do sleep 0.05; done'"
    assert (await api.post("/v3/config/paths/add/cam1", json={"runOnInit": script})).status_code == 200
    out = tmp_path / "out.txt"
    with trio.fail_after(5):
        # the command is another process: there is no event to wait on, only its file
        while not out.exists() or out.read_text().strip() != "running":  # noqa: ASYNC110
            await trio.sleep(0.02)
    # deleting the entry closes the path and waits for the command to exit
    assert (await api.delete("/v3/config/paths/delete/cam1")).status_code == 200
    assert out.read_text().strip() == "interrupted"


async def test_unknown_path_describe_is_404_and_invalid_names_400(
    rtsp: Emulator, api: httpx.AsyncClient
) -> None:
    await api.delete("/v3/config/paths/delete/all_others")
    with trio.fail_after(5):
        assert await rtsp_describe(rtsp.rtsp_port, "nothing") == "RTSP/1.0 404 Not Found"
        assert await rtsp_describe(rtsp.rtsp_port, "bad%20name") == "RTSP/1.0 400 Bad Request"
    await api.post("/v3/config/paths/add/idle", json={})
    with trio.fail_after(5):
        # a publisher path with no publisher and no runOnDemand: no stream, at once
        assert await rtsp_describe(rtsp.rtsp_port, "idle") == "RTSP/1.0 404 Not Found"
