"""issue 21 without ssh: the stdio bridge (`aoctl rpc --stdio`) and a local aod federating a second
real aod through `hosts.NAME.command` — forwarding, the merged listing, the link cut and back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, make_repo
from tests.support.tmux import tmux_server


def bridge(aod: AodProcess) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "aoctl", "rpc", "--stdio"], env=aod.env(),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def close(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def send(proc: subprocess.Popen[bytes], message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    proc.stdin.flush()


def read(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    return json.loads(line)


def test_the_bridge_relays_requests_replies_and_notifications(aod: AodProcess) -> None:
    proc = bridge(aod)
    try:
        send(proc, {"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {"kinds": ["config"]}})
        assert read(proc)["result"]["subscription"] == 1
        aod.call("daemon.reload")  # on another connection: its event reaches the bridge's subscriber
        note = read(proc)
        assert note["method"] == "event" and note["params"]["kind"] == "config.reloaded"
        send(proc, {"jsonrpc": "2.0", "id": "two", "method": "daemon.ping"})
        assert read(proc)["id"] == "two"
        # A notification from us, then stdin closed: the last replies still come, then it exits 0.
        send(proc, {"jsonrpc": "2.0", "id": 3, "method": "session.list"})
        assert proc.stdin is not None
        proc.stdin.close()
        assert read(proc)["result"] == {"sessions": []}
        assert proc.wait(10) == 0
        assert proc.stdout is not None and proc.stdout.read() == b""
    finally:
        close(proc)


def test_the_bridge_starts_aod_when_absent(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    assert not aod.answers()
    proc = bridge(aod)
    try:
        send(proc, {"jsonrpc": "2.0", "id": 1, "method": "daemon.ping"})
        started = read(proc)["result"]
        assert started["pid"] > 0 and aod.answers()
    finally:
        close(proc)
        os.kill(started["pid"], signal.SIGTERM)
        wait_for(lambda: not aod.answers(), 15, "the started aod to stop")


def test_the_bridge_refuses_a_socket_in_a_directory_others_can_write(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    result = subprocess.run([sys.executable, "-m", "aoctl", "--socket", str(shared / "aod.sock"), "rpc", "--stdio"],
                            input=b"", capture_output=True, timeout=30)
    assert result.returncode != 0 and b"not talking to" in result.stderr


class Pair:
    def __init__(self, local: Fleet, remote: Fleet) -> None:
        self.local, self.remote = local, remote

    def host(self) -> dict[str, Any]:
        return self.local.aod.result("hosts.list")["hosts"][0]

    def listed(self) -> list[dict[str, Any]]:
        return self.local.aod.result("session.list")["sessions"]


@pytest.fixture
def pair(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Pair]:
    with tmux_server() as tmux_remote, tmux_server() as tmux_local:
        remote = make_aod()
        (remote.root / "records").mkdir()
        remote.write_config(config_text(tmux_remote, remote.root / "records"))
        remote.start()
        repo = make_repo(tmp_path / "demo")
        remote_fleet = Fleet(remote, tmux_remote, repo)
        remote_fleet.ok("project", "add", str(repo))
        local = make_aod()
        (local.root / "records").mkdir()
        # The link: the bridge, unless the test closed the gate (a link that cannot connect).
        gate = local.root / "gate-closed"
        bridge_argv = [sys.executable, "-m", "aoctl", "--socket", str(remote.socket_path), "rpc", "--stdio"]
        link = [sys.executable, "-c", f"import os, sys; os.path.exists({str(gate)!r}) and sys.exit('ssh: connect to host box: No route to host'); os.execv(sys.executable, {bridge_argv!r})"]
        local.write_config(config_text(tmux_local, local.root / "records", f"hosts:\n  box: {{command: {json.dumps(link)}}}\n"))
        local.start()
        pair = Pair(Fleet(local, tmux_local, repo), remote_fleet)
        wait_for(lambda: pair.host()["reachable"], 20, "host box reachable")
        yield pair


def test_a_remote_session_through_the_local_aod(pair: Pair) -> None:
    local, remote = pair.local, pair.remote
    missing = local.aod.aoctl("spawn", "--host", "box", "-p", "nope", "--task", "x")
    assert missing.returncode == 1 and "is not registered on host box" in missing.stderr and "aoctl project add" in missing.stderr

    spawned = local.ok("spawn", "--host", "box", "-p", "demo", "--task", "hello there")
    sid = spawned["id"]
    assert sid == "box/demo-1" and spawned["host"] == "box"
    assert [s["id"] for s in remote.aod.result("session.list")["sessions"]] == ["demo-1"]
    wait_for(lambda: any("hello there" in m for m in remote.received("demo-1")), 30, "the first prompt there")
    status = local.aod.aoctl("status")
    assert status.returncode == 0
    header, row = status.stdout.splitlines()[:2]
    assert header.split()[:2] == ["ID", "HOST"] and row.split()[:2] == ["box/demo-1", "box"]

    sent = local.ok("send", sid, "second message")
    assert sent["id"] == sid
    remote.wait_received("demo-1", "second message")
    history = local.ok("history", sid)
    assert history["id"] == sid and any(e["kind"] == "spawned" for e in history["entries"])
    attach = local.aod.result("session.attach", {"id": sid})
    assert attach["id"] == sid and attach["argv"][:2] == ["tmux", "-L"]  # `command`: its own argv
    assert local.ok("status", sid)["journal"]

    # Its events reach local subscribers as box/demo-1.
    wait_for(lambda: any(e.get("session") == sid and e["data"].get("host") == "box"
                         for e in local.aod.result("events.recent")["events"]), 10, "a remote event here")
    bad = local.aod.call("session.get", {"id": "nohost/demo-1"})
    assert bad["error"]["code"] == -32020 and "no host 'nohost'" in bad["error"]["message"]

    killed = local.ok("kill", sid)
    assert killed["state"] == "killed" and killed["id"] == sid
    assert remote.aod.result("session.get", {"id": "demo-1"})["state"] == "killed"


def test_a_cut_link_shows_unknown_and_catches_up_without_a_second_spawn(pair: Pair) -> None:
    local, remote = pair.local, pair.remote
    sid = local.ok("spawn", "--host", "box", "-p", "demo", "--task", "keep working")["id"]
    wait_for(lambda: any("keep working" in m for m in remote.received("demo-1")), 30, "the first prompt there")
    before = pair.host()
    gate = local.aod.root / "gate-closed"
    gate.touch()  # no way back until the test says so
    os.killpg(before["pid"], signal.SIGKILL)  # the link's process dies (as ssh would)

    listed = wait_for(lambda: (s := pair.listed()) and s[0]["state"] == "unknown" and s, 10, "unknown while cut")
    assert listed[0]["id"] == sid and "host box is unreachable since" in listed[0]["reason"]
    known = local.aod.result("session.get", {"id": sid})  # the last known, never an error or dead
    assert (known["id"], known["state"], known["host"]) == (sid, "unknown", "box")
    refused = local.aod.call("session.send", {"id": sid, "message": "while cut"})
    # Either the link is already back (sent) or refused as unavailable: never queued here.
    if "error" in refused:
        assert refused["error"]["code"] == -32030
    # Meanwhile the remote session goes on there: it is told something and finishes.
    remote.ok("send", "demo-1", "done remotely")
    remote.wait_received("demo-1", "done remotely")
    remote.ok("kill", "demo-1")
    down = wait_for(lambda: (h := pair.host())["last_error"] and h, 10, "a failed reconnect")
    assert not down["reachable"] and "No route to host" in down["last_error"]
    gate.unlink()

    after = wait_for(lambda: (h := pair.host())["reachable"] and h["pid"] != before["pid"] and h, 20, "the link back")
    assert after["sessions"] == 1
    wait_for(lambda: pair.listed()[0]["state"] == "killed", 10, "the state caught up")
    caught = [e for e in local.aod.result("events.recent")["events"] if e["data"].get("caught_up")]
    assert [(e["session"], e["data"]["state"]) for e in caught] == [(sid, "killed")]  # once, what it is now
    assert [s["id"] for s in remote.aod.result("session.list")["sessions"]] == ["demo-1"]  # no second spawn
    assert remote.received("demo-1").count("done remotely") == 1
    if "error" not in refused:
        assert remote.received("demo-1").count("while cut") == 1


def test_placement_round_robin_takes_turns_across_hosts(pair: Pair) -> None:
    local = pair.local
    text = local.aod.config_path.read_text() + "placement: {policy: round-robin}\n"
    local.aod.write_config(text)
    local.ok("daemon", "reload")
    # This machine's own clone of the project (the host's is its own: same name, other files).
    local.ok("project", "add", str(make_repo(local.aod.root / "here" / "demo")))
    first = local.ok("spawn", "-p", "demo", "--task", "one")
    second = local.ok("spawn", "-p", "demo", "--task", "two")
    assert {first["host"], second["host"]} == {"", "box"}
    assert sorted(s["host"] for s in pair.listed()) == ["", "box"]
