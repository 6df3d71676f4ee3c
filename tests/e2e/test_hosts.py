"""Remote hosts over real SSH (issue 21): sshd in a network namespace the test makes, a second
unix user with its own HOME and venv (tests/support/sshd.py); the local aod federates it with
`hosts: {box: {ssh: user@10.213.0.2, aoctl: [...], ssh_config: ...}}`.

The whole lifecycle of a session on box through this aod (the local forge there, the scripted
agent), then the link cut twice mid-session — the ssh process killed, the veth dropped — and
restored: the session kept working there, its state caught up here, no message lost or
duplicated, no second spawn, and `unknown` (never dead) while the link was down.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text
from tests.support.sshd import SshHost, missing_tools, ssh_host
from tests.support.tmux import FAKE_AGENT, tmux_server

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=f"needs sshd and ip netns: {missing_tools()}")


@pytest.fixture(scope="session")
def box() -> Iterator[SshHost]:
    with ssh_host() as host:
        yield host


def remote_setup(host: SshHost) -> Path:
    """The host's own config (its tmux server, the scripted agent) and a repository in its HOME."""
    records = host.home / "records"
    repo = host.home / "demo"
    agent = ["/usr/bin/python3", str(FAKE_AGENT), "--style", "plain", "--record", str(records / "{session}.jsonl")]
    config = (
        "poll_interval: 200ms\nruntime: {tmux_socket: aohost}\ndefaults: {agent: fake}\n"
        f"agents:\n  fake: {{command: {json.dumps(agent)}, prompt: paste, ready_timeout: 20s}}\n"
    )
    script = (
        f"mkdir -p {records} {host.home}/.config/ao && git init -q -b main {repo} && cd {repo} && "
        "git config user.email dev@example.com && git config user.name Dev && echo demo > README.md && "
        "git add README.md && git commit -q -m first"
    )
    assert host.as_user("sh", "-c", script).returncode == 0
    assert host.as_user("sh", "-c", f"cat > {host.home}/.config/ao/config.yaml << 'EOF'\n{config}EOF\n").returncode == 0
    return repo


