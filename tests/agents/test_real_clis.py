"""Every supported agent CLI through the whole lifecycle, for real (issue 13): Claude Code, Codex,
opencode and aider, installed at pinned versions (tests/agents/install), each talking to a
loopback model stub (tests/support/model_stub.py), driven only through aoctl:

    issue → spawn → the CLI writes hello.py and commits → aod opens the PR (open_pr: auto)
    → CI fails → the failing log reaches the CLI → it fixes and commits → CI green
    → a reviewer asks for changes → the note reaches the CLI → it commits → approve
    → aod merges (auto_merge) → cleanup archives the session

and afterwards aod's per-session settings (trust, hooks, the bypass answer) are nowhere in the
user's own settings of that CLI, and ~/.gitconfig is untouched. A step that does not happen fails at once with the agent's screen and aod's log.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agents.conftest import Cli, agent_config, clis, seed_home, settings_files
from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, git, make_repo
from tests.support.model_stub import ModelStub
from tests.support.tmux import tmux_server

CI_SCRIPT = """\
import os, sys
text = open("hello.py").read() if os.path.exists("hello.py") else ""
if "fixed" not in text:
    print("FAILED test_hello.py::test_says_fixed - hello.py does not print 'fixed'", file=sys.stderr)
    print("E   AssertionError: expected a line printing 'fixed'", file=sys.stderr)
    for n in range(200):
        print(f"teardown step {n}: ok")
    sys.exit(1)
print("1 passed")
"""
GITCONFIG = "[user]\n\tname = Dev\n\temail = dev@example.com\n"
STEP = 60.0
"""Seconds one step may take before the test fails with the screen (each takes seconds)."""
SPEAKS_MCP = frozenset({"claude-code", "codex", "opencode"})
DERAILED = frozenset({"needs_input", "stuck", "errored", "killed", "closed", "merge_failed"})
"""States that end a step at once: the CLI waits for a person, hangs or died."""


def params() -> Iterator[Any]:
    for name, cli in clis().items():
        skip = pytest.mark.skip(reason=f"{cli.executable} is not installed: run tests/agents/install")
        yield pytest.param(cli, id=name, marks=() if cli.installed else (skip,))


def config(tmux: str, cli: Cli, stub: ModelStub, home: Path) -> str:
    ci = json.dumps([sys.executable, "ci.py"])
    agent = json.dumps(agent_config(cli, stub.url, home))
    return f"""\
poll_interval: 300ms
runtime: {{tmux_socket: {tmux}}}
defaults: {{agent: {cli.agent}}}
agents:
  {cli.agent}: {agent}
projects:
  demo:
    ci: {ci}
    ci_timeout: 60s
    open_pr: auto
    auto_merge: true
    reactions:
      pr-merged: {{threshold: 0s}}
