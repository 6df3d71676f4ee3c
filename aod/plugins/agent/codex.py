"""Codex CLI (`codex`): launch flags, screens, rollout reading, folder trust.

Measured on 0.169.0: without `--no-daemon` the TUI starts a shared app-server daemon that
outlives it, so the flag is always passed. Between tool calls the screen looks exactly idle, so
activity comes from the rollout (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-*.jsonl`): the last
`task_started` / `task_complete` event says whether a turn runs. Approval prompts are not in the
rollout; only the screen shows them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aod.plugins.agent import AgentSettings, LaunchCommand, LaunchContext, ScreenReading
from aod.plugins.agent.custom import (
    compose_launch,
    screen_tail,
    transcript_mentions,
    workspace_keys,
)

_MENU_ITEM = re.compile(r"^\s*›\s*\d+\.")
# A rollout line carrying what the user said (a `user` role item, or a `user_message` event).
_USER_ITEM = re.compile(rb'"role"\s*:\s*"user"|"type"\s*:\s*"user_message"')
_WORKING = re.compile(r"^\s*[•◦]\s+Working \(")
_PLACEHOLDER = "Ask Codex to do anything"
_TASK_EVENTS = {"task_started": "active", "task_complete": "idle", "turn_aborted": "idle"}
_CHUNK = 1 << 20
_MAX_HEADER = 4 << 20
"""The first line (session_meta) carries the base instructions: tens of KB, bounded here."""
_SCAN_DAYS = 7
"""Day folders searched for a workspace's rollout when none is known yet."""


@dataclass
class RolloutCursor:
    """How far a rollout has been read: the byte offset after the last complete line, and the
    activity its last turn-boundary event gave (None before any)."""

    offset: int = 0
    activity: str | None = None


def codex_home(home: Path, environ: Mapping[str, str]) -> Path:
    value = environ.get("CODEX_HOME")
    return Path(value) if value else home / ".codex"


def _input_line(tail: list[str]) -> str | None:
    for line in reversed(tail):
        stripped = line.lstrip()
        if stripped.startswith("›") and not _MENU_ITEM.match(stripped):
            return stripped
    return None


