"""JSON-RPC 2.0 conformance against a real aod process over its real socket."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import pytest

from aod.protocol import METHODS, ErrorCode
from tests.support.aod_process import AodProcess, RawConnection, aod_processes


@pytest.fixture(scope="module")
def aod() -> Iterator[AodProcess]:
    """One daemon for this module's tests: they are about the protocol, not about start-up."""
    factory = aod_processes()
    make = next(factory)
    yield make().start()
    next(factory, None)


def request(method: str, id: object = 1, **extra: object) -> dict[str, object]:
    return {"jsonrpc": "2.0", "id": id, "method": method, **extra}


def test_ping_answers_with_version_and_pid(aod: AodProcess) -> None:
    reply = aod.call("daemon.ping")
    assert reply["jsonrpc"] == "2.0"
    assert reply["id"] == 1
    assert reply["result"]["pid"] == aod.proc.pid  # type: ignore[union-attr]
    assert reply["result"]["version"]


@pytest.mark.parametrize("request_id", ["abc", 7, None, -3, "", 2**53])
def test_ids_of_every_allowed_type_are_echoed(aod: AodProcess, request_id: object) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send_json(request("daemon.ping", id=request_id))
        reply = conn.receive_json()
    assert reply["id"] == request_id
    assert "result" in reply


