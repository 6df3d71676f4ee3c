"""S3 and S4 (issue 14, security 3 and 4): clients cannot lock others out or make aod hoard.

S3, slowloris: connections that send nothing, or dribble half a message, held every slot
(`api.max_connections`) for as long as they liked and every other client got -32030. Now a
first complete message is due within `api.first_frame_timeout`, a connection with nothing in
flight and no subscription is closed after `api.idle_timeout`, and at the limit a newcomer
closes the longest-idle connection instead of being refused.

S4: one batch of 10,000 `events.subscribe` made 10,000 subscriptions (RSS 53 -> 116 MB), and
a batch's entries ran all at once, past the 64-in-flight limit. Now each entry takes a slot of
the same limit, and a connection holds at most `api.max_subscriptions` subscriptions.

The first tests drive a real aod over its socket with short limits from config; the in-flight
count is taken in-process, with a handler that reports how many entries run at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import trio

from aod.dispatch import Dispatcher
from aod.events import EventBus
from aod.protocol import METHODS, ErrorCode
from aod.server import MAX_IN_FLIGHT_PER_CONNECTION, RpcServer, ServerLimits, bind_unix_socket
from tests.support.aod_process import AodProcess, RawConnection, wait_for

LIMITS = """\
api:
  max_connections: 6
  first_frame_timeout: 1s
  idle_timeout: 2s
  max_subscriptions: 4