class CodexAgent:
    name = "codex"
    executable = "codex"
    reads_its_prompt = True
    speaks_mcp = True  # launch() wires `aoctl mcp` in as the server `aod` (LaunchContext.mcp)
    read_only_mode = "--sandbox read-only"  # settings.read_only (commands run; nothing is written)
    startup_settle = 2.5
    """Seconds its idle composer must hold before the first message: measured on 0.171.0, a
    known model slug draws the composer at ~1.0 s and a "new model available" choice at ~2.0 s,
    which an Enter meant for a message would answer."""
    supports_resume = False
    """The facts at hand cover no measured resume path; restore starts a new conversation."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self.cursors: dict[Path, RolloutCursor] = {}
        """Cache: rollout path → read position and last state."""
        self._session_cwd: dict[Path, str | None] = {}
        """Cache: rollout path → the cwd of its session_meta (None: not a session_meta file)."""
        self._rollout_for: dict[tuple[str, str], Path] = {}
        """Cache: workspace → the newest rollout found for it."""

    # -- launch ------------------------------------------------------------------------------

    def launch(self, settings: AgentSettings, ctx: LaunchContext) -> LaunchCommand:
        flags = ["--no-daemon"]
        if settings.model:
            flags += ["-m", settings.model]
        if settings.read_only:
            flags += ["--sandbox", "read-only"]  # commands run, but write nothing
        elif settings.permissions == "bypass":
            flags.append("--dangerously-bypass-approvals-and-sandbox")
        # Per session with -c, never in the user's config.toml: the workspace is trusted (no
        # "Trust this folder?" screen), and Codex runs `notify` with the event's JSON as one
        # more argument. JSON strings, arrays and {"k"=v} tables written this way are TOML.
        trusted = ",".join(f'{json.dumps(key)}={{trust_level="trusted"}}' for key in workspace_keys(ctx.workspace))
        flags += ["-c", f"projects={{{trusted}}}"]
        if ctx.hook:
            flags += ["-c", "notify=" + json.dumps(list(ctx.hook))]
        if ctx.mcp:
            # The MCP server `aod` (`aoctl mcp`) for this session only; Codex passes a server
            # little of its own environment, so what it needs is given as its `env` table.
            env = ",".join(f"{key}={json.dumps(value)}" for key, value in ctx.mcp_env.items())
            flags += [
                "-c", f"mcp_servers.aod.command={json.dumps(ctx.mcp[0])}",
                "-c", f"mcp_servers.aod.args={json.dumps(list(ctx.mcp[1:]))}",
                "-c", f"mcp_servers.aod.env={{{env}}}",
            ]
        return compose_launch(
            default_head=[self.executable],
            flags=flags,
            settings=settings,
            ctx=ctx,
            default_prompt_mode="paste",
            prompt_separator=True,
        )

    # -- screen ------------------------------------------------------------------------------

    def read_screen(self, screen: str) -> ScreenReading:
        tail = screen_tail(screen)
        text = "\n".join(tail)
        if "Trust this folder?" in text:
            return ScreenReading("blocked", "trust dialog")
        if "Meet GPT-" in text:
            return ScreenReading("blocked", "model upgrade screen")
        if "Press enter to confirm or esc to cancel" in text:
            question = next((ln.strip() for ln in tail if "Would you like to" in ln), "")
            return ScreenReading("waiting_input", question or "approval prompt")
        if "esc to interrupt" in text or any(_WORKING.match(line) for line in tail):
            # Only shown during a turn's first request: absence proves nothing (see read_native).
            return ScreenReading("active")
        line = _input_line(tail)
        if line is not None and (_PLACEHOLDER in line or "? for shortcuts" in text):
            return ScreenReading("idle")
        return ScreenReading("unknown")

    def read_input(self, screen: str) -> str | None:
        tail = screen_tail(screen)
        if any(_MENU_ITEM.match(line.lstrip()) for line in tail):
            return None
        line = _input_line(tail)
        if line is None:
            return None
        rest = line[1:].strip()
        return "" if rest == _PLACEHOLDER else rest

    def read_hook(self, event: str, kind: str, message: str) -> ScreenReading | None:
        """Codex's `notify` program fires on `agent-turn-complete` (the only event it has)."""
        return ScreenReading("idle") if event == "agent-turn-complete" else None

    def saw_message(self, ctx: LaunchContext, needle: str) -> bool | None:
        """Is `needle` in a user message of the workspace's newest rollout (its last MB)?"""
        root = self.home_of(ctx)
        path = self.find_rollout(root / "sessions", ctx.workspace)
        if path is None:
            return None
        return transcript_mentions(path, needle, _USER_ITEM)

    # -- rollout -----------------------------------------------------------------------------

    def read_native(self, ctx: LaunchContext, pid: int | None) -> ScreenReading | None:
        """The last turn boundary in the newest rollout of this workspace: `task_started` →
        active, `task_complete` → idle. None when there is no rollout or no turn yet."""
        root = self.home_of(ctx)
        path = self.find_rollout(root / "sessions", ctx.workspace)
        if path is None:
            return None
        activity = self.read_rollout(path)
        return ScreenReading(activity) if activity else None

    def find_rollout(self, sessions: Path, workspace: Path) -> Path | None:
        """The newest rollout whose session runs in `workspace`. Only day folders from the one of
        the last match on are listed (the newest few when there is none yet); the header of each
        file is read once and remembered."""
        real = os.path.realpath(workspace)
        # Keyed by the sessions folder too: one plugin may serve sessions with different homes.
        key = (str(sessions), real)
        known = self._rollout_for.get(key)
        if known is not None and not known.exists():
            known = None  # removed: look again from scratch
        days = _day_dirs(sessions)
        if known is not None:
            days = [day for day in days if day >= known.parent]
        else:
            days = days[-_SCAN_DAYS:]
        found = self._newest_match(days, real, known)
        if found is not None:
            self._rollout_for[key] = found
        return found

    def _newest_match(self, days: list[Path], cwd: str, known: Path | None) -> Path | None:
        for day in reversed(days):
            try:
                names = [e.name for e in os.scandir(day)]
            except OSError:
                continue
            rollouts = sorted(
                (n for n in names if n.startswith("rollout-") and n.endswith(".jsonl")),
                reverse=True,
            )
            for name in rollouts:
                path = day / name
                if known is not None and (day, name) <= (known.parent, known.name):
                    return known  # nothing newer than the last match
                if self._cwd_of(path) == cwd:
                    return path
        return known

    def _cwd_of(self, path: Path) -> str | None:
        if path in self._session_cwd:
            return self._session_cwd[path]
        try:
            with path.open("rb") as handle:
                first = handle.readline(_MAX_HEADER)
        except OSError:
            return None
        if not first.endswith(b"\n"):
            return None  # header not fully written yet: look again next time
        cwd: str | None = None
        record = _parse(first)
        if record is not None and record.get("type") == "session_meta":
            payload = record.get("payload")
            if isinstance(payload, dict) and isinstance(payload.get("cwd"), str):
                cwd = os.path.realpath(payload["cwd"])
        self._session_cwd[path] = cwd
        return cwd

    def read_rollout(self, path: Path) -> str | None:
        """Read the complete lines added since the last call and return the activity of the last
        turn-boundary event seen so far (None before any). A partial last line is left for the
        next call: the cached offset stops at the last newline."""
        cursor = self.cursors.setdefault(path, RolloutCursor())
        try:
            handle = path.open("rb")
        except OSError:
            return cursor.activity
        with handle:
            try:
                size = os.fstat(handle.fileno()).st_size
            except OSError:
                return cursor.activity
            if size < cursor.offset:  # replaced or truncated: start over
                cursor.offset, cursor.activity = 0, None
            handle.seek(cursor.offset)
            pending = b""
            while True:
                chunk = handle.read(_CHUNK)
                if not chunk:
                    break
                pending += chunk
                end = pending.rfind(b"\n")
                if end < 0:
                    continue
                for line in pending[: end + 1].splitlines():
                    self._apply(cursor, line)
                cursor.offset += end + 1
                pending = pending[end + 1 :]
        return cursor.activity

    @staticmethod
    def _apply(cursor: RolloutCursor, line: bytes) -> None:
        if b"event_msg" not in line:
            return
        record = _parse(line)
        if record is None or record.get("type") != "event_msg":
            return
        payload = record.get("payload")
        if isinstance(payload, dict):
            activity = _TASK_EVENTS.get(str(payload.get("type")))
            if activity is not None:
                cursor.activity = activity

    # -- first run ---------------------------------------------------------------------------

    def home_of(self, ctx: LaunchContext) -> Path:
        """The session's `$CODEX_HOME`: the agent's own env (`agents.codex.env`) over aod's."""
        base = os.environ if self._environ is None else self._environ
        return codex_home(ctx.home, {**base, **ctx.env})

    def prepare(self, ctx: LaunchContext, settings: AgentSettings | None = None) -> None:
        """Nothing to write: the workspace's trust is given per session on the command line."""
        return None


def _day_dirs(sessions: Path) -> list[Path]:
    """`sessions/YYYY/MM/DD` folders, oldest first."""
    found: list[Path] = []
    for year in _numbered(sessions, 4):
        for month in _numbered(year, 2):
            found.extend(_numbered(month, 2))
    return found


def _numbered(folder: Path, width: int) -> list[Path]:
    try:
        names = [e.name for e in os.scandir(folder) if e.is_dir()]
    except OSError:
        return []
    return [folder / n for n in sorted(names) if len(n) == width and n.isdigit()]


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None
