"""Issue 14, "smaller, each with a test": bad counts, branch templates that render to options or
paths, a first prompt too long for the command line, and what the local forge tells an agent
about conflicts. Each ran against a real aod (or the real config checker) and failed before the
fix; docs/reliability.md lists them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, git
from tests.support.tmux import FAKE_AGENT

# -- 10: negative counts ------------------------------------------------------------------------


# The bug: session.history clamped lines=-1 to 1 entry, events.recent answered [] for limit=-1,
# instead of telling the caller the count is wrong.
@pytest.mark.parametrize(
    ("method", "params", "field"),
    [
        ("session.history", {"id": "demo-1", "lines": -1}, "params.lines"),
        ("events.recent", {"limit": -5}, "params.limit"),
        ("session.logs", {"id": "demo-1", "lines": -1}, "params.lines"),
        ("issue.list", {"limit": -1}, "params.limit"),
    ],
)
def test_a_negative_count_is_invalid_params(aod: AodProcess, method: str, params: dict[str, object], field: str) -> None:
    reply = aod.call(method, params)
    assert reply["error"]["code"] == -32602, reply
    assert reply["error"]["data"]["path"] == field
    assert ">= 0" in reply["error"]["message"]
    # Zero is a count too (nothing asked, nothing answered), not an error.
    assert "result" in aod.call("events.recent", {"limit": 0})


# -- 11: branch templates -----------------------------------------------------------------------


# The bug: `config check` accepted any template with {id}; `-{id}` reads as an option to git,
# `../../{id}` climbs out of refs/heads: each failed (or worse) only at the first spawn.
@pytest.mark.parametrize("template", ["-{id}", "--upload-pack={id}", "../../{id}", "ao/{id}.lock", "ao {id}", "ao/{id}/"])
@pytest.mark.parametrize("where", ["defaults", "project"])
def test_config_check_refuses_a_branch_template_that_renders_to_a_bad_name(tmp_path: Path, template: str, where: str) -> None:
    path = tmp_path / "config.yaml"
    if where == "defaults":
        path.write_text(f"defaults:\n  branch: {json.dumps(template)}\n")
    else:
        path.write_text(f"projects:\n  demo:\n    branch: {json.dumps(template)}\n")
    result = subprocess.run(
        [sys.executable, "-m", "aoctl", "config", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stdout
    line = 2 if where == "defaults" else 3
    assert f"{path}:{line}: " in result.stdout and "branch" in result.stdout, result.stdout
    assert "renders to the branch name" in result.stdout
    assert "Traceback" not in result.stderr


def test_config_check_still_accepts_the_usual_templates(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text('defaults:\n  branch: "feat/{issue}-{id}"\nprojects:\n  demo:\n    branch: "{project}/{id}"\n')
    result = subprocess.run([sys.executable, "-m", "aod", "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


# -- 12: a first prompt over the command-line limit ---------------------------------------------


def argv_agent(records: Path) -> str:
    agent = [sys.executable, str(FAKE_AGENT), "--style", "plain", "--record", str(records / "{session}.jsonl")]
    return f"  fake-argv: {{command: {json.dumps(agent)}, prompt: argv, ready_timeout: 20s}}\n"


# The bug: with `prompt: argv` (Claude Code's default) the first prompt rides in the agent's
# argv; tmux packs a whole command into one 16 KB message, so a long task failed the spawn
# ("spawn failed: ... command too long") instead of going by paste.
def test_a_task_too_long_for_argv_is_pasted_instead(make_fleet: Callable[..., Fleet], tmp_path: Path) -> None:
    fleet = make_fleet()
    fleet.aod.write_config(fleet.aod.config_path.read_text().replace("agents:\n", "agents:\n" + argv_agent(fleet.records), 1))
    fleet.ok("daemon", "reload")
    task = "Refactor the module as described. " + " ".join(f"step-{n}" for n in range(4000))  # ~36 KB
    assert len(task.encode()) > 32_000
    session = fleet.ok("spawn", "--agent", "fake-argv", "--task", task)
    sid = session["id"]
    wait_for(lambda: any(task in m for m in fleet.received(sid)), 60, "the long task to reach the agent")
    info = fleet.session(sid)
    assert info["state"] == "working", info
    spawned = [e for e in fleet.journal(sid) if e.get("kind") == "spawned"]
    assert spawned and spawned[-1]["prompt_mode"] == "paste", spawned
    assert sum(task in m for m in fleet.received(sid)) == 1  # once, not in argv and pasted too

    # A short task still goes in argv, as configured.
    short = fleet.ok("spawn", "--agent", "fake-argv", "--task", "a short task")["id"]
    wait_for(lambda: fleet.received(short), 30, "the short task")
    assert [e["prompt_mode"] for e in fleet.journal(short) if e.get("kind") == "spawned"] == ["argv"]


# -- 13: the local forge's conflict message -----------------------------------------------------


# The bug: the merge-conflicts message told every agent to fetch and `push --force-with-lease`;
# on the local forge there is no remote: the PR's branches are the repository's own.
def test_the_local_forge_conflict_message_says_there_is_nothing_to_fetch_or_push(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("projects:\n  demo:\n    open_pr: auto\n")
    sid = fleet.ok("spawn", "--task", "/fake write app.txt the session's version\n/fake commit add app.txt")["id"]
    workspace = Path(fleet.session(sid)["workspace"])
    wait_for(lambda: "add app.txt" in git(workspace, "log", "--format=%s"), 30, "the agent's commit")
    fleet.wait_state(sid, lambda s: s.get("pr_number") is not None, "aod to open the PR", 60)
    (fleet.repo / "app.txt").write_text("main's own version\n")
    git(fleet.repo, "add", "app.txt")
    git(fleet.repo, "commit", "-q", "-m", "a conflicting change on main")

    def conflict_message() -> str | None:
        return next((m for m in fleet.received(sid) if "merge conflicts" in m), None)

    message = wait_for(conflict_message, 60, "the merge-conflicts message")
    assert "git rebase main" in message, message
    assert "force-with-lease" not in message and "fetch," not in message, message
    assert "nothing to fetch or push" in message
