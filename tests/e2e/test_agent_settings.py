"""The user's own settings of each agent CLI are never touched (issue 13 item 7): every agent
plugin (launched on the scripted agent drawing that CLI's screens) through spawn, work, kill and
cleanup, and afterwards the CLI's settings files and ~/.gitconfig are byte for byte what they
were. What aod needs per session (trust, hooks, the bypass answer) goes on the command line.

The one thing aod writes for a CLI is Claude Code's trust of the worktree (and the approval of
an API key in the session's environment), in Claude's state file `.claude.json` (Claude has no per-session way; it rewrites
that file itself on every start) — checked here too: that and nothing else.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.agents.conftest import Cli, seed_home, settings_files
from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, make_repo
from tests.support.tmux import FAKE_AGENT, tmux_server

STYLES = {"claude-code": "claude", "codex": "codex", "opencode": "opencode", "aider": "aider"}


@pytest.mark.parametrize("agent", list(STYLES))
def test_spawn_work_kill_cleanup_leaves_the_cli_s_settings_alone(
    make_aod: Callable[..., AodProcess], tmp_path: Path, agent: str
) -> None:
    with tmux_server() as tmux:
        aod = make_aod()
        home = aod.root / "home"
        home.mkdir(exist_ok=True)
        (home / ".gitconfig").write_text("[user]\n\tname = Dev\n\temail = dev@example.com\n")
        cli = Cli(agent, Path("/unused"))
        seed_home(cli, home)
        before = {path: path.read_bytes() for path in settings_files(cli, home)}
        state_before = (home / "claude-config" / ".claude.json").read_text() if agent == "claude-code" else None
        records = aod.root / "records"
        records.mkdir()
        argv = [sys.executable, str(FAKE_AGENT), "--style", STYLES[agent], "--record", str(records / "{session}.jsonl")]
        env = {"claude-code": {"CLAUDE_CONFIG_DIR": str(home / "claude-config"), "ANTHROPIC_API_KEY": "sk-ant-fake-0123456789abcdefghij"},
               "codex": {"CODEX_HOME": str(home / "codex-home")}}.get(agent, {})
        aod.write_config(
            f"poll_interval: 200ms\nruntime: {{tmux_socket: {tmux}}}\n"
            f"agents:\n  {agent}: {{command: {json.dumps(argv)}, env: {json.dumps(env)}}}\n"
        )
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        sid = fleet.ok("spawn", "--agent", agent, "--task", "/fake write notes.txt hello\n/fake commit add notes")["id"]
        wait_for(lambda: fleet.received(sid), 30, "the first prompt")
        fleet.ok("send", sid, "and one more message")
        fleet.wait_received(sid, "and one more message")
        fleet.ok("kill", sid)
        assert [i["action"] for i in fleet.ok("cleanup")["items"]] == ["removed"]

        for path, content in before.items():
            assert path.read_bytes() == content, f"{agent}: {path} changed:\n{path.read_text()}"
        if agent == "claude-code":
            state = json.loads((home / "claude-config" / ".claude.json").read_text())
            original = json.loads(state_before or "{}")
            trusted = state.pop("projects")
            assert list(trusted.values()) == [{"hasTrustDialogAccepted": True}]
            assert Path(next(iter(trusted))).name == sid  # the session's worktree
            assert state.pop("customApiKeyResponses") == {"approved": ["0123456789abcdefghij"], "rejected": []}
            assert state == original