"""


@pytest.mark.parametrize("cli", list(params()))
def test_the_whole_lifecycle_with_the_real_cli(make_aod: Callable[..., AodProcess], tmp_path: Path, cli: Cli) -> None:
    with tmux_server() as tmux, ModelStub() as stub:
        aod = make_aod()
        home = aod.root / "home"
        home.mkdir(exist_ok=True)
        (home / ".gitconfig").write_text(GITCONFIG)
        seed_home(cli, home)
        before = {path: path.read_bytes() for path in settings_files(cli, home)}
        aod.write_config(config(tmux, cli, stub, home))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        (repo / "ci.py").write_text(CI_SCRIPT)
        git(repo, "add", "ci.py")
        git(repo, "commit", "-q", "-m", "add CI")
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))
        fleet.ok("issue", "add", "--title", "Add hello.py", "--body", "Create hello.py that prints hello, and commit it.")
        sid = fleet.ok("spawn", "1")["id"]
        branch = f"ao/{sid}"

        def step(what: str, predicate: Callable[[], Any]) -> Any:
            def done_or_derailed() -> Any:
                done = predicate()
                if not done and (state := fleet.session(sid)["state"]) in DERAILED:
                    raise AssertionError(f"the session went {state} while waiting for {what}")
                return done

            try:
                return wait_for(done_or_derailed, STEP, what)
            except AssertionError as exc:
                raise AssertionError(f"{cli.agent}: {exc}\n{report(fleet, sid, stub)}") from None

        def commits() -> list[str]:
            return git(repo, "log", "--format=%s", branch).splitlines()

        step("the first commit", lambda: len(commits()) > 2)
        if cli.agent in SPEAKS_MCP:
            # aod's MCP server (`aoctl mcp`, wired per session) reached the CLI, its tools were
            # offered to the model, and the model's call came back to aod as this session's report.
            step("the agent's report through aod's MCP tool", lambda: [
                (e["status"], e["message"]) for e in fleet.journal(sid) if e["kind"] == "session.reported"
            ] == [("done", "hello.py is written and committed")])
        step("CI to fail on the PR", lambda: fleet.session(sid)["state"] == "ci_failed")
        step("the CI log to reach the agent, and its fix", lambda: "fixed" in git(repo, "show", f"{branch}:hello.py"))
        step("CI green, waiting for review", lambda: fleet.session(sid)["state"] == "review_pending")
        fleet.ok("review", sid, "--request-changes", "-m", "Please add a docstring to hello.py")
        step("the review note to reach the agent, and its commit", lambda: "Says hello" in git(repo, "show", f"{branch}:hello.py"))
        step("the new head to be green again", lambda: fleet.session(sid)["state"] in ("review_pending", "changes_requested"))
        fleet.ok("review", sid, "--approve")
        step("the merge and the cleanup", lambda: (aod.state_dir / "archive" / sid / "session.json").exists())

        assert "Says hello" in git(repo, "show", "main:hello.py")
        # The CI failure went to the agent with its error, not only the teardown noise.
        prompts = json.dumps([body for _m, _p, body in stub.requests])
        assert "does not print 'fixed'" in prompts
        assert "Please add a docstring to hello.py" in prompts
        # What aod gives the CLI per session (trust, hooks, the bypass answer) never lands in the
        # user's settings. (The CLIs keep their own bookkeeping there: Codex counts the notices it
        # showed under [tui]. The exact byte-for-byte check, with aod's writes alone, is
        # tests/e2e/test_agent_settings.py.)
        for path, content in before.items():
            now = path.read_text()
            assert "trust" not in now and "notify" not in now and "skipDangerous" not in now, f"{path}: {now}"
            if path.name in (".gitconfig", "settings.json", "opencode.json", ".aider.conf.yml"):
                assert path.read_bytes() == content, f"{cli.agent}: {path} changed: {now}"
        journal = [json.loads(line) for line in (aod.state_dir / "archive" / sid / "journal.jsonl").read_text().splitlines()]
        deliveries = [e for e in journal if e["kind"] in ("delivery.done", "delivery.failed")]
        assert deliveries and all(e.get("submitted") for e in deliveries), deliveries


def report(fleet: Fleet, sid: str, stub: ModelStub) -> str:
    """What a failing step shows: the session, the agent's screen, what the model was asked, aod's log."""
    try:
        session = fleet.session(sid)
        screen = fleet.ok("logs", sid, "-n", "60")["text"]
    except AssertionError as exc:
        session, screen = {}, f"(no screen: {exc})"
    asked = [f"{method} {path}" for method, path, _body in stub.requests][-10:]
    bodies = [body for _m, _p, body in stub.requests if isinstance(body, dict) and body.get("tools")]
    offered = [t.get("name") or t.get("function", {}).get("name") or t.get("type") for t in bodies[-1]["tools"]] if bodies else []
    asked.append(f"tools offered in the last request with tools: {offered}")
    journal = fleet.journal(sid)[-15:]
    return (
        f"session: {json.dumps(session)[:1500]}\n--- screen ---\n{screen}\n--- model requests (last 10) ---\n"
        + "\n".join(asked)
        + "\n--- journal (last 15) ---\n"
        + "\n".join(json.dumps(e)[:300] for e in journal)
        + f"\n--- aod log ---\n{fleet.aod.log()[-3000:]}"
    )


def test_codex_s_model_upgrade_choice_is_left_to_a_person(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    # With a model slug it knows, Codex 0.171 offers a newer model on start-up ("Meet GPT-…",
    # 1. Try new model / 2. Use existing model) just after drawing its composer. An Enter meant
    # for the first prompt would pick the new model for the user, and Codex would write that
    # into the user's config.toml. aod must leave the choice to a person.
    cli = clis()["codex"]
    if not cli.installed:
        pytest.skip(f"{cli.executable} is not installed: run tests/agents/install")
    with tmux_server() as tmux, ModelStub() as stub:
        aod = make_aod()
        home = aod.root / "home"
        home.mkdir(exist_ok=True)
        seed_home(cli, home)
        before = (home / "codex-home" / "config.toml").read_bytes()
        text = config(tmux, cli, stub, home).replace('"model": "fake-model"', '"model": "gpt-5.5"')
        assert '"gpt-5.5"' in text
        aod.write_config(text)
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        sid = fleet.ok("spawn", "--task", "Add hello.py")["id"]
        try:
            fleet.wait_state(sid, lambda s: s["state"] == "needs_input", "needs_input", 60)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{report(fleet, sid, stub)}") from None
        screen = fleet.ok("logs", sid, "-n", "40")["text"]
        assert "Try new model" in screen, screen
        assert not [r for r in stub.requests if r[1].endswith("/responses")]  # the prompt was never sent
        assert (home / "codex-home" / "config.toml").read_bytes() == before
        assert not [e for e in fleet.journal(sid) if e.get("kind") == "delivery.done"]
