"""Print the deployment test's measured figures (install/upgrade/rollback/uninstall times, exposure)."""

from __future__ import annotations

import json

import pytest

from tests.deploy.nspawn_container import FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.write_sep("-", "deployment figures (systemd-nspawn, Debian bookworm)")
        terminalreporter.write_line(json.dumps(FIGURES))