def received(host: SshHost, sid: str) -> list[str]:
    path = host.home / "records" / f"{sid}.jsonl"
    return [json.loads(line)["message"] for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


@pytest.fixture
def federation(box: SshHost, make_aod: Callable[..., AodProcess]) -> Iterator[tuple[Fleet, SshHost, Path]]:
    repo = remote_setup(box)
    with tmux_server() as tmux:
        local = make_aod()
        (local.root / "records").mkdir()
        host = {"ssh": box.target, "aoctl": [box.aoctl], "ssh_config": str(box.ssh_config)}
        local.write_config(config_text(tmux, local.root / "records", f"hosts:\n  box: {json.dumps(host)}\n"))
        local.start()
        fleet = Fleet(local, tmux, repo)
        try:
            yield fleet, box, repo
        finally:
            local.stop()
            box.as_user(box.aoctl, "daemon", "stop")
            box.as_user("tmux", "-L", "aohost", "kill-server")
            box.as_user("rm", "-rf", str(repo), str(box.home / "records"), str(box.home / ".local"), str(box.home / ".config"))


def host_info(fleet: Fleet) -> dict[str, Any]:
    return fleet.aod.result("hosts.list")["hosts"][0]


def listed(fleet: Fleet) -> list[dict[str, Any]]:
    return fleet.aod.result("session.list")["sessions"]


def test_a_session_on_a_remote_host_through_cuts_of_the_link(federation: tuple[Fleet, SshHost, Path]) -> None:
    fleet, box, repo = federation
    # The host's aod was not running: the link started it over ssh.
    up = wait_for(lambda: (h := host_info(fleet))["reachable"] and h, 60, "box reachable")
    assert up["version"] and up["target"] == box.target
    hosts = fleet.aod.aoctl("hosts", "list")
    assert hosts.returncode == 0 and "box" in hosts.stdout and "yes" in hosts.stdout

    missing = fleet.aod.aoctl("spawn", "--host", "box", "-p", "demo", "--task", "x")
    assert missing.returncode == 1 and "not registered on host box" in missing.stderr, missing.stderr
    added = box.ssh(box.aoctl, "project", "add", str(repo))
    assert added.returncode == 0, added.stderr

    # -- the lifecycle, through this aod --------------------------------------------------------
    spawned = fleet.ok("spawn", "--host", "box", "-p", "demo", "--task", "remote work")
    sid = spawned["id"]
    assert sid == "box/demo-1" and spawned["host"] == "box"
    wait_for(lambda: any("remote work" in m for m in received(box, "demo-1")), 40, "the first prompt on box")
    table = fleet.aod.aoctl("status").stdout.splitlines()
    assert table[0].split()[:2] == ["ID", "HOST"] and table[1].split()[:2] == [sid, "box"]
    fleet.ok("send", sid, "first message")
    wait_for(lambda: "first message" in received(box, "demo-1"), 30, "the message on box")
    fleet.ok("send", sid, f"/fake run {box.aoctl} report done finished-it")
    wait_for(lambda: (s := listed(fleet)[0])["report"] and s["report"]["status"] == "done", 30, "the agent's report here")
    history = fleet.ok("history", sid)
    assert history["id"] == sid and {"spawned", "delivery.done"} <= {e["kind"] for e in history["entries"]}
    attach = fleet.aod.result("session.attach", {"id": sid})["argv"]
    assert attach[:4] == ["ssh", "-t", "-F", str(box.ssh_config)] and box.target in attach and "attach-session" in attach

    # -- cut 1: the ssh process killed ----------------------------------------------------------
    before = host_info(fleet)
    os.killpg(before["pid"], signal.SIGKILL)
    back = wait_for(lambda: (h := host_info(fleet))["reachable"] and h["pid"] not in (None, before["pid"]) and h, 30, "the link back")
    assert back["sessions"] == 1
    fleet.ok("send", sid, "after the kill")
    wait_for(lambda: "after the kill" in received(box, "demo-1"), 30, "a message after the reconnect")

    # -- cut 2: the network dropped -------------------------------------------------------------
    box.link_down()
    try:
        cut = wait_for(lambda: (s := listed(fleet)) and s[0]["state"] == "unknown" and s, 40, "unknown while cut")
        assert "host box is unreachable since" in cut[0]["reason"]
        assert "unknown" in fleet.aod.aoctl("status").stdout
        refused = fleet.aod.call("session.send", {"id": sid, "message": "not while cut"})
        assert refused["error"]["code"] == -32030 and "was not sent" in refused["error"]["message"]
        # The agent keeps working on box meanwhile (told something by a user there).
        assert box.as_user(box.aoctl, "send", "demo-1", "said on box while cut").returncode == 0
        wait_for(lambda: "said on box while cut" in received(box, "demo-1"), 30, "box working on while cut")
        assert box.as_user(box.aoctl, "kill", "demo-1").returncode == 0
    finally:
        box.link_up()
    wait_for(lambda: host_info(fleet)["reachable"], 60, "the link back after the network")
    caught = wait_for(lambda: (s := listed(fleet)) and s[0]["state"] == "killed" and s, 20, "the state caught up")
    assert [s["id"] for s in caught] == [sid]
    updates = [e for e in fleet.aod.result("events.recent", {"limit": 500})["events"] if e["data"].get("caught_up")]
    assert updates and updates[-1]["session"] == sid and updates[-1]["data"]["state"] == "killed"

    # Nothing lost, nothing twice, nothing spawned again.
    messages = received(box, "demo-1")
    for text in ("first message", "after the kill", "said on box while cut"):
        assert messages.count(text) == 1, (text, messages)
    assert "not while cut" not in messages
    there = json.loads(box.as_user(box.aoctl, "--json", "status").stdout)
    assert [s["id"] for s in there] == ["demo-1"]
    assert fleet.ok("kill", sid)["state"] == "killed"  # killing again: the host's answer, through


def test_bootstrap_installs_this_aod_on_the_host(box: SshHost, make_aod: Callable[..., AodProcess]) -> None:
    local = make_aod()
    # The link points at the aoctl bootstrap is about to install: unreachable until it exists.
    venv_aoctl = str(box.home / ".local/share/ao/venv/bin/aoctl")
    host = {"ssh": box.target, "aoctl": [venv_aoctl], "ssh_config": str(box.ssh_config)}
    local.write_config(f"hosts:\n  box: {json.dumps(host)}\n")
    local.start()
    try:
        down = wait_for(lambda: (h := local.result("hosts.list")["hosts"][0])["last_error"] and h, 30, "the link to fail")
        assert not down["reachable"] and "aoctl hosts bootstrap box" in down["last_error"]
        done = local.aoctl("--json", "hosts", "bootstrap", "box", timeout=600)
        assert done.returncode == 0, done.stderr
        result = json.loads(done.stdout)
        assert result["aoctl"] == venv_aoctl and result["venv"] == str(box.home / ".local/share/ao/venv")
        assert any("python3 -m venv" in s and s.endswith("ok") for s in result["steps"])
        version = box.ssh(venv_aoctl, "--version")
        assert version.returncode == 0 and "aoctl, version" in version.stdout
        wait_for(lambda: local.result("hosts.list")["hosts"][0]["reachable"], 60, "the link up once aod is there")
    finally:
        local.stop()
        box.as_user(venv_aoctl, "daemon", "stop")
        box.as_user("rm", "-rf", str(box.home / ".local"))
