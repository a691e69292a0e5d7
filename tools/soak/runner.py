"""One soak run: start the stack, load it, stop it, report."""

from __future__ import annotations

import time
from typing import Any

import trio

from . import report
from .stack import Stack
from .workload import Options, Soak


async def soak(stack: Stack, options: Options) -> dict[str, Any]:
    """Run the soak against a fresh ``stack`` and return the report (see :func:`report.build`)."""
    began = time.monotonic()
    await trio.to_thread.run_sync(stack.start)
    try:
        seen = await Soak(stack, options).run()
    finally:
        code = await trio.to_thread.run_sync(stack.stop)
    return report.build(stack, options, seen, code, time.monotonic() - began)