"""
PING = {"jsonrpc": "2.0", "id": 1, "method": "daemon.ping"}
SUBSCRIBE = {"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {}}


def limited_aod(make_aod: Callable[..., AodProcess]) -> AodProcess:
    aod = make_aod()
    aod.write_config(LIMITS)
    return aod.start()


def closed_by_aod(conn: RawConnection) -> bool:
    """True once aod has closed `conn` (EOF); False while it is open and silent."""
    conn.sock.setblocking(False)
    try:
        return conn.sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        conn.sock.setblocking(True)


def ping(aod: AodProcess) -> dict[str, Any]:
    with RawConnection(aod.socket_path, timeout=10) as conn:
        conn.send_json(PING)
        return conn.receive_json()


def test_silent_connections_do_not_lock_anyone_out(make_aod: Callable[..., AodProcess]) -> None:
    aod = limited_aod(make_aod)
    silent = [RawConnection(aod.socket_path) for _ in range(6)]  # every slot, sending nothing
    try:
        # At the limit, a newcomer is served: the longest-idle silent one makes room.
        for _ in range(3):
            reply = ping(aod)
            assert reply.get("result", {}).get("pid") == aod.proc.pid, reply  # type: ignore[union-attr]
        # And the silent ones are closed once their first message is overdue.
        wait_for(lambda: all(closed_by_aod(c) for c in silent), 15, "the silent connections to be closed")
    finally:
        for conn in silent:
            conn.sock.close()
    assert aod.proc is not None and aod.proc.poll() is None
    assert "Traceback" not in aod.log()


def test_half_a_message_dribbled_byte_by_byte_does_not_keep_a_connection(make_aod: Callable[..., AodProcess]) -> None:
    aod = limited_aod(make_aod)
    frame = json.dumps(PING).encode()
    with RawConnection(aod.socket_path) as slow:
        sent = 0

        def dribble_and_check() -> bool:
            nonlocal sent
            if closed_by_aod(slow):
                return True
            try:
                slow.send(frame[sent % (len(frame) - 1): sent % (len(frame) - 1) + 1])  # never the whole frame
            except OSError:
                return True
            sent += 1
            return False

        wait_for(dribble_and_check, 15, "aod to close the dribbling connection")
        assert sent >= 2, "the connection was closed before it had dribbled anything"


def test_an_idle_connection_is_closed_but_a_subscribed_one_stays(make_aod: Callable[..., AodProcess]) -> None:
    aod = limited_aod(make_aod)
    with RawConnection(aod.socket_path) as subscribed, RawConnection(aod.socket_path) as idle:
        subscribed.send_json(SUBSCRIBE)
        assert "result" in subscribed.receive_json()
        idle.send_json(PING)
        assert "result" in idle.receive_json()
        # The idle one (younger) goes after api.idle_timeout; the subscribed one, older, stays.
        wait_for(lambda: closed_by_aod(idle), 15, "the idle connection to be closed")
        assert not closed_by_aod(subscribed)
        subscribed.send_json({**PING, "id": 2})
        while (reply := subscribed.receive_json()).get("method") == "event":
            continue
        assert reply["id"] == 2 and "result" in reply


def test_busy_connections_are_not_closed_to_make_room(make_aod: Callable[..., AodProcess]) -> None:
    aod = limited_aod(make_aod)
    busy = [RawConnection(aod.socket_path) for _ in range(6)]
    try:
        for conn in busy:
            conn.send_json(SUBSCRIBE)
            assert "result" in conn.receive_json()
        reply = ping(aod)
        assert reply["error"]["code"] == ErrorCode.UNAVAILABLE, reply
        assert "api.max_connections" in reply["error"]["message"]
        assert not any(closed_by_aod(c) for c in busy)
    finally:
        for conn in busy:
            conn.sock.close()
    wait_for(lambda: "result" in ping(aod), 15, "a slot once the busy clients left")


def test_one_batch_cannot_make_more_than_max_subscriptions(make_aod: Callable[..., AodProcess]) -> None:
    aod = limited_aod(make_aod)
    batch = [{**SUBSCRIBE, "id": n} for n in range(2000)]
    with RawConnection(aod.socket_path, timeout=30) as conn:
        conn.send_json(batch)
        while isinstance(reply := conn.receive_json(), dict):  # events may come first
            assert reply.get("method") == "event", reply
        assert len(reply) == 2000
        ok = [r for r in reply if "result" in r]
        refused = [r for r in reply if "error" in r]
        assert len(ok) == 4, len(ok)
        assert {r["error"]["code"] for r in refused} == {ErrorCode.LIMIT_EXCEEDED}
        assert refused[0]["error"]["data"] == {"limit": 4, "setting": "api.max_subscriptions"}
        assert aod.result("daemon.status")["subscribers"] == 4
        conn.send_json({"jsonrpc": "2.0", "id": "u", "method": "events.unsubscribe", "params": {"subscription": ok[0]["result"]["subscription"]}})
        while (answer := conn.receive_json()).get("id") != "u":
            continue
        conn.send_json({**SUBSCRIBE, "id": "again"})
        while (answer := conn.receive_json()).get("id") != "again":
            continue
        assert "result" in answer  # room again after an unsubscribe


async def test_batch_entries_count_against_the_in_flight_limit(short_dir: Path) -> None:
    running = 0
    most = 0
    release = trio.Event()

    async def slow(_params: Any, _call: Any) -> Any:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        return {"ok": True}

    async def default(_params: Any, _call: Any) -> Any:
        return {"ok": True}

    table: dict[str, Any] = {name: default for name in METHODS}
    table["daemon.status"] = slow
    path = short_dir / "aod.sock"  # bind_unix_socket makes its directory private: never /tmp itself
    listen = bind_unix_socket(path)
    limits = ServerLimits(max_message_bytes=1 << 22, write_timeout=5, max_connections=10)
    server = RpcServer(Dispatcher(table), EventBus(), lambda: limits, lambda conn: conn)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(server.serve, listen)
            stream = await trio.open_unix_socket(str(path))
            batch = [{"jsonrpc": "2.0", "id": n, "method": "daemon.status"} for n in range(500)]
            await stream.send_all(json.dumps(batch).encode() + b"\n")
            second = [{"jsonrpc": "2.0", "id": 1000 + n, "method": "daemon.status"} for n in range(100)]
            await stream.send_all(json.dumps(second).encode() + b"\n")
            with trio.fail_after(10):
                while running < MAX_IN_FLIGHT_PER_CONNECTION:
                    await trio.sleep(0.01)
                for _ in range(20):  # let any entry past the limit start, if one could
                    await trio.sleep(0)
            assert most == MAX_IN_FLIGHT_PER_CONNECTION
            release.set()
            buffer = b""
            replies: list[Any] = []
            with trio.fail_after(20):
                while len(replies) < 2:
                    buffer += await stream.receive_some(1 << 20)
                    while b"\n" in buffer:
                        line, _, buffer = buffer.partition(b"\n")
                        replies.append(json.loads(line))
            assert sorted(len(r) for r in replies) == [100, 500]
            assert most == MAX_IN_FLIGHT_PER_CONNECTION
            await stream.aclose()
            nursery.cancel_scope.cancel()
    finally:
        listen.close()
