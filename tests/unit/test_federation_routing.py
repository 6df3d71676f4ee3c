"""aod/federation/routing.py (issue 21): addresses, ids both ways, the link's argv."""

from __future__ import annotations

import pytest

from aod.federation import routing
from aod.protocol import METHODS, attach_argv_problem


@pytest.mark.parametrize(
    ("address", "expected"),
    [("demo-1", (None, "demo-1")), ("box/demo-1", ("box", "demo-1")), ("local/demo-1", (None, "demo-1"))],
)
def test_split(address: str, expected: tuple[str | None, str]) -> None:
    assert routing.split(address) == expected


@pytest.mark.parametrize("address", ["box/", "Box/x", "a/b/c", "-x/y", "/demo-1"])
def test_malformed_addresses_are_refused(address: str) -> None:
    with pytest.raises(routing.BadAddress, match="HOST/ID"):
        routing.split(address)


def test_every_forwarded_method_exists_and_takes_the_field() -> None:
    for method, fields in routing.SESSION_FIELDS.items():
        assert method in METHODS
        for name in fields:
            assert name in METHODS[method].params.__struct_fields__, (method, name)


def test_params_go_with_the_id_stripped_and_a_foreign_asker_left_out() -> None:
    assert routing.strip_params("pr.merge", {"id": "box/demo-1", "by": "box/demo-0"}, "box") == {"id": "demo-1", "by": "demo-0"}
    assert routing.strip_params("pr.merge", {"id": "box/demo-1", "by": "demo-0"}, "box") == {"id": "demo-1"}


def test_answers_come_back_prefixed_and_marked() -> None:
    session = {"id": "demo-1", "project": "demo", "state": "working", "runtime": None, "depends_on": ["demo-0"], "stack_parent": "demo-0"}
    assert routing.prefix_result(session, "box") == {**session, "id": "box/demo-1", "host": "box", "depends_on": ["box/demo-0"], "stack_parent": "box/demo-0"}
    assert routing.prefix_result({"sessions": [session]}, "box")["sessions"][0]["id"] == "box/demo-1"
    assert routing.prefix_result({"session": "demo-1", "pr": None}, "box") == {"session": "box/demo-1", "pr": None}
    history = {"id": "demo-1", "entries": [{"kind": "spawned", "id": "x"}]}
    assert routing.prefix_result(history, "box")["entries"] == history["entries"]  # journals as they are


def test_events_are_republished_with_the_address_and_the_host() -> None:
    event = {"seq": 7, "time": "t", "kind": "session.updated", "session": "demo-1", "data": {"state": "working", "kind": "x"}}
    assert routing.event_fields("box", event) == (
        "session.updated", "box/demo-1", {"state": "working", "remote_kind": "x", "host": "box", "remote_seq": 7},
    )
    assert routing.event_fields("box", {"seq": 1, "kind": "config.reloaded", "data": {}}) is None


def test_the_link_is_ssh_in_batch_mode_or_the_command_verbatim() -> None:
    assert routing.link_argv("me@10.201.0.2:2222", None, ["/v/bin/aoctl"]) == [
        "ssh", "-o", "BatchMode=yes", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
        "-o", "ConnectTimeout=10", "-p", "2222", "me@10.201.0.2", "--", "/v/bin/aoctl", "rpc", "--stdio",
    ]
    assert "StrictHostKeyChecking=no" not in " ".join(routing.link_argv("box", None, ["aoctl"]))
    assert routing.link_argv("box", ["x", "--socket", "s"], ["aoctl"]) == ["x", "--socket", "s"]
    for bad in ("-oProxyCommand=sh", "a b", "me@host;rm"):
        with pytest.raises(routing.BadAddress):
            routing.link_argv(bad, None, ["aoctl"])


def test_a_remote_attach_is_ssh_t_and_passes_the_clients_check() -> None:
    remote = ["/usr/bin/tmux", "-L", "ao", "attach-session", "-t", "=demo-1"]
    argv = routing.attach_argv("me@10.201.0.2:2222", remote)
    assert argv == ["ssh", "-t", "-p", "2222", "me@10.201.0.2", "--", *remote]
    assert attach_argv_problem(argv) is None
    assert attach_argv_problem(["ssh", "-t", "h", "--", "sh", "-c", "id"]) is not None
    assert attach_argv_problem(["ssh", "-t", "-o", "ProxyCommand=id", "h", "--", *remote]) is not None
    assert attach_argv_problem(["ssh", "-t", "h", "--", "tmux", "-L", "ao;id", "attach-session", "-t", "=x"]) is not None
