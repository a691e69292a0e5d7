"""The web console in a real browser (headless Debian Chromium) against the real service in process.

1. ``/#token=…`` → logged in, fragment gone → camera0 appears → snapshot → listed → its download
   returns the file → record 3 s → the recording appears → the snapshot is deleted (admin); the live view attaches hls.js; the health
   tab shows the supervisor's children; screenshots are saved; no CSP violation, no token in any log.
2. A wrong token shows a login error; the right one logs in (keyboard only); a camera added by another
   client appears without a reload; the tabs follow the arrow keys; the RPC server going away shows "disconnected", and the console reconnects when it is back.
3. A short-lived JWT is swapped for a fresh one (refresh_token) before it expires.

The emulator target only: these test the client side of camsvc's API; MediaMTX itself is tested on
both targets by tests/media and tests/mediamtx.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
from playwright.sync_api import expect

from camsvc.app import Service
from camsvc.security.roles import Role
from supervisor import Backoff, ChildSpec
from tests.console.browser import PHONE, artifact_dir, needs_chromium, open_page, screenshot
from tests.helpers import free_port, poll
from tests.media.test_media_e2e import camera_config
from tests.mediamtx_targets import MediamtxTarget, open_target
from tests.rpc_client import rpc_client, running_service, token_for, ws_url

pytestmark = [pytest.mark.browser, needs_chromium]

needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None, reason="ffmpeg/ffprobe not installed"
)


def _camera_config(tmp_path: Path, emu: MediamtxTarget) -> Any:
    # nothing serves HLS here; a free port so the page never reaches someone else's MediaMTX
    return camera_config(tmp_path, emu, mediamtx={"hls_port": free_port()})


def _records_with(caplog: pytest.LogCaptureFixture, secret: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if secret in r.getMessage() or secret in str(vars(r))]


def _base_url(service: Service) -> str:
    return f"http://127.0.0.1:{service.http.bound_port}"


def _media_flow(base: str, token: str, snapshots: Path, recordings: Path, artifacts: Path) -> list[str]:
    with open_page() as (page, problems):
        page.goto(f"{base}/#token={token}")
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        expect(page.locator("#connection")).to_contain_text("(admin)")
        assert page.url == f"{base}/", "the token must leave the address bar"
        assert page.evaluate("sessionStorage.getItem('camsvc.token')") == token

        card = page.locator('li.card[data-device="camera0"]')
        expect(card.locator(".status-connected")).to_have_text("CONNECTED")

        card.get_by_role("button", name="Take snapshot").click()
        expect(card.locator(".note")).to_contain_text("Snapshot saved: ")
        snap = card.locator(".note").inner_text().removeprefix("Snapshot saved: ").strip()

        page.get_by_role("tab", name="Files").click()
        row = page.locator(f'#snapshots tr[data-filename="{snap}"]')
        expect(row).to_be_visible()
        with page.expect_download() as download:
            row.get_by_role("button", name=f"Download {snap}").click()
        assert download.value.suggested_filename == snap
        assert Path(download.value.path()).read_bytes() == (snapshots / snap).read_bytes()

        page.get_by_role("tab", name="Cameras").click()
        card.get_by_label("Record for (s)").fill("3")
        card.get_by_role("button", name="Start recording").click()
        expect(card.locator(".rec")).to_be_visible()
        expect(card.get_by_role("button", name="Stop recording")).to_be_enabled()
        expect(card.locator(".note")).to_contain_text("Recording to camera0_")
        screenshot(page, artifacts, "console-recording.png")
        # the service stops it after 3 s of media; the card follows recording_status_update
        expect(card.get_by_role("button", name="Start recording")).to_be_visible(timeout=20_000)
        expect(card.locator(".note")).to_contain_text("duration_reached")

        page.get_by_role("tab", name="Files").click()
        recorded = page.locator("#recordings tr[data-filename]")
        expect(recorded.first).to_be_visible()
        names = recorded.evaluate_all("rows => rows.map(r => r.dataset.filename)")
        assert names and all((recordings / n).is_file() for n in names), names
        screenshot(page, artifacts, "console-files.png")

        page.once("dialog", lambda dialog: dialog.accept())  # "Delete …? This cannot be undone."
        row.get_by_role("button", name=f"Delete {snap}").click()
        expect(row).to_have_count(0)
        expect(page.locator("#files-status")).to_have_text(f"Deleted {snap}")
        assert not (snapshots / snap).exists()

        page.get_by_role("tab", name="Cameras").click()
        card.get_by_role("button", name="Live view").click()
        # hls.js (vendored, loaded as a module under the CSP) attached a MediaSource (a blob: URL) to the video
        # (polled from here: the page's CSP forbids the string eval behind page.wait_for_function)
        video = page.locator("#live-video")
        poll(lambda: video.evaluate("v => v.currentSrc").startswith("blob:"), what="hls.js to attach the video")
        expect(page.locator("#live-title")).to_have_text(re.compile(r"^Live view: \S"))
        page.get_by_role("button", name="Close live view").click()

        page.get_by_role("tab", name="Health").click()
        expect(page.locator("#components tr").first).to_be_visible()
        expect(page.locator("#supervisor")).to_contain_text("rpc")
        expect(page.locator("#health-status")).to_contain_text("Overall:")
        screenshot(page, artifacts, "console-health.png")

        page.set_viewport_size(PHONE)
        page.get_by_role("tab", name="Cameras").click()
        screenshot(page, artifacts, "console-phone.png")
        return problems.messages


@needs_ffmpeg
async def test_token_link_camera_snapshot_download_record(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    artifacts = artifact_dir(tmp_path)
    async with (
        open_target("emulator", tmp_path / "mediamtx") as emu,
        running_service(tmp_path, _camera_config(tmp_path, emu)) as service,
    ):
        token = token_for(service, Role.ADMIN)
        problems = await trio.to_thread.run_sync(
            _media_flow,
            _base_url(service),
            token,
            Path(service.config.snapshots.dir),
            Path(service.config.recording.dir),
            artifacts,
        )
    assert problems == []
    assert _records_with(caplog, token) == [], "the token must never be logged"
    assert _records_with(caplog, "token=") == [], "nor a signed download URL"
    assert (artifacts / "console-files.png").stat().st_size > 0


def _login_and_reconnect(
    base: str, token: str, add_camera: Any, stop_rpc: Any, start_rpc: Any, artifacts: Path
) -> list[str]:
    with open_page() as (page, problems):
        page.goto(f"{base}/#token=not-a-valid-token")
        expect(page.get_by_role("alert")).to_contain_text("invalid_token")
        expect(page.get_by_label("Token or API key")).to_be_focused()
        screenshot(page, artifacts, "console-login-error.png")
        expect(page.locator("#login")).to_be_visible()
        expect(page.locator("#app")).to_be_hidden()
        assert page.evaluate("sessionStorage.getItem('camsvc.token')") is None

        page.get_by_label("Token or API key").fill(token)
        page.get_by_label("Token or API key").press("Enter")
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        expect(page.get_by_role("alert")).to_be_hidden()
        expect(page.locator("#camera-summary")).to_have_text("No cameras found.")
        add_camera("door")  # by another client: the list follows camera_status_update, no reload
        expect(page.locator('li.card[data-device="door"]')).to_be_visible()
        expect(page.locator("#camera-summary")).to_contain_text("1 camera")

        page.get_by_role("tab", name="Cameras").focus()
        page.keyboard.press("ArrowRight")
        expect(page.get_by_role("tab", name="Files")).to_be_focused()
        expect(page.get_by_role("tab", name="Files")).to_have_attribute("aria-selected", "true")
        expect(page.get_by_role("tabpanel", name="Files")).to_be_visible()
        expect(page.get_by_role("tabpanel", name="Cameras")).to_be_hidden()
        expect(page.locator("#snapshots")).to_contain_text("No snapshots yet.")
        assert page.get_by_role("button", name="Delete").count() == 0  # a viewer

        stop_rpc()
        expect(page.locator("#connection")).to_have_attribute("data-state", "disconnected")
        expect(page.locator("#connection")).to_contain_text("reconnecting")
        expect(page.locator("#files-refresh")).to_be_disabled()
        screenshot(page, artifacts, "console-disconnected.png")
        start_rpc()
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected", timeout=20_000)
        expect(page.locator("#files-refresh")).to_be_enabled()
        return problems.messages


async def test_wrong_token_then_login_then_reconnect_after_a_drop(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # a fixed RPC port: the restarted server must be where the page's WebSocket URL points
    async with running_service(tmp_path, server={"host": "127.0.0.1", "port": free_port()}) as service:
        rpc = service.extras["rpc"]

        def stop_rpc() -> None:
            trio.from_thread.run(service.root.stop_child, "rpc")

        def start_rpc() -> None:
            spec = ChildSpec("rpc", rpc.run, backoff=Backoff(initial=0.5, max=10))
            trio.from_thread.run(service.root.start_child, spec)

        async def add(name: str) -> None:
            async with rpc_client(ws_url(service), token=token_for(service, Role.OPERATOR)) as operator:
                await operator.call("add_external_stream", {"stream_name": name, "stream_url": f"rtsp://127.0.0.1:9/{name}"})

        def add_camera(name: str) -> None:
            trio.from_thread.run(add, name)

        token = token_for(service, Role.VIEWER)
        problems = await trio.to_thread.run_sync(
            _login_and_reconnect, _base_url(service), token, add_camera, stop_rpc, start_rpc, artifact_dir(tmp_path)
        )
    assert problems == []
    assert _records_with(caplog, token) == [] and _records_with(caplog, "not-a-valid-token") == []


def _refreshes(base: str, issue: Callable[[], str]) -> tuple[str, str]:
    with open_page() as (page, _problems):
        token = issue()  # only now: starting the browser may take seconds of a short life
        page.goto(f"{base}/#token={token}")
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        stored = lambda: page.evaluate("sessionStorage.getItem('camsvc.token')")  # noqa: E731
        fresh: str = poll(lambda: stored() if stored() != token else None, what="refresh_token to replace the token")
        expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
        return token, fresh


async def test_a_short_lived_token_is_refreshed_before_it_expires(tmp_path: Path) -> None:
    async with running_service(tmp_path) as service:
        token, fresh = await trio.to_thread.run_sync(
            _refreshes, _base_url(service), lambda: token_for(service, Role.OPERATOR, ttl=6)  # renewed at half-life
        )
        assert fresh != token
        identity = await service.services.auth.authenticate_credential(fresh, "127.0.0.1")
        assert identity.role is Role.OPERATOR and identity.user_id == "tester"
