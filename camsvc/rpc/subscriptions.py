"""Event subscriptions (spec §5): topics, aliases, device filters and the fan-out.

Each connection keeps the topics exactly as it subscribed them (aliases such as
``camera.connected`` are kept as given, for ``get_subscription_stats``); matching
uses the canonical topic. The hub is the one event-bus subscriber of the RPC
server: for each event it walks only the connections subscribed to that topic,
and hands each the notification frame, encoded once per client host and shared.
Delivery never awaits: a connection whose queue is full closes itself (1008).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from ..errors import InvalidParams
from ..events import TOPICS, Event
from .frames import text_frame

#: dotted forms older clients use → canonical topic
ALIASES = {
    "camera.connected": "camera_status_update",
    "camera.disconnected": "camera_status_update",
    "camera.status_change": "camera_status_update",
    "recording.start": "recording_status_update",
    "recording.started": "recording_status_update",
    "recording.stop": "recording_status_update",
    "recording.stopped": "recording_status_update",
    "recording.error": "recording_status_update",
    "snapshot.taken": "snapshot_taken",
    "system.health": "system_health_update",
}
DEFAULT_TOPICS = ("camera_status_update", "recording_status_update")
ALL_TOPIC_NAMES = (*TOPICS, *ALIASES)


def canonical(topic: str) -> str | None:
    if topic in TOPICS:
        return topic
    return ALIASES.get(topic)


class Subscriber(Protocol):
    id: str
    host: str | None
    #: topic as given → device filter (None = every device)
    topics: dict[str, str | None]

    def send_frame(self, frame: bytes) -> None: ...


class SubscriptionHub:
    def __init__(self, resolve_device: Callable[[str], str] = lambda d: d) -> None:
        #: canonical topic → subscribers (insertion-ordered set)
        self._index: dict[str, dict[Subscriber, None]] = {t: {} for t in TOPICS}
        self._resolve = resolve_device
        self.delivered = 0

    # ------------------------------------------------------------ changes

    def subscribe(self, sub: Subscriber, topics: Iterable[str], device: str | None = None) -> list[str]:
        """Add topics (validated first: one unknown topic rejects the whole call)."""
        topics = list(topics)
        for topic in topics:
            if canonical(topic) is None:
                raise InvalidParams("topics", "unknown_topic", f"unknown topic {topic!r}; known: {', '.join(ALL_TOPIC_NAMES)}")
        device = self._resolve(device) if device else None
        for topic in topics:
            sub.topics[topic] = device
            self._index[canonical(topic) or topic][sub] = None
        return topics

    def unsubscribe(self, sub: Subscriber, topics: Iterable[str] | None = None) -> list[str]:
        """Remove the given topics (as given or canonical), or all of them; returns those removed."""
        if topics is None:
            removed = list(sub.topics)
        else:
            wanted = list(topics)
            for topic in wanted:
                if canonical(topic) is None:
                    raise InvalidParams("topics", "unknown_topic", f"unknown topic {topic!r}")
            removed = [t for t in sub.topics if t in wanted or canonical(t) in wanted]
        for topic in removed:
            del sub.topics[topic]
        self._reindex(sub)
        return removed

    def drop(self, sub: Subscriber) -> None:
        sub.topics.clear()
        self._reindex(sub)

    def _reindex(self, sub: Subscriber) -> None:
        still = {canonical(t) for t in sub.topics}
        for topic, subs in self._index.items():
            if topic not in still:
                subs.pop(sub, None)

    # ------------------------------------------------------------ reading

    def stats(self) -> dict[str, object]:
        clients: set[Subscriber] = set()
        for subs in self._index.values():
            clients.update(subs)
        return {
            "total_subscriptions": sum(len(s.topics) for s in clients),
            "active_clients": len(clients),
            "topic_counts": {topic: len(subs) for topic, subs in self._index.items()},
        }

    # ----------------------------------------------------------- delivery

    def deliver(self, event: Event) -> None:
        """Event-bus subscriber: queue the event's notification to every matching connection."""
        subs = self._index.get(event.topic)
        if not subs:
            return
        frames: dict[str | None, bytes] = {}
        device = event.device
        for sub in list(subs):
            if device is not None:
                filters = [d for t, d in sub.topics.items() if canonical(t) == event.topic]
                if None not in filters and device not in filters:
                    continue
            host = sub.host if event.render is not None else None
            frame = frames.get(host)
            if frame is None:
                frame = frames[host] = text_frame(event.notification(host).encode())
            sub.send_frame(frame)
            self.delivered += 1
