"""MediaMTX emulator: a faithful stand-in for MediaMTX v1.20.1 where the Go binary cannot be installed.

Control plane: the v3 HTTP API as ``/work/shared/reference/mediamtx-api-notes.md`` describes MediaMTX's
code (where the code and the OpenAPI spec disagree, the code wins): strict JSON decoding with Go's
messages, normalised durations, the validation rules and messages, pagination, replace-as-upsert,
gin's plain-text 404s, optional Basic auth. Configuration lives only in memory.

Media plane: a small RTSP server written here (``rtsp.py``) relays RTP between publishers and
readers over TCP-interleaved transport (UDP SETUPs get 461, after which ffmpeg and other clients retry
over TCP). Commands from ``runOnInit``/``runOnDemand`` run as MediaMTX runs them (variables expanded,
shell-style split, no shell, own process group, SIGINT to stop), so a typical
``ffmpeg ... -f rtsp rtsp://localhost:$RTSP_PORT/$MTX_PATH`` publishes real frames that readers
(``ffmpeg -rtsp_transport tcp -i rtsp://127.0.0.1:PORT/path``) decode. Pulled ``source`` URLs are relayed
with ffmpeg; ``record: true`` writes real fMP4/MPEG-TS segments with ffmpeg's segment muxer, named by
recordPath.

Why not Debian's gst-rtsp-server: a RECORD mount there cannot be PLAYed, so relaying a publisher to
readers would need an appsink/appsrc bridge per path in a second Python (system python3 with gi),
plus IPC to hold DESCRIBE while runOnDemand starts and to report readers and byte counters. A relay of
a few hundred lines in the emulator itself does all of that with no system package beyond ffmpeg.

Use in tests::

    from tools.mediamtx_emulator import EmulatorConfig, open_emulator

    async with open_emulator(EmulatorConfig(api_port=0, rtsp_port=0, record_dir=tmp_path)) as emu:
        emu.api_url, emu.rtsp_url           # real bound ports
        emu.faults.fail(500)                # every API call answers 500 {"status":"error",...}
        emu.faults.hang()                   # API calls are accepted and never answered
        emu.faults.clear()
        await emu.restart()                 # MediaMTX restart: API-made config forgotten, new `started`

Like MediaMTX, it starts from the config file it is given (``EmulatorConfig(config_file=...)``,
``--config``): global settings, path defaults and entries; without one, the stock mediamtx.yml.
``tests/emulator/test_emulator_vs_real.py`` compares its answers with a real server's.

Command line: ``python -m tools.mediamtx_emulator [--config FILE] --api 127.0.0.1:0 --rtsp-port 0 --record-dir DIR``
prints ``mediamtx-emulator listening api=http://127.0.0.1:PORT rtsp=rtsp://127.0.0.1:PORT``.
"""

from tools.mediamtx_emulator.app import Emulator, EmulatorConfig, open_emulator, serve
from tools.mediamtx_emulator.faults import ApiFaults, RequestRecord

__all__ = ["ApiFaults", "Emulator", "EmulatorConfig", "RequestRecord", "open_emulator", "serve"]
