"""Hooks as MediaMTX runs them (notes §11): environment, working directory, on-demand start and SIGINT stop.

They run against the emulator and the real server. These need no ffmpeg: the commands are small shell scripts and the reader is a raw RTSP DESCRIBE.
"""

from __future__ import annotations

import httpx
import trio

from tests.mediamtx_targets import MediamtxTarget


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


async def test_on_demand_command_gets_mediamtx_environment_and_times_out(
    mediamtx_target: MediamtxTarget, target_api: httpx.AsyncClient
) -> None:
    script = "sh -c 'echo \"$MTX_PATH|$G1|$RTSP_PORT|$MTX_QUERY|$RTSP_PATH\" > env.txt; exec sleep 30'"
    resp = await target_api.post(
        "/v3/config/paths/add/%7E%5Egrp_(%5Cw%2B)%24",
        json={"runOnDemand": script, "runOnDemandStartTimeout": "1s"},
    )
    assert resp.status_code == 200, resp.text
    assert (await target_api.get("/v3/paths/list")).json()["items"] == []  # regexp entry: no idle path

    with trio.fail_after(8):
        status = await rtsp_describe(mediamtx_target.rtsp_port, "grp_cam7?token=abc")
    assert status == "RTSP/1.0 400 Bad Request"  # nobody published within runOnDemandStartTimeout
    # the command ran in the working directory with the hook variables
    assert (mediamtx_target.work_dir / "env.txt").read_text().strip() == f"grp_cam7|cam7|{mediamtx_target.rtsp_port}|token%3Dabc|grp_cam7"
    # the path existed only while demanded
    assert (await target_api.get("/v3/paths/get/grp_cam7")).status_code == 404


async def test_commands_are_stopped_with_sigint_when_the_path_goes(
    mediamtx_target: MediamtxTarget, target_api: httpx.AsyncClient
) -> None:
    script = "sh -c 'trap \"echo interrupted > out.txt; exit 0\" INT; echo running > out.txt; while :; do sleep 0.05; done'"
    assert (await target_api.post("/v3/config/paths/add/cam1", json={"runOnInit": script})).status_code == 200
    out = mediamtx_target.work_dir / "out.txt"
    with trio.fail_after(5):
        # the command is another process: there is no event to wait on, only its file
        while not out.exists() or out.read_text().strip() != "running":  # noqa: ASYNC110
            await trio.sleep(0.02)
    # deleting the entry closes the path, which stops the command with SIGINT (after answering)
    assert (await target_api.delete("/v3/config/paths/delete/cam1")).status_code == 200
    with trio.fail_after(5):
        while out.read_text().strip() != "interrupted":  # noqa: ASYNC110
            await trio.sleep(0.02)


async def test_unconfigured_and_invalid_paths_are_400_and_idle_ones_404(
    mediamtx_target: MediamtxTarget, target_api: httpx.AsyncClient
) -> None:
    await target_api.delete("/v3/config/paths/delete/all_others")
    with trio.fail_after(5):
        assert await rtsp_describe(mediamtx_target.rtsp_port, "nothing") == "RTSP/1.0 400 Bad Request"
        assert await rtsp_describe(mediamtx_target.rtsp_port, "bad%20name") == "RTSP/1.0 400 Bad Request"
    await target_api.post("/v3/config/paths/add/idle", json={})
    with trio.fail_after(5):
        # a publisher path with no publisher and no runOnDemand: no stream, at once
        assert await rtsp_describe(mediamtx_target.rtsp_port, "idle") == "RTSP/1.0 404 Not Found"
