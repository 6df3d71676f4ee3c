"""The event bus: publish never blocks; each subscriber has a bounded buffer and is dropped
(told so, by the RPC layer) when it falls behind, so a slow client never slows the daemon."""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import trio

from aod.protocol import EVENT_NOTIFICATION, Event, Notification

_encoder = msgspec.json.Encoder()


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _matches(kinds: tuple[str, ...] | None, kind: str) -> bool:
    if kinds is None:
        return True
    return any(kind == k or kind.startswith(k + ".") for k in kinds)


@dataclass(eq=False)
class Subscription:
    id: int
    kinds: tuple[str, ...] | None
    send: trio.MemorySendChannel[tuple[int, bytes]]
    receive: trio.MemoryReceiveChannel[tuple[int, bytes]]
    lagged: bool = False
    last_delivered_seq: int = 0


class EventBus:
    def __init__(self, buffer: int = 1000) -> None:
        self.buffer = buffer
        self.seq = 0
        self._subscriptions: dict[int, Subscription] = {}
        self._ids = itertools.count(1)
        # The latest events, for `aoctl events` without --follow (a cache: the journals on disk
        # are the record).
        self.recent: collections.deque[Event] = collections.deque(maxlen=500)
        # Applied to every event's data before anyone sees it (the daemon takes secrets out).
        self.redact: Callable[[dict[str, Any]], dict[str, Any]] = lambda data: data

    def latest(self, limit: int, kinds: list[str] | None = None) -> list[Event]:
        wanted = tuple(kinds) if kinds is not None else None
        matching = [e for e in self.recent if _matches(wanted, e.kind)]
        return matching[-limit:] if limit > 0 else []

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def subscribe(self, kinds: list[str] | None = None) -> Subscription:
        send, receive = trio.open_memory_channel[tuple[int, bytes]](self.buffer)
        sub = Subscription(
            id=next(self._ids),
            kinds=tuple(kinds) if kinds is not None else None,
            send=send,
            receive=receive,
            last_delivered_seq=self.seq,
        )
        self._subscriptions[sub.id] = sub
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if self._subscriptions.pop(sub.id, None) is not None:
            sub.send.close()

    def publish(self, kind: str, *, session: str | None = None, **data: Any) -> Event:
        """Stamp the next seq and hand the event to every matching subscriber, never waiting."""
        self.seq += 1
        event = Event(seq=self.seq, time=utc_now_iso(), kind=kind, session=session, data=self.redact(data))
        self.recent.append(event)
        body: bytes | None = None
        for sub in list(self._subscriptions.values()):
            if not _matches(sub.kinds, kind):
                continue
            if body is None:  # encode once, however many subscribers
                body = _encoder.encode(Notification(method=EVENT_NOTIFICATION, params=event))
            try:
                sub.send.send_nowait((event.seq, body))
            except trio.WouldBlock:
                # Its forwarder sees `lagged` at its next receive and tells the client.
                sub.lagged = True
                self.unsubscribe(sub)
        return event
