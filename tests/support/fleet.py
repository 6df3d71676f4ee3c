"""A fleet for end-to-end tests: one aod process with a private tmux server, a git repo
registered as project `demo`, the scripted agent as its agent, and helpers to drive them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.aod_process import AodProcess, wait_for
from tests.support.tmux import FAKE_AGENT


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "dev@example.com")
    git(path, "config", "user.name", "Dev")
    (path / "README.md").write_text("demo\n")
    (path / ".gitignore").write_text(".env\n")
    (path / ".env").write_text("SECRET=1\n")
    (path / ".worktreeinclude").write_text(".env\n")
    git(path, "add", "README.md", ".gitignore", ".worktreeinclude")
    git(path, "commit", "-q", "-m", "first")
    return path


class Fleet:
    """One aod with a private tmux server, a repo registered as project `demo`, helpers."""

    def __init__(self, aod: AodProcess, tmux: str, repo: Path) -> None:
        self.aod = aod
        self.tmux = tmux
        self.repo = repo
        self.records = aod.root / "records"
        self.records.mkdir(exist_ok=True)

    def ok(self, *args: str, input: bytes | None = None) -> Any:
        result = self.aod.aoctl("--json", *args, input=input, timeout=60)
        assert result.returncode == 0, f"aoctl {args[0]} failed ({result.returncode}):\n{result.stderr}\n{self.aod.log()[-3000:]}"
        return json.loads(result.stdout) if result.stdout.strip() else None

    def fails(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = self.aod.aoctl(*args, timeout=60)
        assert result.returncode != 0, result.stdout
        assert "Traceback" not in result.stderr, result.stderr
        return result

    def session(self, session_id: str) -> dict[str, Any]:
        return self.aod.result("session.get", {"id": session_id})

    def wait_state(self, session_id: str, predicate: Callable[[dict[str, Any]], bool], what: str, timeout: float = 20) -> dict[str, Any]:
        return wait_for(lambda: (s := self.session(session_id)) and predicate(s) and s, timeout, what)

    def journal(self, session_id: str) -> list[dict[str, Any]]:
        """The session's journal entries; a line a SIGKILL tore is skipped, as aod's readers do."""
        path = self.aod.state_dir / "sessions" / session_id / "journal.jsonl"
        entries = []
        for line in (path.read_text(errors="replace").splitlines() if path.exists() else []):
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass
        return entries

    def received(self, session_id: str) -> list[str]:
        path = self.records / f"{session_id}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line)["message"] for line in path.read_text().splitlines() if line.strip()]

    def wait_received(self, session_id: str, message: str, timeout: float = 30) -> None:
        wait_for(lambda: message in self.received(session_id), timeout, f"{session_id} to receive {message[:40]!r}")

    def tmux_sessions(self) -> list[str]:
        result = subprocess.run(
            ["tmux", "-L", self.tmux, "list-sessions", "-F", "#{session_name}"],
            capture_output=True, text=True,
        )
        return result.stdout.split() if result.returncode == 0 else []


def config_text(tmux: str, records: Path, extra: str = "", ready_timeout: str = "20s") -> str:
    record = ["--record", str(records / "{session}.jsonl")]
    # `fake` is a custom agent (generic prompt-glyph screen reading); `claude-code` is the
    # built-in plugin, launched on the scripted agent drawing Claude Code's screens.
    agent = [sys.executable, str(FAKE_AGENT), "--style", "plain", *record]
    claude = [sys.executable, str(FAKE_AGENT), "--style", "claude", *record]
    return (
        "poll_interval: 200ms\n"
        f"runtime: {{tmux_socket: {tmux}}}\n"
        "defaults: {agent: fake}\n"
        "agents:\n"
        f"  fake: {{command: {json.dumps(agent)}, prompt: paste, ready_timeout: {ready_timeout}}}\n"
        f"  claude-code: {{command: {json.dumps(claude)}, ready_timeout: {ready_timeout}}}\n"
        f"  broken: {{command: [/nonexistent/agent-cli]}}\n"
        + extra
    )


def start_fleet(make_aod: Callable[..., AodProcess], tmp_path: Path, tmux: str, extra: str = "", **kw: object) -> Fleet:
    """aod running with the scripted agents of `config_text` (and `extra`), with the project `demo` added."""
    aod = make_aod(**kw)
    records = aod.root / "records"
    records.mkdir()
    aod.write_config(config_text(tmux, records, extra))
    aod.start()
    fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
    fleet.ok("project", "add", str(fleet.repo))
    return fleet
