"""A connection's event subscriptions, pushed through its own `send`: the one implementation the
Unix socket (aod/server.py) and the web's WebSocket `/rpc` (aod/web/rpc_transport.py) share, so
`events.subscribe` behaves the same on both (the same notifications, the same lag handling).

`Peer` is what a handler may touch of the connection its call came on (`call.connection`).

May import: events, protocol, structlog, trio.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

import msgspec
import structlog
import trio

from aod.events import EventBus, Subscription
from aod.protocol import DROPPED_NOTIFICATION, DroppedParams, Notification

log = structlog.get_logger()
_encoder = msgspec.json.Encoder()

Transport = Literal["unix", "websocket", "http"]


class ConnectionClosed(Exception):
    """The peer is gone (or stopped reading): nothing more can be sent on this connection."""


class Peer(Protocol):
    """The connection a call came on, as handlers see it."""

    transport: Transport
    """`unix` (the socket: peer uid checked), `websocket` or `http` (the dashboard: token checked)."""
    limits: Any
    """aod.server.ServerLimits (only `max_subscriptions` is read by handlers)."""

    @property
    def subscriptions(self) -> dict[int, Subscription]: ...

    @property
    def can_subscribe(self) -> bool:
        """False for a connection that cannot carry notifications (one HTTP POST)."""
        ...

    def add_subscription(self, sub: Subscription) -> None: ...

    def remove_subscription(self, sub_id: int) -> bool: ...


class Subscriptions:
    """The subscriptions of one connection. Each has a task in `nursery` that forwards its events
    through `send` (which raises ConnectionClosed once the peer is gone); one that fell behind
    is ended and its peer told with `events.dropped`. `changed` is called whenever one is added or
    removed (the socket server re-arms its idle timer then)."""

    def __init__(
        self,
        bus: EventBus,
        send: Callable[[bytes], Awaitable[None]],
        nursery: trio.Nursery,
        *,
        changed: Callable[[], None] = lambda: None,
        label: dict[str, Any] | None = None,
    ) -> None:
        self.bus = bus
        self.by_id: dict[int, Subscription] = {}
        self._send = send
        self._nursery = nursery
        self._changed = changed
        self._label = label or {}

    def add(self, sub: Subscription) -> None:
        self.by_id[sub.id] = sub
        self._changed()
        self._nursery.start_soon(self._forward, sub)

    def remove(self, sub_id: int) -> bool:
        sub = self.by_id.pop(sub_id, None)
        if sub is None:
            return False
        self.bus.unsubscribe(sub)
        self._changed()
        return True

    def clear(self) -> None:
        """End every subscription (the connection is closing)."""
        for sub in list(self.by_id.values()):
            self.bus.unsubscribe(sub)
        self.by_id.clear()

    async def _forward(self, sub: Subscription) -> None:
        try:
            async for seq, body in sub.receive:
                if sub.lagged:
                    break
                await self._send(body)
                sub.last_delivered_seq = seq
            if sub.lagged:
                self.by_id.pop(sub.id, None)
                self._changed()
                log.warning(
                    "subscriber fell behind; dropping its subscription",
                    **self._label,
                    subscription=sub.id,
                    buffer=self.bus.buffer,
                )
                notice = DroppedParams(
                    subscription=sub.id,
                    last_seq=sub.last_delivered_seq,
                    reason=f"more than {self.bus.buffer} events waiting; subscribe again",
                )
                await self._send(_encoder.encode(Notification(method=DROPPED_NOTIFICATION, params=notice)))
        except ConnectionClosed:
            pass
