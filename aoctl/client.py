"""A blocking JSON-RPC client for aod's Unix socket (newline-delimited JSON)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any, TypeVar

import msgspec

from aod.wire import (
    DEFAULT_MAX_MESSAGE_BYTES,
    ErrorObject,
    Notification,
    Request,
    peer_uid,
    socket_dir_problem,
)

try:
    # The C module under `socket`: that one builds its enums on import, ~5 ms of every command's
    # start-up with `selectors`. A blocking AF_UNIX stream needs nothing it adds but makefile(),
    # and the line reader below does that job.
    import _socket as socket
except ImportError:  # pragma: no cover - an interpreter without it
    import socket  # type: ignore[no-redef]

_RECEIVE_CHUNK = 256 * 1024
_MAX_LINE = DEFAULT_MAX_MESSAGE_BYTES * 64

T = TypeVar("T")


class _Incoming(msgspec.Struct):
    """Any message from aod, decoded once: `result` and `params` stay JSON text until the caller
    says what they are (decoded straight into the result's type, or passed through by --json)."""

    jsonrpc: str = ""
    id: Any = None
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: ErrorObject | msgspec.UnsetType = msgspec.UNSET
    method: str | msgspec.UnsetType = msgspec.UNSET
    params: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


_incoming = msgspec.json.Decoder(_Incoming)
_encoder = msgspec.json.Encoder()


class DaemonNotRunning(Exception):
    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"aod is not running at {path} ({why})")
        self.path = path
        self.why = why


class NotYourDaemon(Exception):
    """The socket is there but refuses us: it belongs to another user's aod."""

    def __init__(self, path: str) -> None:
        super().__init__(f"permission denied at {path}")
        self.path = path


class UntrustedSocket(Exception):
    """The socket may not be aod's own: its directory can be written by others, or the process
    listening on it runs as another user. Nothing was sent to it."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"refusing to talk to {path}: {why}")
        self.path = path
        self.why = why


class ProtocolError(Exception):
    """aod sent something that is not a valid reply, closed early, or took too long."""


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class Client:
    def __init__(self, path: str, timeout: float | None = 30.0) -> None:
        self.path = path
        self._ids = itertools.count(1)
        self._pending: list[Notification] = []
        problem = socket_dir_problem(path)
        if problem:
            raise UntrustedSocket(path, problem)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise DaemonNotRunning(path, exc.strerror or type(exc).__name__) from None
        except PermissionError:
            sock.close()
            raise NotYourDaemon(path) from None
        except OSError as exc:
            sock.close()
            raise DaemonNotRunning(path, str(exc)) from None
        # Before anything is sent: what aoctl sends (messages for agents) and what it runs
        # (`attach`) must reach our own aod, not a listener another user planted.
        try:
            listener = peer_uid(sock)
        except OSError as exc:
            listener, why = None, f"cannot read who listens on it: {exc.strerror or exc}"
        else:
            why = "this system cannot tell who listens on it"
        if listener != os.getuid():
            sock.close()
            if listener is not None:
                why = f"it is served by uid {listener}, not by you (uid {os.getuid()})"
            raise UntrustedSocket(path, why)
        self._sock = sock
        self._buffer = bytearray()
        self._scanned = 0  # how much of the buffer is known to hold no newline

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def set_timeout(self, timeout: float | None) -> None:
        self._sock.settimeout(timeout)

    def call_raw(self, method: str, params: dict[str, Any] | list[Any] | None = None) -> bytes:
        """Send one request and return its `result` as aod's JSON text, or raise RpcError."""
        request_id = next(self._ids)
        self._send(
            Request(method=method, params=msgspec.UNSET if params is None else params, id=request_id)
        )
        while True:
            message = self._receive()
            if message.method is not msgspec.UNSET:
                self._pending.append(_notification(message))
                continue
            if message.id != request_id:
                raise ProtocolError(f"reply to request {message.id!r}, expected {request_id}")
            if message.error is not msgspec.UNSET:
                raise RpcError(message.error.code, message.error.message, message.error.data)
            if message.result is msgspec.UNSET:
                raise ProtocolError(f"aod's reply to {method} has neither a result nor an error")
            return bytes(message.result)

    def call(self, method: str, params: dict[str, Any] | list[Any] | None = None) -> Any:
        """Send one request and return its `result` as plain values, or raise RpcError."""
        return msgspec.json.decode(self.call_raw(method, params))

    def call_as(
        self, result_type: type[T], method: str, params: dict[str, Any] | None = None
    ) -> T:
        """The result decoded straight into `result_type` (one pass, checked)."""
        raw = self.call_raw(method, params)
        try:
            return msgspec.json.decode(raw, type=result_type)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            raise ProtocolError(f"unexpected result for {method}: {exc}") from None

    def notifications(self) -> Iterator[Notification]:
        """Yield pushed notifications until aod closes the connection."""
        while self._pending:
            yield self._pending.pop(0)
        while True:
            message = self._receive(eof_ok=True)
            if message is None:
                return
            if message.method is not msgspec.UNSET:
                yield _notification(message)

    def _send(self, request: Request) -> None:
        try:
            self._sock.sendall(_encoder.encode(request) + b"\n")
        except TimeoutError:
            raise ProtocolError("timed out sending to aod") from None
        except OSError as exc:
            raise ProtocolError(f"connection to aod lost while sending: {exc}") from None

    def _read_line(self) -> bytes:
        """The next line (with its newline), or what is left at end of stream (b"" when nothing)."""
        buffer = self._buffer
        while True:
            end = buffer.find(b"\n", self._scanned)
            if end >= _MAX_LINE or (end < 0 and len(buffer) > _MAX_LINE):
                raise ProtocolError(f"aod sent a message over {_MAX_LINE} bytes")
            if end >= 0:
                line = bytes(buffer[: end + 1])
                del buffer[: end + 1]
                self._scanned = 0
                return line
            self._scanned = len(buffer)
            chunk = self._sock.recv(_RECEIVE_CHUNK)
            if not chunk:
                rest = bytes(buffer)
                buffer.clear()
                self._scanned = 0
                return rest
            buffer += chunk

    def _receive(self, eof_ok: bool = False) -> Any:
        try:
            line = self._read_line()
        except TimeoutError:
            raise ProtocolError("timed out waiting for aod to answer") from None
        except OSError as exc:
            raise ProtocolError(f"connection to aod lost: {exc}") from None
        if not line:
            if eof_ok:
                return None
            raise ProtocolError("aod closed the connection before answering")
        try:
            return _incoming.decode(line)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolError(f"aod sent an invalid message: {exc}") from None


def _notification(message: _Incoming) -> Notification:
    params = msgspec.json.decode(message.params) if message.params is not msgspec.UNSET else None
    return Notification(method=str(message.method), params=params)
