"""The dashboard's connections: our accept loop, hypercorn's HTTP/1.1 and WebSocket protocol code
on each connection, and a deadline on every write.

Why not `hypercorn.trio.serve`: hypercorn shields each write from cancellation, so a browser that
stops reading (its socket buffer full) would hold its task forever — and with it aod's stop,
which waits for the connections to end (found by a test: aod never exited). Here every
connection's stream is a `WriteDeadlineStream`: a write that has not gone out within
`api.write_timeout` (or by the end of `api.shutdown_grace` once aod stops) drops the connection,
as the Unix socket does. The rest of what `serve` does
we need not: aod binds the socket itself, and our application has no lifespan events.

The pieces of hypercorn used (its TCPServer per connection, WorkerContext, the ASGI wrapper,
its Config) are those its trio worker is built of; pyproject.toml pins the minor version they
were written against, and tests/e2e/test_web.py drives them.

May import: hypercorn, trio, structlog.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import structlog
import trio

from aod.accepting import accept_forever

log = structlog.get_logger()
BACKLOG = 128


class WriteDeadlines:
    """The writes in progress on every connection, so that a stop can shorten their deadlines."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.latest = float("inf")
        self.scopes: set[trio.CancelScope] = set()

    def no_later_than(self, deadline: float) -> None:
        self.latest = deadline
        for scope in self.scopes:
            scope.deadline = min(scope.deadline, deadline)


class WriteDeadlineStream(trio.abc.HalfCloseableStream):
    """A connection's stream whose writes give up after `write_timeout` (or when aod's stop says
    so): the connection is then broken (a half-written frame leaves it unusable anyway) and every
    later write fails too."""

    def __init__(self, stream: trio.SocketStream, deadlines: WriteDeadlines) -> None:
        self._stream = stream
        self._deadlines = deadlines
        self._broken = False
        self.socket = stream.socket  # hypercorn reads the peer's address from it

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self._broken:
            raise trio.BrokenResourceError("the peer stopped reading")
        deadlines = self._deadlines
        # Its own deadline: hypercorn's shield around the write does not stop this one.
        with trio.move_on_at(min(trio.current_time() + deadlines.timeout, deadlines.latest)) as scope:
            deadlines.scopes.add(scope)
            try:
                await self._stream.send_all(data)
                return
            finally:
                deadlines.scopes.discard(scope)
        self._broken = True
        log.warning("dashboard client stopped reading; dropping its connection", write_timeout_s=self._deadlines.timeout)
        raise trio.BrokenResourceError("the peer stopped reading")

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self._stream.receive_some(max_bytes)

    async def send_eof(self) -> None:
        if not self._broken:
            await self._stream.send_eof()

    async def aclose(self) -> None:
        await self._stream.aclose()


def hypercorn_config(*, max_message_bytes: int) -> Any:
    from hypercorn.config import Config

    config = Config()
    # Above the API's own limit, so that a message just over it gets the API's error (-32002,
    # then the WebSocket is closed, as on the socket) rather than a bare close.
    config.websocket_max_message_size = max_message_bytes + 64 * 1024
    config.include_server_header = False
    config.accesslog = None
    config.logger_class = _logger_class()
    return config


async def serve_connections(
    sock: socket.socket,
    asgi_app: Any,
    *,
    max_message_bytes: int,
    write_timeout: float,
    grace: float,
    shutdown: trio.Event,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Accept on the bound `sock` until `shutdown`; then stop accepting, close idle keep-alive
    connections at once, give the others `grace` seconds, and cancel what is left."""
    from hypercorn.trio.tcp_server import TCPServer
    from hypercorn.trio.worker_context import WorkerContext
    from hypercorn.typing import ConnectionState
    from hypercorn.utils import wrap_app

    config = hypercorn_config(max_message_bytes=max_message_bytes)
    app = wrap_app(asgi_app, config.wsgi_max_body_size, "asgi")
    context = WorkerContext(None)
    deadlines = WriteDeadlines(write_timeout)
    sock.listen(BACKLOG)
    listener = trio.SocketListener(trio.socket.from_stdlib_socket(sock))

    async def connection(stream: trio.SocketStream) -> None:
        try:
            await TCPServer(app, config, context, ConnectionState({}), WriteDeadlineStream(stream, deadlines))  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - one connection's failure must not reach the others
            log.exception("dashboard connection failed")

    async with trio.open_nursery() as connections:
        accepting = trio.CancelScope()

        async def accept() -> None:
            with accepting:
                await accept_forever(listener, connections, connection, "dashboard")

        connections.start_soon(accept)
        task_status.started()
        await shutdown.wait()
        accepting.cancel()
        await context.terminated.set()  # hypercorn closes idle keep-alive connections on this
        stop_by = trio.current_time() + grace
        connections.cancel_scope.deadline = stop_by
        deadlines.no_later_than(stop_by)  # a write blocked on a peer that does not read ends too


_LEVELS = {"critical": logging.CRITICAL, "error": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO, "debug": logging.DEBUG}


def _logger_class() -> type:
    """hypercorn's logger, writing to aod's structlog log (its access log stays off)."""
    from hypercorn.logging import Logger

    class HypercornToStructlog(Logger):
        def __init__(self, config: Any) -> None:
            self.access_logger = None
            self.error_logger = None
            self.access_log_format = config.access_log_format

        async def access(self, request: Any, response: Any, request_time: float) -> None:
            return None

        async def log(self, level: int, message: str, *args: Any, **kwargs: Any) -> None:
            text = message % args if args else message
            if level >= logging.ERROR:
                log.error("web server", message=text, exc_info=kwargs.get("exc_info", False))
            elif level >= logging.WARNING:
                log.warning("web server", message=text)
            else:
                log.debug("web server", message=text)

    for name, level in _LEVELS.items():
        async def at_level(self: Any, message: str, *args: Any, _level: int = level, **kwargs: Any) -> None:
            await self.log(_level, message, *args, **kwargs)

        setattr(HypercornToStructlog, name, at_level)

    async def exception(self: Any, message: str, *args: Any, **kwargs: Any) -> None:
        await self.log(logging.ERROR, message, *args, exc_info=True)

    HypercornToStructlog.exception = exception  # type: ignore[attr-defined]
    return HypercornToStructlog
