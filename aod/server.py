"""The Unix-socket server: accept, check the peer's uid, frame, dispatch, push events.

trio has no Unix listener helper, so the listener is a `trio.SocketListener` over a bound
`trio.socket`. One task per connection; a connection's failure never reaches another one.
"""

from __future__ import annotations

import itertools
import math
import os
import socket as stdsocket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import trio

from aod.accepting import accept_forever
from aod.dispatch import Dispatcher, error_reply
from aod.events import EventBus, Subscription
from aod.framing import BadFrame, Framing, FrameReader, FrameTooLarge, frame
from aod.paths import check_socket_path, ensure_private_dir
from aod.protocol import ErrorCode, peer_uid
from aod.subscriptions import ConnectionClosed, Subscriptions, Transport

log = structlog.get_logger()
MAX_IN_FLIGHT_PER_CONNECTION = 64


@dataclass
class ServerLimits:
    max_message_bytes: int
    write_timeout: float
    max_connections: int
    # A connection that sends nothing (or only part of a frame) must not hold a slot forever.
    first_frame_timeout: float = 10.0
    idle_timeout: float = 300.0
    max_subscriptions: int = 16


# ---------------------------------------------------------------------------------------------
# Listening socket
# ---------------------------------------------------------------------------------------------


def bind_unix_socket(path: Path) -> stdsocket.socket:
    """Bind a 0600 socket in a 0700 directory. Call only while holding the instance lock: an
    existing file at `path` is a stale socket from a crashed aod and is replaced."""
    check_socket_path(path)
    ensure_private_dir(path.parent)
    if path.is_socket():
        path.unlink()
    elif path.exists() or path.is_symlink():
        raise FileExistsError(f"{path} exists and is not a socket; move it away or use --socket")
    sock = stdsocket.socket(stdsocket.AF_UNIX, stdsocket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # no window in which the socket exists with looser permissions
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(128)
    return sock


# ---------------------------------------------------------------------------------------------
# Connections
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Connection:
    """What a handler may touch of the connection it serves (see `Call` in handlers): a `Peer`."""

    id: int
    stream: trio.SocketStream
    bus: EventBus
    limits: ServerLimits
    nursery: trio.Nursery
    framing: Framing = Framing.LINE
    closed: bool = False
    requests: int = 0
    """Requests read and not yet answered."""
    messages: int = 0
    """Messages read so far."""
    idle_since: float = field(default_factory=trio.current_time)
    idle_scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    """Ends reading once the connection has been idle too long (see `_rearm`)."""
    transport: Transport = "unix"
    can_subscribe: bool = True
    _send_lock: trio.Lock = field(default_factory=trio.Lock)
    events: Subscriptions = field(init=False)

    def __post_init__(self) -> None:
        self.idle_scope.deadline = self.idle_since + self.limits.first_frame_timeout
        self.events = Subscriptions(self.bus, self.send, self.nursery, changed=self._rearm, label={"conn": self.id})

    @property
    def subscriptions(self) -> dict[int, Subscription]:
        return self.events.by_id

    @property
    def idle(self) -> bool:
        """No request in flight and no subscription: nothing is lost by closing it."""
        return not self.closed and self.requests == 0 and not self.subscriptions

    def _rearm(self) -> None:
        # Only whole frames and their replies count as activity: a byte now and then (or half a
        # frame) does not keep a connection, so slow senders cannot hold slots.
        if self.idle:
            self.idle_since = trio.current_time()
            self.idle_scope.deadline = self.idle_since + self.limits.idle_timeout
        else:
            self.idle_scope.deadline = math.inf

    def request_started(self) -> None:
        self.messages += 1
        self.requests += 1
        self._rearm()

    def request_finished(self) -> None:
        self.requests -= 1
        self._rearm()

    async def send(self, body: bytes) -> None:
        """Write one framed message, or give up on this connection after `write_timeout`: a
        client that stops reading must not hold a task (or a subscriber buffer) forever."""
        if self.closed:
            raise ConnectionClosed()
        data = frame(self.framing, body)
        async with self._send_lock:
            with trio.move_on_after(self.limits.write_timeout) as scope:
                try:
                    await self.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self.close()
                    raise ConnectionClosed() from None
            if scope.cancelled_caught:
                # A half-written frame leaves the stream unusable: end the connection.
                log.warning("client stopped reading; closing its connection", conn=self.id)
                self.close()
                raise ConnectionClosed()

    def close(self) -> None:
        self.closed = True
        self.events.clear()
        self.nursery.cancel_scope.cancel()

    def add_subscription(self, sub: Subscription) -> None:
        self.events.add(sub)

    def remove_subscription(self, sub_id: int) -> bool:
        return self.events.remove(sub_id)


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------


class RpcServer:
    def __init__(
        self,
        dispatcher: Dispatcher,
        bus: EventBus,
        limits: Callable[[], ServerLimits],
        make_call: Callable[[Connection], Any],
    ) -> None:
        self._dispatcher = dispatcher
        self._bus = bus
        self._limits = limits
        self._make_call = make_call
        self._ids = itertools.count(1)
        self._connections: dict[int, tuple[Connection, trio.CancelScope]] = {}
        self._accept_scope = trio.CancelScope()
        self._all_done = trio.Event()
        self._uid = os.getuid()

    @property
    def connection_count(self) -> int:
        return len(self._connections)

    async def serve(
        self, listen_sock: stdsocket.socket, *, task_status: trio.TaskStatus[None]
    ) -> None:
        """Accept connections until `stop_accepting()`; then wait for connections to end."""
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(listen_sock))
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            with self._accept_scope:
                await accept_forever(listener, nursery, self._serve_connection, "socket")

    def stop_accepting(self) -> None:
        self._accept_scope.cancel()

    async def drain(self, grace: float) -> None:
        """Stop reading new requests everywhere; let in-flight ones finish for up to `grace`."""
        self.stop_accepting()
        for _conn, read_scope in self._connections.values():
            read_scope.cancel()
        with trio.move_on_after(grace):
            while self._connections:
                await self._all_done.wait()
                self._all_done = trio.Event()
        for conn, _ in list(self._connections.values()):
            conn.close()

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        limits = self._limits()
        read_scope = trio.CancelScope()
        conn_id = next(self._ids)
        try:
            async with trio.open_nursery() as nursery:
                conn = Connection(conn_id, stream, self._bus, limits, nursery)
                self._connections[conn_id] = (conn, read_scope)
                with read_scope, conn.idle_scope:
                    await self._read_loop(conn, limits)
                if conn.idle_scope.cancelled_caught:
                    log.info("closing an idle connection", conn=conn_id, messages=conn.messages,
                             waited_s=limits.idle_timeout if conn.messages else limits.first_frame_timeout)
                # Reading is over (EOF, bad input, or shutdown): end subscriptions, but let
                # requests already read finish and send their replies.
                for sub_id in list(conn.subscriptions):
                    conn.remove_subscription(sub_id)
        except Exception:
            log.exception("connection failed")
        finally:
            self._connections.pop(conn_id, None)
            self._all_done.set()
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _read_loop(self, conn: Connection, limits: ServerLimits) -> None:
        uid = peer_uid(conn.stream.socket)  # type: ignore[arg-type]
        if uid != self._uid:
            log.warning("refused a connection from another user", peer_uid=uid)
            await self._refuse(
                conn, ErrorCode.PERMISSION_DENIED, "permission denied: aod serves its owner only"
            )
            return
        if len(self._connections) > limits.max_connections and not self._make_room(conn):
            await self._refuse(
                conn, ErrorCode.UNAVAILABLE,
                f"too many connections to aod: all {limits.max_connections} are busy (api.max_connections)",
            )
            return
        reader = FrameReader(conn.stream, limits.max_message_bytes)
        in_flight = trio.Semaphore(MAX_IN_FLIGHT_PER_CONNECTION)
        call = self._make_call(conn)
        while True:
            try:
                message = await reader.next()
            except FrameTooLarge as exc:
                conn.framing = reader.framing or Framing.LINE
                await self._refuse(
                    conn,
                    ErrorCode.MESSAGE_TOO_LARGE,
                    f"message too large: the limit is {exc.limit} bytes",
                    {"limit": exc.limit},
                )
                return
            except BadFrame as exc:
                conn.framing = reader.framing or Framing.LINE
                await self._refuse(conn, ErrorCode.PARSE_ERROR, f"parse error: {exc}")
                return
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
            if message is None:
                return
            conn.framing = reader.framing or Framing.LINE
            try:
                message.decode("utf-8")
            except UnicodeDecodeError:
                await self._refuse(conn, ErrorCode.PARSE_ERROR, "parse error: not UTF-8")
                return
            await in_flight.acquire()
            conn.request_started()
            conn.nursery.start_soon(self._answer, conn, call, message, in_flight)

    def _make_room(self, newcomer: Connection) -> bool:
        """At the limit: close the connection that has been idle longest, so a new client is
        always served while any slot is merely held. False when every other one is busy."""
        idle = [c for c, _ in self._connections.values() if c is not newcomer and c.idle]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.idle_since)
        log.info("closing the longest-idle connection to make room for a new one", conn=oldest.id,
                 idle_s=round(trio.current_time() - oldest.idle_since, 3))
        oldest.close()
        return True

    async def _answer(
        self, conn: Connection, call: Any, message: bytes, in_flight: trio.Semaphore
    ) -> None:
        try:
            # Batch entries take their slots from the same semaphore (see Dispatcher._batch).
            reply = await self._dispatcher.handle(message, call, slots=in_flight)
            if reply is not None:
                await conn.send(reply)
        except ConnectionClosed:
            pass
        finally:
            in_flight.release()
            conn.request_finished()

    async def _refuse(self, conn: Connection, code: int, message: str, data: Any = None) -> None:
        """Send one error and stop reading; the connection then closes."""
        try:
            await conn.send(error_reply(None, code, message, data))
        except ConnectionClosed:
            pass
