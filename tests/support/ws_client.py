"""A blocking WebSocket client for tests: wsproto (the sans-IO library hypercorn itself uses, so
no new dependency) over a plain socket. It sends exactly the headers a test gives, so tests can
play a browser on another site (a foreign Origin) as easily as the dashboard's own page."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)


class Refused(Exception):
    """The server answered the upgrade with an HTTP status instead of a WebSocket."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(f"upgrade refused with {status}: {body[:200]!r}")
        self.status = status
        self.headers = headers
        self.body = body


class WsClient:
    def __init__(self, port: int, path: str, *, host: str | None = None, origin: str | None = None,
                 cookie: str | None = None, headers: list[tuple[str, str]] | None = None, timeout: float = 10.0,
                 receive_buffer: int | None = None) -> None:
        self.sock = socket.socket()
        if receive_buffer is not None:  # before connecting: a page that reads slowly, or not at all
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(("127.0.0.1", port))
        except BaseException:
            self.sock.close()
            raise
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.closed: CloseConnection | None = None
        self._pending: list[str | bytes] = []
        self._parts: list[Any] = []
        self._backlog: list[Any] = []
        extra = list(headers or [])
        if origin is not None:
            extra.append(("Origin", origin))
        if cookie is not None:
            extra.append(("Cookie", cookie))
        try:
            self._handshake(host or f"127.0.0.1:{port}", path, extra)
        except BaseException:
            self.sock.close()
            raise

    def _handshake(self, host: str, path: str, extra: list[tuple[str, str]]) -> None:
        self.sock.sendall(self.ws.send(Request(host=host, target=path, extra_headers=extra)))
        status, response_headers, body = None, {}, b""
        while True:
            events = self._events()
            for n, event in enumerate(events):
                if isinstance(event, AcceptConnection):
                    self._backlog = events[n + 1 :]  # messages that came with the acceptance
                    return
                if isinstance(event, RejectConnection):
                    status = event.status_code
                    response_headers = {k.decode().lower(): v.decode() for k, v in event.headers}
                    if not event.has_body:
                        raise Refused(status, response_headers, body)
                elif isinstance(event, RejectData):
                    body += event.data
                    if event.body_finished:
                        assert status is not None
                        raise Refused(status, response_headers, body)

    def _events(self) -> list[Any]:
        data = self.sock.recv(65536)
        self.ws.receive_data(data or None)
        return list(self.ws.events())

    def send_text(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(self.ws.send(BytesMessage(data=data)))

    def send_json(self, obj: Any) -> None:
        self.send_text(json.dumps(obj))

    def receive(self, timeout: float = 10.0) -> str | bytes | None:
        """The next whole message, or None once the server closed the WebSocket."""
        deadline = time.monotonic() + timeout
        while not self._pending:
            if self.closed is not None:
                return None
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                events, self._backlog = (self._backlog or self._events()), []
            except (TimeoutError, socket.timeout):
                raise AssertionError(f"no WebSocket message within {timeout}s") from None
            except OSError:
                self.closed = CloseConnection(code=1006)
                return None
            for event in events:
                if isinstance(event, Message):
                    self._parts.append(event.data)
                    if event.message_finished:
                        first = self._parts[0]
                        whole: str | bytes = "".join(self._parts) if isinstance(first, str) else b"".join(self._parts)
                        self._pending.append(whole)
                        self._parts = []
                elif isinstance(event, Ping):
                    self.sock.sendall(self.ws.send(event.response()))
                elif isinstance(event, CloseConnection):
                    self.closed = event
                    try:
                        self.sock.sendall(self.ws.send(event.response()))
                    except Exception:  # noqa: BLE001 - the server may be gone already
                        pass
            if not events and self.closed is None:
                self.closed = CloseConnection(code=1006)  # EOF without a close frame
        return self._pending.pop(0)

    def receive_json(self, timeout: float = 10.0) -> Any:
        message = self.receive(timeout)
        assert isinstance(message, str), f"expected a text message, got {message!r}"
        return json.loads(message)

    def close(self) -> None:
        try:
            if self.closed is None:
                self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        except Exception:  # noqa: BLE001
            pass
        self.sock.close()

    def __enter__(self) -> WsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
