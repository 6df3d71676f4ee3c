"""The RPC server in-process, over real Unix sockets, with handlers the test controls."""

from __future__ import annotations

import json
import socket as stdsocket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio

from aod.dispatch import Dispatcher
from aod.events import EventBus
from aod.protocol import DROPPED_NOTIFICATION, EVENT_NOTIFICATION, METHODS
from aod.server import Connection, RpcServer, ServerLimits, bind_unix_socket


@dataclass
class Harness:
    server: RpcServer
    bus: EventBus
    path: Path
    release: trio.Event
    started: trio.Event
    clients: list[Client]

    async def connect(self) -> Client:
        client = Client(await trio.open_unix_socket(str(self.path)))
        self.clients.append(client)
        return client


def handlers(
    release: trio.Event, started: trio.Event, bus: EventBus
) -> dict[str, Callable[[Any, Any], Awaitable[Any]]]:
    async def default(_params: Any, _call: Any) -> Any:
        return {"ok": True}

    async def slow(_params: Any, _call: Any) -> Any:
        started.set()
        await release.wait()
        return {"released": True}

    async def big(_params: Any, _call: Any) -> Any:
        return {"blob": "x" * 200_000}

    async def subscribe(params: Any, conn: Connection) -> Any:
        sub = bus.subscribe(params.kinds)
        conn.add_subscription(sub)
        return {"subscription": sub.id, "seq": sub.last_delivered_seq}

    table: dict[str, Callable[[Any, Any], Awaitable[Any]]] = {name: default for name in METHODS}
    table["daemon.shutdown"] = slow  # stands in for any long request
    table["rpc.discover"] = big
    table["events.subscribe"] = subscribe
    return table


@pytest.fixture
async def harness(short_dir: Path) -> AsyncIterator[Harness]:
    path = short_dir / "s.sock"
    release, started = trio.Event(), trio.Event()
    bus = EventBus(buffer=10)
    limits = ServerLimits(max_message_bytes=1 << 20, write_timeout=0.5, max_connections=100)
    server = RpcServer(Dispatcher(handlers(release, started, bus)), bus, lambda: limits, lambda conn: conn)
    listen = bind_unix_socket(path)
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve, listen)
        harness = Harness(server, bus, path, release, started, [])
        yield harness
        for client in harness.clients:
            await client.stream.aclose()
        nursery.cancel_scope.cancel()


class Client:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def send(self, method: str, id: int = 1, params: Any = None) -> None:
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            msg["params"] = params
        await self.stream.send_all(json.dumps(msg).encode() + b"\n")

    async def receive(self) -> Any:
        while b"\n" not in self.buffer:
            chunk = await self.stream.receive_some(1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return json.loads(line)


async def accepts(path: Path) -> bool:
    try:
        stream = await trio.open_unix_socket(str(path))
    except OSError:
        return False
    await stream.aclose()
    return True


def test_socket_and_directory_are_private(short_dir: Path) -> None:
    path = short_dir / "run" / "aod.sock"
    sock = bind_unix_socket(path)
    try:
        assert path.stat().st_mode & 0o777 == 0o600
        assert path.parent.stat().st_mode & 0o777 == 0o700
    finally:
        sock.close()


def test_a_stale_socket_is_replaced_but_a_regular_file_is_not(short_dir: Path) -> None:
    path = short_dir / "aod.sock"
    stale = stdsocket.socket(stdsocket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    bind_unix_socket(path).close()
    path.unlink()
    path.write_text("important")
    with pytest.raises(FileExistsError):
        bind_unix_socket(path)
    assert path.read_text() == "important"


async def test_drain_lets_in_flight_requests_finish(harness: Harness) -> None:
    client = await harness.connect()
    await client.send("daemon.shutdown", id=1)
    # Every wait here has a deadline: a drain that never stops accepting must fail the test,
    # not hang the suite.
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await harness.started.wait()  # the request is in flight
            nursery.start_soon(harness.server.drain, 10.0)
            while await accepts(harness.path):  # drain is under way once nobody new gets in
                await trio.sleep(0.01)
            harness.release.set()
            reply = await client.receive()
        assert reply == {"jsonrpc": "2.0", "id": 1, "result": {"released": True}}
        assert await client.receive() is None  # then the connection is closed


async def test_drain_gives_up_after_the_grace_period(harness: Harness) -> None:
    client = await harness.connect()
    await client.send("daemon.shutdown", id=1)
    await harness.started.wait()
    with trio.fail_after(5):
        await harness.server.drain(0.2)  # the handler never finishes
    assert await client.receive() is None
    assert harness.server.connection_count == 0


async def test_a_lagging_subscriber_is_dropped_and_told(harness: Harness) -> None:
    lazy = await harness.connect()
    await lazy.send("events.subscribe", params={})
    assert (await lazy.receive())["result"]["subscription"] == 1
    # Publishing never waits; with the client not reading, socket buffers fill, then the
    # 10-event buffer, and the subscription is cut loose at once.
    for n in range(5000):
        harness.bus.publish("test.flood", n=n, pad="p" * 500)
        if harness.bus.subscriber_count == 0:
            break
        await trio.sleep(0)
    assert harness.bus.subscriber_count == 0
    seqs: list[int] = []
    while True:
        message = await lazy.receive()
        assert message is not None
        if message["method"] == DROPPED_NOTIFICATION:
            break
        assert message["method"] == EVENT_NOTIFICATION
        seqs.append(message["params"]["seq"])
    assert seqs == list(range(1, len(seqs) + 1))  # in order, no gaps before the drop
    assert message["params"]["last_seq"] == seqs[-1]
    assert message["params"]["subscription"] == 1


async def test_a_client_that_stops_reading_is_cut_off_and_others_are_served(
    harness: Harness,
) -> None:
    hog = await harness.connect()
    for i in range(200):  # replies of 200 KB each, never read
        await hog.send("rpc.discover", id=i)
    other = await harness.connect()
    with trio.fail_after(5):
        for i in range(20):
            await other.send("daemon.ping", id=i)
            assert (await other.receive())["id"] == i
        while harness.server.connection_count > 1:
            await trio.sleep(0.01)
