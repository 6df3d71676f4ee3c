"""JSON-RPC over HTTP for the dashboard: `POST /rpc` (one message, single or batch) and the
WebSocket `/rpc` (one message per text frame, replies and pushed notifications as text frames).

Both hand each message to the daemon's one `Dispatcher`, exactly as the Unix socket does, so the
page reaches every method of `protocol.METHODS` with the socket's semantics; `events.subscribe`
on the WebSocket pushes through the socket server's own `Subscriptions` (aod/subscriptions.py).

May import: dispatch, events, protocol, subscriptions, handlers (Call), web.asgi.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import structlog
import trio

from aod.dispatch import Dispatcher, error_reply
from aod.events import EventBus, Subscription
from aod.protocol import ErrorCode
from aod.subscriptions import ConnectionClosed, Subscriptions, Transport
from aod.web.asgi import WebSocket

log = structlog.get_logger()
MAX_IN_FLIGHT_PER_SOCKET = 64
"""As on the Unix socket: requests worked on at once per WebSocket, batch entries included."""
_ids = itertools.count(1)


@dataclass(eq=False)
class HttpPeer:
    """One `POST /rpc`: a connection that ends with its reply, so it cannot carry events."""

    limits: Any
    transport: Transport = "http"
    can_subscribe: bool = False
    subscriptions: dict[int, Subscription] = field(default_factory=dict)

    def add_subscription(self, sub: Subscription) -> None:  # pragma: no cover - refused first
        raise RuntimeError("an HTTP request cannot carry notifications")

    def remove_subscription(self, sub_id: int) -> bool:
        return False


async def answer_post(dispatcher: Dispatcher, make_call: Any, limits: Any, body: bytes) -> bytes | None:
    """The reply to one POSTed message (None: it held only notifications)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return error_reply(None, ErrorCode.PARSE_ERROR, "parse error: not UTF-8")
    # The same bound on a batch's entries worked on at once as one socket connection has.
    slots = trio.Semaphore(MAX_IN_FLIGHT_PER_SOCKET - 1)
    return await dispatcher.handle(body, make_call(HttpPeer(limits)), slots=slots)


class WebSocketPeer:
    """The WebSocket `/rpc` as handlers see it (a `Peer`): its limits, its subscriptions."""

    transport: Transport = "websocket"
    can_subscribe = True

    def __init__(self, ws: WebSocket, bus: EventBus, limits: Any, nursery: trio.Nursery) -> None:
        self.id = next(_ids)
        self.ws = ws
        self.limits = limits
        self.events = Subscriptions(bus, self.send, nursery, label={"web_socket": self.id})

    @property
    def subscriptions(self) -> dict[int, Subscription]:
        return self.events.by_id

    def add_subscription(self, sub: Subscription) -> None:
        self.events.add(sub)

    def remove_subscription(self, sub_id: int) -> bool:
        return self.events.remove(sub_id)

    async def send(self, body: bytes) -> None:
        """One message as a text frame; a peer that cannot take it in `write_timeout` is ended,
        so it cannot hold its subscriptions' buffers (as on the socket)."""
        if self.ws.gone:
            raise ConnectionClosed()
        with trio.move_on_after(self.limits.write_timeout) as scope:
            await self.ws.send_text(body.decode("utf-8"))
        if scope.cancelled_caught:
            log.warning("dashboard page stopped reading; closing its WebSocket", web_socket=self.id)
            self.ws.end_reading()
            raise ConnectionClosed()
        if self.ws.gone:
            raise ConnectionClosed()


async def serve_rpc_socket(ws: WebSocket, dispatcher: Dispatcher, make_call: Any, bus: EventBus, limits: Any) -> None:
    """Read messages until the page goes away (or aod stops: `ws.end_reading()`), each answered
    in its own task like on the socket; then end its subscriptions and let the requests already
    read finish before the WebSocket is closed."""
    in_flight = trio.Semaphore(MAX_IN_FLIGHT_PER_SOCKET)
    async with trio.open_nursery() as nursery:
        peer = WebSocketPeer(ws, bus, limits, nursery)
        call = make_call(peer)

        async def answer(message: bytes) -> None:
            try:
                reply = await dispatcher.handle(message, call, slots=in_flight)
                if reply is not None:
                    await peer.send(reply)
            except ConnectionClosed:
                pass
            finally:
                in_flight.release()

        try:
            while (message := await ws.receive()) is not None:
                if isinstance(message, bytes):
                    await peer.send(error_reply(None, ErrorCode.PARSE_ERROR, "parse error: send JSON-RPC as text frames"))
                    continue
                data = message.encode("utf-8")
                if len(data) > limits.max_message_bytes:
                    await peer.send(error_reply(
                        None, ErrorCode.MESSAGE_TOO_LARGE,
                        f"message too large: the limit is {limits.max_message_bytes} bytes",
                        {"limit": limits.max_message_bytes},
                    ))
                    break
                await in_flight.acquire()
                nursery.start_soon(answer, data)
        except ConnectionClosed:
            pass
        finally:
            peer.events.clear()
