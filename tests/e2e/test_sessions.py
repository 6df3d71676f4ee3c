"""Sessions end to end: aod and aoctl as processes, real git worktrees, a real tmux server, and
the scripted agent (tests/support/fake_agent.py) standing in for the model.

Every wait is on a condition (a file's content, a session's state), never on a fixed sleep.
"""

from __future__ import annotations

import errno
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
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.tmux import FAKE_AGENT, tmux_server

HOSTILE = "fix `rm -rf /` and $(whoami); echo 'quoted' \"double\" | cat & \\ \t tab\nline two ünïcødé ✓ \x1b[31mred\x1b[0m"


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Fleet]:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(config_text(tmux, records))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        fleet = Fleet(aod, tmux, repo)
        added = fleet.ok("project", "add", str(repo))
        assert (added["name"], added["default_branch"], added["agent"]) == ("demo", "main", "fake")
        yield fleet


def test_spawn_send_kill_restore_cleanup_never_loses_work(fleet: Fleet) -> None:
    spawned = fleet.ok("spawn", "--task", HOSTILE)
    sid = spawned["id"]
    assert sid == "demo-1" and spawned["state"] == "working"
    assert spawned["branch"] == "ao/demo-1"
    workspace = Path(spawned["workspace"])
    assert workspace.is_dir() and (workspace / ".env").read_text() == "SECRET=1\n"  # .worktreeinclude
    assert git(workspace, "branch", "--show-current").strip() == "ao/demo-1"
    assert sid in fleet.tmux_sessions()

    # The first prompt is pasted once the agent is ready, carrying the task byte-exact.
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    assert HOSTILE in fleet.received(sid)[0]

    big = "".join(f"line {n:05d} " + "x" * 90 + "\n" for n in range(1000))  # ~100 KB
    queued = fleet.ok("send", sid, "-", input=big.encode())
    assert queued["id"] == sid and queued["seq"] >= 1
    fleet.wait_received(sid, big)
    fleet.ok("send", sid, HOSTILE)
    fleet.wait_received(sid, HOSTILE)
    assert fleet.received(sid).count(HOSTILE) == 1

    fleet.ok("send", sid, "/fake write notes.txt uncommitted work")
    wait_for(lambda: (workspace / "notes.txt").exists(), 20, "the agent to write notes.txt")

    status = fleet.ok("status")
    assert [s["id"] for s in status] == [sid]
    assert {"id", "project", "state", "activity", "branch", "workspace"} <= set(status[0])
    logs = fleet.ok("logs", sid, "--lines", "20")
    assert logs["alive"] == "alive" and "notes.txt" in logs["text"]

    killed = fleet.ok("kill", sid)
    assert killed["state"] == "killed"
    assert sid not in fleet.tmux_sessions()
    assert workspace.is_dir()

    # Dirty: cleanup saves the work to refs/ao/wip/<id> and keeps the worktree.
    kept = fleet.ok("cleanup")["items"]
    assert [(i["id"], i["action"]) for i in kept] == [(sid, "kept")]
    assert kept[0]["wip_ref"] == f"refs/ao/wip/{sid}"
    assert git(fleet.repo, "show", f"refs/ao/wip/{sid}:notes.txt") == "uncommitted work\n"
    assert (workspace / "notes.txt").exists()

    restored = fleet.ok("restore", sid)
    assert restored["state"] == "working" and sid in fleet.tmux_sessions()
    fleet.ok("send", sid, "after restore")
    fleet.wait_received(sid, "after restore")

    fleet.ok("kill", sid)
    removed = fleet.ok("cleanup", "--force")["items"]
    assert [(i["id"], i["action"]) for i in removed] == [(sid, "removed")]
    assert not workspace.exists()
    assert git(fleet.repo, "show", f"refs/ao/wip/{sid}:notes.txt") == "uncommitted work\n"
    assert fleet.ok("status") == []
    assert git(fleet.repo, "branch", "--list", "ao/demo-1").strip()  # the branch is kept


