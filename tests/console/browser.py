"""Headless Debian Chromium driven by playwright, for the web console tests.

The browser is the system's ``/usr/bin/chromium`` (``apt-get install chromium``); playwright's own
browser download is never used. Playwright's sync API runs in a worker thread (``trio.to_thread``)
so the in-process service keeps serving on the trio loop while the browser waits.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from playwright.sync_api import ConsoleMessage, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} not installed (apt-get install chromium)"
)

LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Generous waits for a loaded CI machine; a passing run never waits this long.
expect.set_options(timeout=10_000)

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@attrs.define
class BrowserProblems:
    """Uncaught page errors and Content-Security-Policy violations seen while the page ran."""

    messages: list[str] = attrs.Factory(list)

    def watch(self, page: Page) -> None:
        # plain functions: playwright tags handlers with attributes, which a slotted bound method refuses
        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error" and "Content Security Policy" in message.text:
                self.messages.append(f"CSP: {message.text}")

        page.on("pageerror", lambda exc: self.messages.append(f"page error: {exc}"))
        page.on("console", on_console)


@contextlib.contextmanager
def open_page(*, viewport: dict[str, int] = DESKTOP) -> Iterator[tuple[Page, BrowserProblems]]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport=viewport, accept_downloads=True)  # type: ignore[arg-type]
            page = context.new_page()
            page.set_default_timeout(10_000)
            problems = BrowserProblems()
            problems.watch(page)
            yield page, problems
        finally:
            browser.close()


def artifact_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``$CAMSVC_TEST_ARTIFACTS`` (CI keeps it), else the test's temp dir."""
    directory = Path(os.environ.get("CAMSVC_TEST_ARTIFACTS") or tmp_path / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def screenshot(page: Page, directory: Path, name: str) -> Path:
    path = directory / name
    page.screenshot(path=str(path), full_page=True)
    print(f"console screenshot: {path}")
    return path
