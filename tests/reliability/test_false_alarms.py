"""Issue 14, "false alarms": live agents must never be judged exited because aod looked in the
wrong place. A session is probed on the tmux server it was started on, whatever
`runtime.tmux_socket` says now; a reload whose config file has disappeared is refused (it would
put every setting, the socket among them, back to its default).

The tick's cadence under RPC load (the other false alarm of the issue) is R2, in test_load.py.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.aod_process import wait_for
from tests.support.fleet import Fleet
from tests.support.tmux import tmux_server

SESSIONS = 3


def spawn_working(fleet: Fleet, n: int) -> list[str]:
    ids = [fleet.ok("spawn", "--task", f"task {i}")["id"] for i in range(n)]
    for sid in ids:
        wait_for(lambda sid=sid: fleet.received(sid), 30, f"{sid}'s first prompt")
        fleet.wait_state(sid, lambda s: s["activity"] in ("idle", "ready"), f"{sid} at its prompt")
    return ids


def ticks_later(fleet: Fleet, n: int) -> None:
    """Wait for `n` more ticks: each has looked at every session."""
    start = fleet.aod.result("daemon.status")["last_tick"]["count"]
    wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= start + n, 30, f"{n} ticks")


def alarms(fleet: Fleet, sid: str) -> list[dict[str, Any]]:
    """What aod decided about `sid` beyond plain work: exits, errors, reactions."""
    return [
        e for e in fleet.journal(sid)
        if (e.get("kind") == "state.changed" and e.get("to") not in ("working",))
        or e.get("kind", "").startswith("reaction")
    ]


def panes_on(socket: str) -> list[str]:
    listed = subprocess.run(["tmux", "-L", socket, "list-sessions", "-F", "#{session_name}"], capture_output=True, text=True)
    return listed.stdout.split() if listed.returncode == 0 else []


@pytest.fixture
def second_tmux() -> Iterator[str]:
    with tmux_server() as name:
        yield name


# The bug: aod/plugins/runtime/tmux.py TmuxRuntime.snapshot probed the configured socket only,
# so after `runtime.tmux_socket` changed every agent on the old server looked gone: 35 live
# agents were recorded `errored: agent is gone`, with 35 urgent agent-exited notifications.
def test_changing_the_tmux_socket_leaves_running_agents_alone(make_fleet: Callable[..., Fleet], second_tmux: str) -> None:
    fleet = make_fleet()
    ids = spawn_working(fleet, SESSIONS)
    config = fleet.aod.config_path.read_text()
    fleet.aod.write_config(config.replace(f"tmux_socket: {fleet.tmux}", f"tmux_socket: {second_tmux}"))
    assert "runtime" in fleet.ok("daemon", "reload")["changed"]
    ticks_later(fleet, 8)

    for sid in ids:
        info = fleet.session(sid)
        assert (info["state"], info["activity"]) in (("working", "idle"), ("working", "ready")), info
        assert alarms(fleet, sid) == [], alarms(fleet, sid)
    # Each is still reached where it runs: a message, logs, and (at the end) kill.
    fleet.ok("send", ids[0], "still there?")
    fleet.wait_received(ids[0], "still there?")
    assert fleet.ok("logs", ids[1])["alive"] == "alive"
    # New sessions start on the new server; the old ones stay on theirs.
    new = spawn_working(fleet, 1)[0]
    assert new in panes_on(second_tmux) and new not in panes_on(fleet.tmux)
    assert set(ids) <= set(panes_on(fleet.tmux))
    fleet.ok("kill", ids[2])
    wait_for(lambda: ids[2] not in panes_on(fleet.tmux), 10, "the old-server session to be killed")
    assert "Traceback" not in fleet.aod.log()


# The bug: aod/app.py App.reload read a missing file as "all defaults" and applied them: the
# tmux socket went back to `ao`, the configured agents vanished, and every session was judged
# exited on a server it never ran on.
def test_a_reload_after_the_config_file_disappeared_keeps_the_running_config(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    ids = spawn_working(fleet, SESSIONS)
    before = fleet.aod.result("daemon.status")
    fleet.aod.config_path.unlink()

    refused = fleet.fails("daemon", "reload")
    assert "has disappeared" in refused.stderr and "unchanged" in refused.stderr, refused.stderr
    reply = fleet.aod.call("daemon.reload")
    assert reply["error"]["code"] == -32010, reply
    ticks_later(fleet, 8)

    after = fleet.aod.result("daemon.status")
    assert (after["config_loaded"], after["poll_interval_s"]) == (True, before["poll_interval_s"])
    for sid in ids:
        info = fleet.session(sid)
        assert info["state"] == "working" and info["activity"] in ("idle", "ready"), info
        assert alarms(fleet, sid) == []
    # The configured agent is still known, on the same server.
    assert spawn_working(fleet, 1)[0] in panes_on(fleet.tmux)
