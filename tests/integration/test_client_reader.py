"""aoctl's client reads aod's newline-delimited replies itself (no `socket.makefile`): replies
split across many reads, several messages in one read, a reply cut short, a line over the limit."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

import aoctl.client
from aoctl.client import Client, ProtocolError


@pytest.fixture
def server() -> Iterator[tuple[str, list[bytes]]]:
    """A Unix socket in a private dir; each accepted connection reads one request line and is
    answered with the next scripted reply (bytes, sent in pieces of 1,000)."""
    directory = tempfile.mkdtemp(prefix="aoc-")
    os.chmod(directory, 0o700)
    path = os.path.join(directory, "s.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(4)
    replies: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.makefile("rb").readline()
                reply = replies.pop(0)
                try:
                    for start in range(0, len(reply), 1000):
                        conn.sendall(reply[start : start + 1000])
                except BrokenPipeError:
                    pass  # the client gave up on the reply (the over-the-limit test)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, replies
    listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not, on Linux)
    listener.close()
    thread.join(5)
    Path(path).unlink(missing_ok=True)
    os.rmdir(directory)


def reply(result: object, id: int = 1) -> bytes:
    return msgspec.json.encode({"jsonrpc": "2.0", "id": id, "result": result}) + b"\n"


def test_a_reply_larger_than_one_read_arrives_whole(server: tuple[str, list[bytes]]) -> None:
    path, replies = server
    big = {"sessions": [{"id": f"s-{n}", "text": "x" * 300} for n in range(3000)]}  # ~1 MB
    replies.append(reply(big))
    with Client(path) as client:
        assert client.call("session.list") == big


def test_a_notification_and_the_reply_in_one_read_are_both_seen(server: tuple[str, list[bytes]]) -> None:
    path, replies = server
    notification = msgspec.json.encode({"jsonrpc": "2.0", "method": "event", "params": {"seq": 7}}) + b"\n"
    replies.append(notification + reply({"ok": True}))
    with Client(path) as client:
        assert client.call("events.subscribe") == {"ok": True}
        seen = list(client.notifications())
    assert [(n.method, n.params) for n in seen] == [("event", {"seq": 7})]


def test_a_reply_cut_short_is_a_protocol_error(server: tuple[str, list[bytes]]) -> None:
    path, replies = server
    replies.append(reply({"ok": True})[:-5])  # no newline, then the connection closes
    with Client(path) as client, pytest.raises(ProtocolError, match="invalid message"):
        client.call("daemon.ping")


def test_a_line_over_the_limit_is_refused_not_buffered_forever(
    server: tuple[str, list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, replies = server
    monkeypatch.setattr(aoctl.client, "_MAX_LINE", 10_000)
    replies.append(reply("y" * 50_000))
    with Client(path) as client, pytest.raises(ProtocolError, match="over 10000 bytes"):
        client.call("daemon.ping")
