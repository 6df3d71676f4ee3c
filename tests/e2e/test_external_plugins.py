"""Plugins from other packages (issue 22, docs/plugins.md): packages installed with pip into a
target directory of the test's own (on the aod process's PYTHONPATH only: the test venv is
never changed) fill the agent and runtime slots through entry points.

- tests/fixtures/plugin_pkg (`aod-agent-echo`, the package docs/plugins.md shows): its agent
  `echo` spawns, receives its first prompt and a message, and `aoctl plugins` lists it with its
  distribution and version.
- tests/fixtures/plugin_broken (`aod-broken-plugins`): an agent that fails to import, one
  without `launch`, a runtime taking the built-in name `tmux` — each a clear error in
  `aoctl plugins` and `aoctl doctor` naming the distribution, while aod runs and `echo` works;
  and a runtime `crashy` whose probes crash, which fails only its own session's look.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, make_repo
from tests.support.tmux import FAKE_AGENT, tmux_server

FIXTURES = Path(__file__).parents[1] / "fixtures"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both packages installed by pip into a directory of their own."""
    target = tmp_path_factory.mktemp("plugin-site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target),
         str(FIXTURES / "plugin_pkg"), str(FIXTURES / "plugin_broken")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert (target / "aod_agent_echo-0.1.0.dist-info").is_dir()
    return target


def test_the_documented_config_loads_with_the_plugin_installed_and_not_without(site: Path, tmp_path: Path) -> None:
    import re

    page = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()
    [block] = [b for b in re.findall(r"```yaml\n(.*?)```", page, re.S) if "aod-agent-echo plugin installed" in b]
    config = tmp_path / "config.yaml"
    config.write_text(block)
    check = [sys.executable, "-m", "aod", "check-config", str(config)]
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("AOD_")}
    with_plugin = subprocess.run(check, capture_output=True, text=True, env={**env, "PYTHONPATH": str(site)}, timeout=60)
    assert with_plugin.returncode == 0, with_plugin.stdout + with_plugin.stderr
    without = subprocess.run(check, capture_output=True, text=True, env=env, timeout=60)
    assert without.returncode == 1
    assert "'echo' is not a built-in or installed agent" in without.stdout + without.stderr