def test_parse_error_keeps_the_connection_usable(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send(b'{"jsonrpc": "2.0", "method": "daemon.ping", "id": 1\n')
        reply = conn.receive_json()
        assert reply["error"]["code"] == ErrorCode.PARSE_ERROR
        assert reply["id"] is None
        conn.send_json(request("daemon.ping", id=2))
        assert conn.receive_json()["id"] == 2


@pytest.mark.parametrize(
    ("message", "expected_id"),
    [
        (b"1", None),
        (b'"daemon.ping"', None),
        (b'{"jsonrpc": "1.0", "method": "daemon.ping", "id": 5}', 5),
        (b'{"method": "daemon.ping", "id": 5}', 5),
        (b'{"jsonrpc": "2.0", "method": 1, "params": "bar", "id": 5}', 5),
        (b'{"jsonrpc": "2.0", "method": "daemon.ping", "params": "x", "id": 5}', 5),
        (b'{"jsonrpc": "2.0", "method": "daemon.ping", "id": {"a": 1}}', None),
        (b'{"jsonrpc": "2.0", "method": "daemon.ping", "id": true}', None),
        (b'{"jsonrpc": "2.0", "method": 1}', None),
    ],
)
def test_invalid_requests_get_invalid_request(
    aod: AodProcess, message: bytes, expected_id: object
) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send(message + b"\n")
        reply = conn.receive_json()
    assert reply["error"]["code"] == ErrorCode.INVALID_REQUEST
    assert reply["id"] == expected_id


def test_unknown_method(aod: AodProcess) -> None:
    reply = aod.call("no.such.method")
    assert reply["error"]["code"] == ErrorCode.METHOD_NOT_FOUND
    assert "no.such.method" in reply["error"]["message"]


def test_invalid_params_name_the_field(aod: AodProcess) -> None:
    reply = aod.call("events.subscribe", {"kinds": ["ok", 3]})
    assert reply["error"]["code"] == ErrorCode.INVALID_PARAMS
    assert reply["error"]["data"]["path"] == "params.kinds[1]"

    reply = aod.call("events.unsubscribe", {})
    assert reply["error"]["code"] == ErrorCode.INVALID_PARAMS
    assert "subscription" in reply["error"]["message"]

    reply = aod.call("daemon.ping", {"surprise": 1})
    assert reply["error"]["code"] == ErrorCode.INVALID_PARAMS
    assert "surprise" in reply["error"]["message"]

    reply = aod.call("events.unsubscribe", [1, 2])
    assert reply["error"]["code"] == ErrorCode.INVALID_PARAMS


def test_positional_params_map_to_fields_in_order(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send_json(request("events.subscribe", params=[["config"]]))
        assert "subscription" in conn.receive_json()["result"]


def test_notifications_get_no_reply(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send_json({"jsonrpc": "2.0", "method": "daemon.ping"})
        conn.send_json({"jsonrpc": "2.0", "method": "no.such.method"})
        conn.send_json(request("daemon.ping", id="after"))
        assert conn.receive_json()["id"] == "after"


def test_batch_answers_requests_but_not_notifications(aod: AodProcess) -> None:
    batch = [
        request("daemon.ping", id=1),
        {"jsonrpc": "2.0", "method": "daemon.ping"},
        request("no.such", id=2),
        {"foo": "boo"},
        request("daemon.status", id="s"),
    ]
    with RawConnection(aod.socket_path) as conn:
        conn.send_json(batch)
        replies = conn.receive_json()
        # Nothing else came for the batch: the next message is the answer to the next request.
        conn.send_json(request("daemon.ping", id="next"))
        assert conn.receive_json()["id"] == "next"
    assert isinstance(replies, list)
    # Counted, not keyed by id: a notification answered with id null would collapse into the
    # invalid request's null in a dict.
    assert sorted(str(r["id"]) for r in replies) == ["1", "2", "None", "s"]
    by_id = {r["id"]: r for r in replies}
    assert "result" in by_id[1]
    assert by_id[2]["error"]["code"] == ErrorCode.METHOD_NOT_FOUND
    assert by_id[None]["error"]["code"] == ErrorCode.INVALID_REQUEST
    assert by_id["s"]["result"]["pid"] == by_id[1]["result"]["pid"]


def test_batch_of_only_notifications_gets_nothing(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send_json([{"jsonrpc": "2.0", "method": "daemon.ping"}] * 3)
        conn.send_json(request("daemon.ping", id="next"))
        assert conn.receive_json()["id"] == "next"


def test_empty_batch_and_batch_of_junk(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send(b"[]\n")
        reply = conn.receive_json()
        assert isinstance(reply, dict)
        assert reply["error"]["code"] == ErrorCode.INVALID_REQUEST
        conn.send(b"[1, 2, 3]\n")
        replies = conn.receive_json()
        assert [r["error"]["code"] for r in replies] == [ErrorCode.INVALID_REQUEST] * 3


def test_lsp_framing_is_detected_and_answered_in_kind(aod: AodProcess) -> None:
    body = json.dumps(request("daemon.ping", id=9)).encode()
    with RawConnection(aod.socket_path) as conn:
        # Split the header across writes: detection must not depend on packet boundaries.
        conn.send(b"Content-")
        conn.send(b"Length: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n" % len(body) + body)
        reply = conn.receive_lsp()
        assert reply["id"] == 9 and "result" in reply
        second = json.dumps(request("no.such", id=10)).encode()
        conn.send(b"Content-Length: %d\r\n\r\n" % len(second) + second)
        assert conn.receive_lsp()["error"]["code"] == ErrorCode.METHOD_NOT_FOUND


def test_oversized_line_is_refused_and_connection_closed(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    aod.write_config("api:\n  max_message_bytes: 2048\n")
    aod.start()
    with RawConnection(aod.socket_path) as conn:
        conn.send(b'{"jsonrpc":"2.0","id":1,"method":"daemon.ping","params":{"x":"' + b"a" * 4096)
        reply = conn.receive_json()
        assert reply["error"]["code"] == ErrorCode.MESSAGE_TOO_LARGE
        assert reply["error"]["data"]["limit"] == 2048
        assert conn.at_eof()
    assert aod.call("daemon.ping")["result"]  # others are still served


def test_oversized_lsp_message_is_refused(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    aod.write_config("api:\n  max_message_bytes: 2048\n")
    aod.start()
    with RawConnection(aod.socket_path) as conn:
        conn.send(b"Content-Length: 999999999\r\n\r\n{")
        reply = conn.receive_lsp()
        assert reply["error"]["code"] == ErrorCode.MESSAGE_TOO_LARGE
        assert conn.at_eof()


def test_non_utf8_is_a_parse_error_and_closes(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send(b'{"jsonrpc":"2.0","id":1,"method":"daemon.\xff\xfeping"}\n')
        reply = conn.receive_json()
        assert reply["error"]["code"] == ErrorCode.PARSE_ERROR
        assert conn.at_eof()
    assert aod.call("daemon.ping")["result"]


def test_garbage_lsp_headers_close_the_connection(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send(b"Content-Length: banana\r\n\r\n")
        assert conn.receive_lsp()["error"]["code"] == ErrorCode.PARSE_ERROR
        assert conn.at_eof()


def test_64_concurrent_clients(aod: AodProcess) -> None:
    errors: list[BaseException] = []
    answered = [0] * 64

    def client(index: int) -> None:
        try:
            with RawConnection(aod.socket_path, timeout=30) as conn:
                for n in range(25):
                    conn.send_json(request("daemon.status", id=n))
                    reply = conn.receive_json()
                    assert reply["id"] == n and "result" in reply, reply
                    answered[index] += 1
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert answered == [25] * 64


def test_pipelined_requests_on_one_connection_all_answered(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as conn:
        conn.send(b"".join(json.dumps(request("daemon.ping", id=i)).encode() + b"\n" for i in range(200)))
        ids = {conn.receive_json()["id"] for _ in range(200)}
    assert ids == set(range(200))


def test_discover_describes_every_method(aod: AodProcess) -> None:
    doc = aod.result("rpc.discover")
    assert doc["openrpc"].startswith("1.")
    assert {m["name"] for m in doc["methods"]} == set(METHODS)
    subscribe = next(m for m in doc["methods"] if m["name"] == "events.subscribe")
    assert [p["name"] for p in subscribe["params"]] == ["kinds"]
    assert "Event" in doc["components"]["schemas"]


def test_subscribers_receive_events_with_increasing_seq(aod: AodProcess) -> None:
    aod.write_config("poll_interval: 7s\n")
    with RawConnection(aod.socket_path) as sub:
        sub.send_json(request("events.subscribe", params={"kinds": ["config"]}))
        start_seq = sub.receive_json()["result"]["seq"]
        assert aod.result("daemon.reload")["changed"] == ["poll_interval"]
        assert aod.result("daemon.reload")["changed"] == []
        first, second = sub.receive_json(), sub.receive_json()
    assert first["method"] == "event" and "id" not in first
    assert first["params"]["kind"] == "config.reloaded"
    assert first["params"]["data"]["changed"] == ["poll_interval"]
    assert start_seq < first["params"]["seq"] < second["params"]["seq"]


def test_kind_filter_excludes_other_events(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as sub:
        sub.send_json(request("events.subscribe", params={"kinds": ["session"]}))
        sub.receive_json()
        aod.result("daemon.reload")
        sub.send_json(request("daemon.ping", id="marker"))
        assert sub.receive_json()["id"] == "marker"  # no config.reloaded in between


def test_unsubscribe(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as sub:
        sub.send_json(request("events.subscribe"))
        sid = sub.receive_json()["result"]["subscription"]
        sub.send_json(request("events.unsubscribe", id=2, params={"subscription": sid}))
        assert sub.receive_json()["result"] == {"unsubscribed": True}
        sub.send_json(request("events.unsubscribe", id=3, params={"subscription": sid}))
        assert sub.receive_json()["error"]["code"] == ErrorCode.NOT_FOUND
        aod.result("daemon.reload")
        sub.send_json(request("daemon.ping", id="marker"))
        assert sub.receive_json()["id"] == "marker"


def test_a_subscriber_that_never_reads_does_not_slow_others(aod: AodProcess) -> None:
    with RawConnection(aod.socket_path) as lazy:
        lazy.send_json(request("events.subscribe"))
        for _ in range(300):
            assert "result" in aod.call("daemon.reload")
        assert aod.call("daemon.ping")["result"]
