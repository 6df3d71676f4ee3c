"""The few ASGI pieces the dashboard needs, written out (the ASGI spec, HTTP and WebSocket):
a request's headers, a whole response, a bounded body, a WebSocket refused with an HTTP status,
and a WebSocket as something to receive from and send to.

No routing and no policy here (aod/web/app.py has them). May import: trio.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import trio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large",
    415: "Unsupported Media Type", 421: "Misdirected Request", 500: "Internal Server Error",
    503: "Service Unavailable",
}


class Headers:
    """A request's headers by lower-case name (latin-1, as HTTP/1.1 carries them)."""

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._values: dict[str, list[str]] = {}
        for name, value in raw:
            self._values.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))

    def get(self, name: str) -> str | None:
        values = self._values.get(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name, ()))

    def count(self, name: str) -> int:
        return len(self._values.get(name, ()))


async def respond(
    send: Send,
    status: int,
    body: bytes = b"",
    *,
    content_type: str = "text/plain; charset=utf-8",
    headers: list[tuple[bytes, bytes]] | None = None,
    head_only: bool = False,
) -> None:
    """One whole HTTP response (`headers` must include the security headers)."""
    out = list(headers or [])
    bodiless = status in (204, 304)  # no body, and no headers describing one
    if not bodiless:
        out += [(b"content-type", content_type.encode("latin-1")), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": b"" if head_only or bodiless else body})


def text(message: str) -> bytes:
    return (message.rstrip("\n") + "\n").encode("utf-8")


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class ClientGone(Exception):
    """The client disconnected before the request was read."""


async def read_body(receive: Receive, limit: int) -> bytes:
    """The whole request body, refused past `limit` bytes (BodyTooLarge) without reading on.
    The caller bounds the time (a body sent a byte a minute must not hold a slot)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def refuse_websocket(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    """Answer a WebSocket upgrade with a plain HTTP status instead of accepting it (the ASGI
    `websocket.http.response` extension; the server we run has it)."""
    out = [*headers, (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "websocket.http.response.start", "status": status, "headers": out})
    await send({"type": "websocket.http.response.body", "body": body})


class WebSocket:
    """An accepted WebSocket. `receive()` gives text (str) or binary (bytes) messages and None
    once the peer has gone (or `end_reading()` was called: aod is stopping). Sends after the
    peer went away are dropped: there is no one to tell."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self.gone = False
        self.closed = False
        self._reading: trio.CancelScope | None = None
        self._send_lock = trio.Lock()

    async def accept(self, headers: list[tuple[bytes, bytes]]) -> None:
        message = await self._receive()
        if message["type"] != "websocket.connect":
            self.gone = True
            return
        await self._send({"type": "websocket.accept", "headers": headers})

    async def receive(self) -> bytes | str | None:
        if self.gone or self.closed:
            return None
        with trio.CancelScope() as self._reading:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self.gone = True
                return None
            if message.get("text") is not None:
                return str(message["text"])
            return bytes(message.get("bytes") or b"")
        return None  # reading was ended

    def end_reading(self) -> None:
        """No more messages are read (aod is stopping): `receive()` returns None from now on."""
        self.closed = True
        if self._reading is not None:
            self._reading.cancel()

    async def send_text(self, data: str) -> None:
        await self._out({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self._out({"type": "websocket.send", "bytes": bytes(data)})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = True
        if not self.gone:
            await self._out({"type": "websocket.close", "code": code, "reason": reason})
            self.gone = True

    async def _out(self, message: Message) -> None:
        if self.gone:
            return
        async with self._send_lock:
            if not self.gone:
                await self._send(message)
