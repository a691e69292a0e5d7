"""Trio instruments that live as long as a task: installed when it starts, removed when it ends."""

from __future__ import annotations

import trio


async def keep_installed(
    instrument: trio.abc.Instrument, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Install ``instrument`` until this task is cancelled; whoever runs the task owns its lifetime."""
    trio.lowlevel.add_instrument(instrument)
    try:
        task_status.started()
        await trio.sleep_forever()
    finally:
        trio.lowlevel.remove_instrument(instrument)