def test_a_plugin_package_s_agent_spawns_and_broken_ones_are_reported(
    make_aod: Callable[..., AodProcess], tmp_path: Path, site: Path
) -> None:
    with tmux_server() as tmux:
        records = tmp_path / "records"
        records.mkdir()
        flag = tmp_path / "crash-now"
        aod = make_aod(extra_env={
            "PYTHONPATH": str(site), "ECHO_AGENT_RECORD_DIR": str(records),
            "CRASHY_TMUX_SOCKET": tmux, "CRASHY_FLAG": str(flag),
        })
        other = make_repo(tmp_path / "other")
        aod.write_config(
            f"poll_interval: 200ms\nruntime: {{tmux_socket: {tmux}}}\n"
            "defaults: {agent: echo}\n"
            "agents:\n  echo: {ready_timeout: 20s}\n"
            f"projects:\n  other: {{path: {json.dumps(str(other))}, runtime: crashy}}\n"
        )
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.records = records
        fleet.ok("project", "add", str(fleet.repo))

        # The package's agent, named in config like a built-in: it runs and gets its prompt.
        sid = fleet.ok("spawn", "-p", "demo", "--task", "hello from the echo plugin")["id"]
        wait_for(lambda: any("hello from the echo plugin" in m for m in fleet.received(sid)), 30, "the first prompt")
        fleet.ok("send", sid, "a message through aod")
        fleet.wait_received(sid, "a message through aod")

        # aoctl plugins: every slot's built-ins, the good plugin with its distribution, the
        # broken ones with errors naming theirs.
        rows = {(p["slot"], p["name"], p["distribution"]): p for p in fleet.ok("plugins")}
        echo = rows[("agent", "echo", "aod-agent-echo")]
        assert (echo["version"], echo["module"], echo["status"]) == ("0.1.0", "aod_agent_echo:EchoAgent", "ok")
        assert rows[("runtime", "tmux", "aod")]["builtin"] and rows[("agent", "claude-code", "aod")]["status"] == "ok"
        for slot in ("agent", "runtime", "workspace", "scm", "tracker", "notifier"):
            assert any(key[0] == slot for key in rows), slot
        no_launch = rows[("agent", "no-launch", "aod-broken-plugins")]
        assert no_launch["status"] == "error"
        assert "aod-broken-plugins 0.0.1" in no_launch["error"] and "missing method(s) launch" in no_launch["error"]
        broken = rows[("agent", "broken-import", "aod-broken-plugins")]
        assert "importing aod_broken_plugins.does_not_exist:Agent failed: ModuleNotFoundError" in broken["error"]
        clash = rows[("runtime", "tmux", "aod-broken-plugins")]
        assert clash["status"] == "error" and "built-in runtime" in clash["error"]
        assert "aod.plugins.runtime.tmux:TmuxRuntime" in clash["error"] and "aod_broken_plugins:FakeTmux" in clash["error"]
        assert rows[("runtime", "crashy", "aod-broken-plugins")]["status"] == "ok"
        table = aod.aoctl("plugins")
        assert table.returncode == 0 and "aod-agent-echo" in table.stdout
        assert "error: agent no-launch: aod-broken-plugins 0.0.1" in table.stdout

        # doctor says the same; the built-in tmux was not replaced (the echo session runs on it).
        checks = {c["name"]: c for c in aod.result("daemon.doctor")["checks"]}
        assert checks["plugin agent echo"]["ok"] and "aod-agent-echo 0.1.0" in checks["plugin agent echo"]["detail"]
        assert not checks["plugin agent no-launch"]["ok"]
        assert "aod-broken-plugins" in checks["plugin agent no-launch"]["detail"]
        assert "pip install -U aod-broken-plugins" in checks["plugin agent no-launch"]["fix"]
        assert not checks["plugin runtime tmux"]["ok"]
        assert "unusable" in aod.log() and "aod-broken-plugins 0.0.1" in aod.log()

        # The broken agent is refused with its reason; a typo lists what is available.
        refused = fleet.fails("spawn", "-p", "demo", "--agent", "no-launch", "--task", "x")
        assert "aod-broken-plugins 0.0.1" in refused.stderr and "launch" in refused.stderr
        typo = fleet.fails("spawn", "-p", "demo", "--agent", "ehco", "--task", "x")
        assert "echo" in typo.stderr

        # A runtime plugin whose probes crash: only its own session's look fails.
        crashy = fleet.ok("spawn", "-p", "other", "--task", "on the crashy runtime")["id"]
        wait_for(lambda: any("on the crashy runtime" in m for m in fleet.received(crashy)), 30, "crashy's first prompt")
        flag.write_text("")
        wait_for(lambda: "crashy's snapshot crashed" in aod.log(), 20, "a tick with the crashing probe")
        wait_for(lambda: "crashy's liveness crashed" in aod.log(), 20, "the crashing liveness")
        fleet.ok("send", sid, "the tick goes on for the others")
        fleet.wait_received(sid, "the tick goes on for the others")
        sessions = {s["id"]: s for s in fleet.ok("status")}
        assert sessions[sid]["state"] == "working"
        # Unknown is never dead: the crashy session is not ended for its plugin's crash.
        assert sessions[crashy]["state"] not in ("killed", "errored", "done", "exited")
        failed = [line for line in aod.log().splitlines() if "crashy's liveness crashed" in line]
        # Logged as that session's problem, naming the plugin and its distribution.
        assert crashy in failed[0] and "aod-broken-plugins 0.0.1" in failed[0] and "crashy" in failed[0]
        crashed = {p["name"]: p for p in fleet.ok("plugins") if p["slot"] == "runtime"}["crashy"]
        assert crashed["status"] == "ok" and crashed["failures"] > 0 and "crashed" in crashed["last_failure"]
        assert "failing: runtime crashy" in aod.aoctl("plugins").stdout
        assert aod.answers()

        # aod again with the echo package gone (uninstalled while its sessions live): those
        # sessions alone go unlooked-at, with the reason; a new session of a built-in runs.
        without_echo = tmp_path / "site-without-echo"
        shutil.copytree(site, without_echo, ignore=shutil.ignore_patterns("aod_agent_echo*"))
        aod.stop()
        aod.extra_env["PYTHONPATH"] = str(without_echo)
        fake = [sys.executable, str(FAKE_AGENT), "--style", "plain", "--record", str(records / "{session}.jsonl")]
        aod.write_config(
            f"poll_interval: 200ms\nruntime: {{tmux_socket: {tmux}}}\n"
            f"agents:\n  fake: {{command: {json.dumps(fake)}, prompt: paste, ready_timeout: 20s}}\n"
            f"projects:\n  other: {{path: {json.dumps(str(other))}, runtime: crashy}}\n"
        )
        aod.start()
        assert not any(p["name"] == "echo" for p in fleet.ok("plugins"))
        fresh = fleet.ok("spawn", "-p", "demo", "--agent", "fake", "--task", "after the restart")["id"]
        wait_for(lambda: any("after the restart" in m for m in fleet.received(fresh)), 30, "the new session's prompt")
        fleet.ok("send", sid, "to a session whose plugin is gone")  # queued; it must not hold up the others
        fleet.ok("send", fresh, "the tick still delivers")
        fleet.wait_received(fresh, "the tick still delivers")
        wait_for(lambda: "the session's agent is not available" in aod.log(), 20, "the echo sessions' reason")
        sessions = {s["id"]: s for s in fleet.ok("status")}
        assert sessions[sid]["state"] not in ("killed", "errored", "done", "exited")