def test_done_and_kill_end_sessions_that_cleanup_archives_with_their_history(fleet: Fleet) -> None:
    finished = fleet.ok("spawn", "--task", "a small job")["id"]
    stopped = fleet.ok("spawn", "--task", "another job")["id"]
    for sid in (finished, stopped):
        fleet.wait_state(sid, lambda s: s["activity"] in ("idle", "ready"), "the agent at its prompt", 30)

    done = fleet.ok("done", finished)
    assert (done["state"], done["reason"]) == ("done", "marked done by the user")
    again = fleet.fails("done", finished)
    assert "is done (marked done by the user); nothing to mark done" in again.stderr and again.returncode == 1
    assert "no session 'nobody'" in fleet.fails("done", "nobody").stderr

    killed = fleet.ok("kill", stopped)
    assert (killed["state"], killed["activity"]) == ("killed", "exited")  # not its last activity
    assert fleet.session(stopped)["activity"] == "exited"

    removed = fleet.ok("cleanup", "--force")["items"]
    assert sorted((i["id"], i["action"]) for i in removed) == sorted([(finished, "removed"), (stopped, "removed")])
    assert fleet.ok("status") == []
    for sid, ended, reason in ((finished, "done", "done: marked done by the user"), (stopped, "killed", "killed: killed by the user")):
        record = json.loads((fleet.aod.state_dir / "archive" / sid / "session.json").read_text())
        assert (record["state"], record["reason"]) == ("archived", reason)
        history = fleet.ok("history", sid)
        assert history["archived"] is True
        changes = [(e["from"], e["to"]) for e in history["entries"] if e["kind"] == "state.changed"]
        assert changes[-1] == (ended, "archived")
        assert history["entries"][-1]["kind"] == "archived" and history["entries"][-1]["ended"] == ended
        text = fleet.aod.aoctl("history", sid)
        assert text.returncode == 0 and "is archived" in text.stdout and "archived" in text.stdout
    missing = fleet.fails("history", "nobody")
    assert "no session 'nobody'" in missing.stderr


def test_aod_restart_keeps_every_agent_and_readopts_it(fleet: Fleet) -> None:
    first = fleet.ok("spawn", "--task", "one")["id"]
    issue = fleet.ok("issue", "add", "--title", "Issue to work on", "--body", "Details of the issue.")["id"]
    second = fleet.ok("spawn", issue)["id"]
    wait_for(lambda: fleet.received(first) and fleet.received(second), 30, "both prompts")
    panes_before = fleet.tmux_sessions()

    fleet.aod.signal(signal.SIGTERM)
    assert fleet.aod.wait_exit() == 0
    assert sorted(fleet.tmux_sessions()) == sorted(panes_before)  # agents outlive aod

    fleet.aod.start()
    fleet.ok("send", second, "still there?")
    fleet.wait_received(second, "still there?")
    for sid in (first, second):
        assert fleet.session(sid)["state"] == "working"
    fleet.wait_state(first, lambda s: s["activity"] in ("ready", "idle"), "re-adopted activity")


