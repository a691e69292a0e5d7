"""Fault injection for soaks: camera actors crashed on purpose and V4L2 devices plugged in and out, driven
from outside the process through a control directory. **For soaks only** (``tools/soak``, docs/soak.md).

Off unless ``CAMSVC_FAULT_INJECTION=<control dir>`` is set (a production unit never sets it); then
``camsvc run`` logs a warning and, with everything else as usual:

- ``<control>/crash/<camera id>``: a request file (its content is ignored). The root's ``fault-injection``
  child consumes it and puts an :class:`InjectedCrash` into that camera actor's mailbox. The actor does not
  know the message and raises inside its own task, as on any bug in its loop: it publishes the camera as
  ERROR, its supervisor restarts it after backoff (``/supervisor``, ``/health/system``) and the new run
  publishes it CONNECTED again. Each outcome is appended to ``<control>/journal.jsonl`` as
  ``{"fault": "crash", "camera": id, "outcome": "posted"|"refused", "reason": …}`` (refused: no such camera,
  or its actor is between runs).
- ``<control>/dev/videoN``: a regular file stands for a V4L2 node ``/dev/videoN`` that is plugged in while
  the file exists. Device discovery takes its events from this directory instead of ``cameras.discovery``:
  the real polling source and debouncer read it (paths reported as ``/dev/videoN``), and the probe answers
  a plain webcam for a node whose file exists (any other node is probed for real). From there the real path
  runs: format policy, camera actor, registry, ``camera_status_update``, MediaMTX path (the reconciler).
  There is no real node behind it, so the ffmpeg that MediaMTX runs to publish it fails to open
  ``/dev/videoN``, as with a device unplugged between probe and use: its stream never becomes ready,
  snapshots fail (-32050), recordings end FAILED ``no_media``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import attrs
import trio

from supervisor import Backoff, ChildSpec

from .cameras import v4l2
from .cameras.device_source import Debouncer, DeviceSource, PollSource
from .cameras.directory import CameraDirectory
from .cameras.discovery import probe_v4l2
from .errors import CamsvcError

log = logging.getLogger("camsvc.fault_injection")

ENV = "CAMSVC_FAULT_INJECTION"
#: seconds between looks into the control directory (crash requests, device nodes)
POLL_INTERVAL = 0.25
#: fake nodes are /dev/videoN with N in this range (inclusive)
DEVICE_RANGE = (0, 99)
DEBOUNCE = 0.2

_V4L2_CAP_VIDEO_CAPTURE = 0x1
#: what a fake node probes as: a plain UVC webcam (MJPEG up to 720p, raw YUYV at 640x480)
FAKE_WEBCAM = v4l2.Capabilities(
    v4l2.DeviceCaps(
        "uvcvideo", "Fault-injected webcam", "fault-injection", 0x60100,
        _V4L2_CAP_VIDEO_CAPTURE, _V4L2_CAP_VIDEO_CAPTURE, True,
    ),
    (
        v4l2.FormatInfo("MJPG", "Motion-JPEG", True, (v4l2.FrameSize(1280, 720, (30.0, 15.0)),
                                                       v4l2.FrameSize(640, 480, (30.0, 15.0)))),
        v4l2.FormatInfo("YUYV", "YUYV 4:2:2", False, (v4l2.FrameSize(640, 480, (30.0, 15.0)),)),
    ),
)  # fmt: skip


@attrs.frozen
class InjectedCrash:
    """The mailbox message a camera actor does not understand (so it fails, as on a bug)."""

    camera: str


@attrs.define
class ControlDirSource(PollSource):
    """The real polling source over ``<control>/dev``, its ``videoN`` files reported as ``/dev/videoN``."""

    def scan(self) -> frozenset[str]:
        return frozenset(f"/dev/{Path(path).name}" for path in super().scan())


def _is_file(path: Path) -> bool:
    return path.is_file()


@attrs.frozen
class FaultInjection:
    control: Path

    @property
    def devices(self) -> Path:
        return self.control / "dev"

    @property
    def crashes(self) -> Path:
        return self.control / "crash"

    @property
    def journal(self) -> Path:
        return self.control / "journal.jsonl"

    def prepare(self) -> None:
        self.devices.mkdir(parents=True, exist_ok=True)
        self.crashes.mkdir(parents=True, exist_ok=True)

    def source(self) -> DeviceSource:
        """Discovery's device source: the fake nodes, polled and debounced like real ones."""
        poll = ControlDirSource(
            device_range=DEVICE_RANGE, interval=POLL_INTERVAL, device_dir=self.devices, exists=_is_file
        )
        return Debouncer(poll, window=DEBOUNCE)

    async def prober(self, path: str, timeout: float) -> v4l2.Capabilities:  # noqa: ASYNC109
        """A fake node probes as :data:`FAKE_WEBCAM`; any other (or one unplugged meanwhile) for real."""
        # One stat in the soak's own directory, as PollSource does on the loop.
        if (self.devices / Path(path).name).is_file():
            await trio.lowlevel.checkpoint()
            return FAKE_WEBCAM
        return await probe_v4l2(path, timeout)

    def child_spec(self, directory: CameraDirectory) -> ChildSpec:
        """The root's ``fault-injection`` child, which serves crash requests."""
        return ChildSpec(
            "fault-injection",
            CrashRequests(self, directory).run,
            backoff=Backoff(initial=0.5, max=5.0),
        )


@attrs.define(eq=False)
class CrashRequests:
    faults: FaultInjection
    directory: CameraDirectory

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.faults.prepare()  # a restart after the directory was removed makes it again
        task_status.started()
        while True:
            # A handful of entries in the soak's own directory: cheap enough for the event loop.
            for request in sorted(self.faults.crashes.iterdir()):
                if not request.name.startswith("."):
                    request.unlink(missing_ok=True)
                    await self.crash(request.name)
            await trio.sleep(POLL_INTERVAL)

    async def crash(self, camera_id: str) -> bool:
        """Make ``camera_id``'s actor fail inside its own task; False (journalled) when it cannot."""
        entry: dict[str, object] = {"t": round(time.time(), 3), "fault": "crash", "camera": camera_id}
        try:
            actor = self.directory.actor(camera_id)
            # The one way into the actor's loop from outside: its mailbox (see CameraActor._handle).
            await actor._post(InjectedCrash(camera_id))
        except CamsvcError as exc:
            entry.update(outcome="refused", reason=exc.reason)
        except (trio.BrokenResourceError, trio.ClosedResourceError):  # its run ended as we posted
            entry.update(outcome="refused", reason="camera_disconnected")
        else:
            entry.update(outcome="posted")
            log.warning("fault injection: crashing a camera actor", extra={"camera": camera_id})
        with self.faults.journal.open("a") as journal:  # one short line, like the scan above
            journal.write(json.dumps(entry) + "\n")
        return entry["outcome"] == "posted"


def from_env(environ: Mapping[str, str] = os.environ) -> FaultInjection | None:
    """The fault injection ``CAMSVC_FAULT_INJECTION`` asks for; None (the production case) when unset."""
    control = environ.get(ENV)
    if not control:
        return None
    faults = FaultInjection(Path(control).absolute())
    faults.prepare()
    log.warning("fault injection is ON (for soaks only)", extra={"control": str(faults.control)})
    return faults
