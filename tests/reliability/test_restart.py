"""R8: restarting aod never touches an agent. After a graceful stop (SIGTERM) or a crash
(SIGKILL), twice in a row, every agent's pane is still there with the same process, the next aod
adopts every session again (same runtime handle, state `working`), and every one of them gets a
message sent after the restart.

tests/e2e/test_sessions.py::test_aod_restart_keeps_every_agent_and_readopts_it covers one SIGTERM
with a message to one session. Restarting through the systemd unit needs a user manager
(`systemctl --user`); where there is none the test says so and skips.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.support.aod_process import wait_for
from tests.support.fleet import Fleet


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def spawn_three(fleet: Fleet) -> dict[str, dict]:
    sids = [
        fleet.ok("spawn", "--task", "one")["id"],
        fleet.ok("spawn", "--task", "two")["id"],
        fleet.ok("spawn", "--agent", "claude-code", "--task", "three")["id"],
    ]
    wait_for(lambda: all(fleet.received(s) for s in sids), 30, "every first prompt")
    return {sid: fleet.session(sid) for sid in sids}


def check_readopted(fleet: Fleet, before: dict[str, dict], label: str) -> None:
    assert sorted(fleet.tmux_sessions()) == sorted(before), label
    for sid, old in before.items():
        assert pid_alive(old["runtime"]["pid"]), f"{label}: {sid}'s agent died"
        now = fleet.session(sid)
        assert now["state"] == "working", f"{label}: {now}"
        assert now["runtime"] == old["runtime"], f"{label}: {sid}'s runtime handle changed"
    for sid in before:
        message = f"{label}: still there, {sid}?"
        fleet.ok("send", sid, message)
        fleet.wait_received(sid, message)
    for sid in before:
        fleet.wait_state(sid, lambda s: s["activity"] in ("idle", "ready"), f"{label}: {sid} seen at its prompt again")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_restarts_keep_every_agent_and_readopt_it(make_fleet: Callable[..., Fleet], signum: int) -> None:
    fleet = make_fleet()
    before = spawn_three(fleet)
    for n in (1, 2):
        assert fleet.aod.proc is not None
        old_pid = fleet.aod.proc.pid
        fleet.aod.signal(signum)
        code = fleet.aod.wait_exit()
        assert code == (0 if signum == signal.SIGTERM else -signal.SIGKILL)
        assert sorted(fleet.tmux_sessions()) == sorted(before)  # agents outlive aod
        fleet.aod.start()
        assert fleet.aod.result("daemon.ping")["pid"] != old_pid
        check_readopted(fleet, before, f"after {signal.Signals(signum).name} #{n}")


def user_manager_works() -> bool:
    if shutil.which("systemctl") is None or shutil.which("systemd-run") is None:
        return False
    probe = subprocess.run(["systemctl", "--user", "show-environment"], capture_output=True, timeout=20)
    return probe.returncode == 0


@pytest.mark.skipif(not user_manager_works(), reason="no systemd user manager here (`systemctl --user` cannot connect to one)")
def test_restart_through_systemd_keeps_every_agent(make_fleet: Callable[..., Fleet]) -> None:
    """aod as a user service with systemd/aod.service's process settings (Type=notify,
    NotifyAccess=main, KillMode=process); the agents are spawned by the service, so the tmux
    server starts from inside its cgroup; `systemctl --user restart` must leave them alone."""
    fleet = make_fleet()
    fleet.aod.stop()  # the same aod, from here on run by systemd
    unit = f"aod-reliability-{os.getpid()}"
    env = fleet.aod.env()
    keep = ("AOD_", "XDG_", "HOME", "PATH", "PYTHON")
    setenv = [f"--setenv={k}={v}" for k, v in env.items() if k.startswith(keep)]
    run = subprocess.run(
        ["systemd-run", "--user", "--unit", unit, "--collect",
         "-p", "Type=notify", "-p", "NotifyAccess=main", "-p", "KillMode=process",
         *setenv, sys.executable, "-m", "aod", "--log-format", "json"],
        capture_output=True, text=True, timeout=60,
    )
    assert run.returncode == 0, run.stderr
    try:
        wait_for(fleet.aod.answers, 30, "aod under systemd")
        before = spawn_three(fleet)
        first = fleet.aod.result("daemon.ping")["pid"]
        restarted = subprocess.run(["systemctl", "--user", "restart", unit], capture_output=True, text=True, timeout=90)
        assert restarted.returncode == 0, restarted.stderr
        wait_for(lambda: fleet.aod.answers() and fleet.aod.result("daemon.ping")["pid"] != first, 30, "the restarted aod")
        check_readopted(fleet, before, "after systemctl --user restart")
    finally:
        subprocess.run(["systemctl", "--user", "stop", unit], capture_output=True, timeout=60)