def test_aod_killed_mid_spawn_leaves_nothing_that_blocks_a_respawn(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    os.mkfifo(gate)
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        # The setup hook blocks on a FIFO, so aod can be killed while the spawn is under way.
        hook = json.dumps(["sh", "-c", 'read x < "$0"', str(gate)])
        aod.write_config(config_text(tmux, records, f"projects:\n  demo: {{setup: {hook}}}\n"))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))
        spawn = subprocess.Popen(
            [sys.executable, "-m", "aoctl", "spawn", "--task", "x"], env=aod.env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        wait_for(lambda: aod.result("session.list")["sessions"] and aod.result("session.list")["sessions"][0]["reason"] == "running the setup hook", 20, "the setup hook to start")
        aod.proc.kill()  # type: ignore[union-attr]
        aod.proc.wait()  # type: ignore[union-attr]
        _out, spawn_err = spawn.communicate(timeout=20)
        assert spawn.returncode != 0 and "Traceback" not in spawn_err.decode()
        try:
            os.close(os.open(gate, os.O_WRONLY | os.O_NONBLOCK))  # lets the orphaned hook finish
        except OSError as exc:
            # ENXIO: nobody reads the FIFO. The state said "running the setup hook" just before
            # the hook starts, and on a loaded machine aod died in between: no hook to release.
            assert exc.errno == errno.ENXIO, exc
        aod.write_config(config_text(tmux, records))  # no more blocking hook
        aod.start()
        stuck = fleet.wait_state("demo-1", lambda s: s["state"] == "errored", "the interrupted spawn to be marked")
        assert "interrupted" in stuck["reason"]
        cleaned = fleet.ok("cleanup")["items"]
        assert ("demo-1", "removed") in [(i["id"], i["action"]) for i in cleaned]
        again = fleet.ok("spawn", "--task", "again")
        assert again["state"] == "working" and again["id"] == "demo-2"


def test_batch_spawn_skips_live_issues_and_duplicates(fleet: Fleet) -> None:
    for n in (1, 2, 3):
        fleet.ok("issue", "add", "--title", f"Issue {n}")
    result = fleet.ok("batch-spawn", "1", "2", "2")
    assert sorted(s["issue"] for s in result["spawned"]) == ["1", "2"]
    assert [(s["issue"], s["reason"]) for s in result["skipped"]] == [("2", "listed twice in this batch")]
    partly = fleet.aod.aoctl("--json", "batch-spawn", "1", "3", "9")
    assert partly.returncode == 1, partly.stderr  # one issue failed: said, and the rest went on
    again = json.loads(partly.stdout)
    assert [(f["issue"], "no issue 9" in f["reason"]) for f in again["failed"]] == [("9", True)]
    assert [s["issue"] for s in again["spawned"]] == ["3"]
    assert [s["issue"] for s in again["skipped"]] == ["1"]
    # The same issue with another agent is another session.
    other = fleet.ok("batch-spawn", "1", "--agent", "claude-code")
    assert [(s["issue"], s["agent"]) for s in other["spawned"]] == [("1", "claude-code")]
    ids = [s["id"] for s in fleet.ok("status")]
    assert len(ids) == len(set(ids)) == 4
    branches = [s["branch"] for s in fleet.ok("status")]
    assert len(set(branches)) == 4


def test_a_missing_agent_cli_errors_the_session_and_leaves_nothing(fleet: Fleet) -> None:
    result = fleet.aod.aoctl("--json", "spawn", "--task", "x", "--agent", "broken")
    assert result.returncode == 1
    session = json.loads(result.stdout)
    assert session["state"] == "errored" and "/nonexistent/agent-cli" in session["reason"]
    assert session["workspace"] == ""
    assert "ao/" not in git(fleet.repo, "branch", "--list")
    assert len(git(fleet.repo, "worktree", "list").splitlines()) == 1


def test_bad_names_get_clear_errors_with_the_valid_ones(fleet: Fleet) -> None:
    unknown_project = fleet.fails("spawn", "--task", "x", "-p", "nope")
    assert "demo" in unknown_project.stderr
    unknown_agent = fleet.fails("spawn", "--task", "x", "--agent", "gpt-9")
    assert "claude-code" in unknown_agent.stderr and "fake" in unknown_agent.stderr
    unknown_session = fleet.fails("send", "demo-99", "hi")
    assert "demo-99" in unknown_session.stderr
    hostile_issue = fleet.fails("spawn", "$(touch /tmp/pwned)")
    assert "invalid issue" in hostile_issue.stderr
    bad_branch = fleet.fails("spawn", "--task", "x", "--branch", "../../etc")
    assert "invalid branch name" in bad_branch.stderr
    assert fleet.ok("status") == []  # no session was made for a refused request
    assert fleet.fails("project", "add", str(fleet.repo.parent)).returncode == 1  # not a repo


def test_doctor_reports_tools_and_agents(fleet: Fleet) -> None:
    result = fleet.aod.aoctl("--json", "doctor")
    report = json.loads(result.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["git"]["ok"] and checks["tmux"]["ok"]
    assert checks["agent fake"]["ok"]
    assert not checks["agent broken"]["ok"] and checks["agent broken"]["fix"]
    assert result.returncode == (0 if report["ok"] else 1)


def test_doctor_passes_on_a_clean_setup_and_fails_once_a_project_needs_the_missing_agent(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    # A fresh install: no project yet, and defaults.agent names a CLI that is not installed.
    aod = make_aod()
    aod.write_config("defaults: {agent: ghost}\nagents:\n  ghost: {command: [/nonexistent/ghost-cli]}\n")
    aod.start()
    clean = aod.aoctl("doctor")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "-- " in clean.stdout and "ghost-cli" in clean.stdout and "warning" in clean.stdout

    repo = make_repo(tmp_path / "demo")
    assert aod.aoctl("project", "add", str(repo)).returncode == 0  # runs defaults.agent: ghost
    needed = aod.aoctl("--json", "doctor")
    assert needed.returncode == 1
    ghost = next(c for c in json.loads(needed.stdout)["checks"] if c["name"] == "agent ghost")
    assert not ghost["ok"] and not ghost.get("optional") and "a project uses it" in ghost["detail"]


def test_status_watch_redraws_on_events_not_polling(fleet: Fleet) -> None:
    watcher = subprocess.Popen(
        [sys.executable, "-m", "aoctl", "--json", "status", "--watch"],
        env=fleet.aod.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert watcher.stdout is not None
        assert json.loads(_read_json_document(watcher.stdout)) == []  # the first draw
        sid = fleet.ok("spawn", "--task", "watch me")["id"]
        while True:  # each event brings one redraw; the new session appears in one of them
            sessions = json.loads(_read_json_document(watcher.stdout))
            if any(s["id"] == sid for s in sessions):
                break
    finally:
        watcher.terminate()
        watcher.communicate(timeout=10)


def _read_json_document(stream: Any) -> str:
    """One pretty-printed JSON document from aoctl --json output (it ends with a line `]`)."""
    lines = []
    while True:
        line = stream.readline()
        assert line, "aoctl status --watch ended"
        lines.append(line)
        if line.rstrip() in ("]", "[]"):
            return "".join(lines)


def test_send_reads_a_file_and_refuses_ended_sessions(fleet: Fleet, tmp_path: Path) -> None:
    sid = fleet.ok("spawn", "--task", "t")["id"]
    message = tmp_path / "msg.txt"
    message.write_text("from a file\nwith two lines")
    fleet.ok("send", sid, "--file", str(message))
    fleet.wait_received(sid, "from a file\nwith two lines")
    fleet.ok("kill", sid)
    refused = fleet.fails("send", sid, "anyone there?")
    assert f"aoctl restore {sid}" in refused.stderr


def test_clone_workspace_and_process_runtime(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(
            config_text(tmux, records, "projects:\n  demo: {workspace: clone, runtime: process}\n")
        )
        aod.start()
        repo = make_repo(tmp_path / "demo")
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))
        session = fleet.ok("spawn", "--task", "in a clone")
        sid, workspace = session["id"], Path(session["workspace"])
        assert session["runtime"]["kind"] == "process" and fleet.tmux_sessions() == []
        assert (workspace / ".git").is_dir()  # a clone, not a worktree
        wait_for(lambda: fleet.received(sid), 30, "the first prompt through the FIFO")
        fleet.ok("send", sid, "/fake write a.txt committed\n/fake commit add a.txt")
        wait_for(lambda: "add a.txt" in git(workspace, "log", "--oneline"), 20, "the agent's commit")
        assert "a.txt" in fleet.ok("logs", sid)["text"]
        fleet.ok("kill", sid)
        removed = fleet.ok("cleanup")["items"]
        assert [(i["id"], i["action"]) for i in removed] == [(sid, "removed")]
        assert not workspace.exists()
        # The branch and its commit came back into the project before the clone went.
        assert git(repo, "show", f"ao/{sid}:a.txt") == "committed\n"


def test_spawn_inside_a_repository_two_projects_share_asks_which_one(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "shop")
    nested = make_repo(repo / "tools" / "cli")
    aod = make_aod()
    aod.write_config(
        f"projects:\n  shop: {{path: {repo}}}\n  shop-docs: {{path: {repo}}}\n  cli: {{path: {nested}}}\n"
    )
    aod.start()

    def spawn_from(cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aoctl", "--json", "spawn", "--task", "x", "--agent", "no-such-agent"],
            cwd=cwd, env=aod.env(), capture_output=True, text=True, timeout=30,
        )

    ambiguous = spawn_from(repo / "tools")
    assert ambiguous.returncode == 1 and "Traceback" not in ambiguous.stderr
    assert "shop, shop-docs" in ambiguous.stderr and "-p NAME" in ambiguous.stderr
    # The innermost project is not ambiguous: the guess goes on (to the unknown agent, here).
    inner = spawn_from(nested)
    assert inner.returncode == 1 and "unknown agent 'no-such-agent'" in inner.stderr
    assert aod.result("session.list")["sessions"] == []


def test_a_failed_setup_hook_removes_the_workspace_and_only_the_branch_the_spawn_made(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        hook = json.dumps(["sh", "-c", "echo setting up; exit 3"])
        aod.write_config(config_text(tmux, records, f"projects:\n  demo: {{setup: {hook}}}\n"))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))
        git(repo, "branch", "mine")  # the user's own branch, at main

        for args in (("spawn", "--task", "x"), ("spawn", "--task", "y", "--branch", "mine")):
            result = aod.aoctl("--json", *args)
            assert result.returncode == 1, result.stdout + result.stderr
            session = json.loads(result.stdout)
            assert session["state"] == "errored" and "setup hook" in session["reason"]
            assert session["workspace"] == ""
        assert git(repo, "branch", "--list", "ao/*").strip() == ""  # made by the spawn: gone
        assert git(repo, "branch", "--list", "mine").strip()  # there before: kept
        assert len(git(repo, "worktree", "list").splitlines()) == 1
        assert not any((aod.root / "xdg-data" / "ao" / "worktrees" / "demo").glob("*"))


def test_sessions_of_two_projects_get_ports_of_their_own(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        # The agent notes the AO_PORT_BASE it was started with, then is the scripted agent.
        noting = ["sh", "-c", 'echo "$AO_PORT_BASE" > .port && exec "$@"', "sh",
                  sys.executable, str(FAKE_AGENT), "--style", "plain"]
        aod.write_config(config_text(tmux, records, f"  noting: {{command: {json.dumps(noting)}, prompt: paste}}\n"))
        aod.start()
        for name in ("web", "api"):
            assert aod.aoctl("project", "add", str(make_repo(tmp_path / name)), "--agent", "noting").returncode == 0
        spawned = [json.loads(aod.aoctl("--json", "spawn", "--task", "serve", "-p", p).stdout) for p in ("web", "api")]
        assert [s["id"] for s in spawned] == ["web-1", "api-1"]
        noted = [Path(s["workspace"]) / ".port" for s in spawned]
        ports = wait_for(lambda: all(f.exists() for f in noted) and [f.read_text().strip() for f in noted], 20, "both agents to start")
        assert len(set(ports)) == 2 and all(int(p) >= 20000 for p in ports), ports
