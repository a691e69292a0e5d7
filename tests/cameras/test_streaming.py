"""open_stream: a lease answered only once MediaMTX serves the stream, rolled back when it does not."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from camsvc.cameras.actor import StreamLease
from camsvc.cameras.streaming import open_stream
from camsvc.errors import DependencyFailed


@attrs.define
class FakeActor:
    id: str = "camera0"
    lease: StreamLease | None = None
    closed: int = 0

    def open_lease(self) -> StreamLease:
        if self.lease is None:
            self.lease = StreamLease(start_time=1.0)
        return self.lease

    def close_lease(self) -> StreamLease | None:
        self.closed += 1
        lease, self.lease = self.lease, None
        return lease


@attrs.define
class Ready:
    ready: bool


@attrs.define
class FakeGateway:
    ready_after: int | None = 0
    calls: int = 0
    synced: list[float] = attrs.Factory(list)

    def ensure_available(self) -> None:
        pass

    async def sync(self, timeout: float, *, name: str | None = None) -> None:  # noqa: ASYNC109
        self.synced.append(timeout)

    async def runtime(self, name: str) -> Ready | None:
        self.calls += 1
        if self.ready_after is None:
            return None
        return Ready(self.calls > self.ready_after)


async def open_with(actor: Any, gateway: Any, ready_timeout: float = 5.0) -> StreamLease:
    return await open_stream(actor, gateway, sync_timeout=2.0, ready_timeout=ready_timeout)


async def test_answers_once_the_stream_is_ready() -> None:
    actor, gateway = FakeActor(), FakeGateway(ready_after=2)
    lease = await open_with(actor, gateway)
    assert lease is actor.lease and gateway.synced == [2.0] and gateway.calls == 3


async def test_without_a_gateway_the_lease_is_opened_at_once() -> None:
    actor = FakeActor()
    assert await open_with(actor, None) is actor.lease


async def test_a_stream_that_never_comes_up_closes_the_lease_it_opened(autojump_clock: Any) -> None:
    actor = FakeActor()
    with pytest.raises(DependencyFailed) as info:
        await open_with(actor, FakeGateway(ready_after=None), ready_timeout=3.0)
    assert info.value.reason == "stream_not_ready"
    assert actor.lease is None and actor.closed == 1


async def test_a_lease_that_was_already_open_stays(autojump_clock: Any) -> None:
    actor = FakeActor()
    held = actor.open_lease()
    with pytest.raises(DependencyFailed):
        await open_with(actor, FakeGateway(ready_after=None), ready_timeout=3.0)
    assert actor.lease is held and actor.closed == 0
