"""Claude Code (`claude`): launch flags, screens, the live session file, first-run pre-seeding.

Measured on 2.1.197 (see docs on the agent CLIs): the interactive TUI takes the first prompt as a
positional argument; `~/.claude/sessions/<pid>.json` holds the live status (idle / busy /
waiting) while the TUI runs; transcripts are `~/.claude/projects/<dir>/<sessionId>.jsonl`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aod.plugins.agent import AgentSettings, LaunchCommand, LaunchContext, ScreenReading
from aod.plugins.agent.custom import (
    compose_launch,
    screen_tail,
    transcript_mentions,
    workspace_keys,
    write_atomically,
)

# First-run dialogs an unattended session cannot pass by itself.
_BLOCKED = (
    ("Is this a project you created or one you trust?", "trust dialog"),
    ("Yes, I trust this folder", "trust dialog"),
    ("Unable to connect to Anthropic services", "cannot reach Anthropic"),
    ("Do you want to use this API key?", "API key question"),
    ("Detected a custom API key", "API key question"),
    ("running in Bypass Permissions mode", "bypass permissions warning"),
    ("Choose the text style", "theme picker"),
    ("Let's get started", "first-run setup"),
)
# A menu line of a dialog (`❯ 1. Yes`), as opposed to the input line (`❯ text`).
_MENU_ITEM = re.compile(r"^\s*❯\s*\d+\.")
# The spinner line above the input while a turn runs: a glyph, a word, an ellipsis.
_SPINNER = re.compile(r"^\s*[^\w\s]\s+\w+…")
_IDLE_FOOTERS = (
    "? for shortcuts",
    "bypass permissions on",
    "accept edits on",
    "plan mode on",
    "focus-events",
)
_RULE = re.compile(r"^\s*[─━]+\s*$")
_USER_LINE = re.compile(rb'"type"\s*:\s*"user"')
_NATIVE_STATUS = {"idle": "idle", "busy": "active", "waiting": "waiting_input"}


def _input_line_index(tail: list[str]) -> int | None:
    """Index of the last line that is the input line (starts with `❯` and is not a menu item)."""
    for index in range(len(tail) - 1, -1, -1):
        line = tail[index].lstrip()
        if line.startswith("❯") and not _MENU_ITEM.match(line):
            return index
    return None


def project_dir_name(workspace: Path | str) -> str:
    """Claude Code's folder name for a working directory: every character other than an ASCII
    letter or digit becomes `-` (`/tmp/a/b` → `-tmp-a-b`)."""
    return re.sub(r"[^A-Za-z0-9]", "-", str(workspace))


@dataclass(frozen=True)
class ClaudePaths:
    config_dir: Path
    """`~/.claude`, or `$CLAUDE_CONFIG_DIR`: settings, live sessions, transcripts."""
    state_file: Path
    """`~/.claude.json`, or `$CLAUDE_CONFIG_DIR/.claude.json`: onboarding, trust, key approvals."""


def claude_paths(home: Path, environ: Mapping[str, str]) -> ClaudePaths:
    """Where the Claude Code of an environment keeps its files (`environ`: the agent's own)."""
    custom = environ.get("CLAUDE_CONFIG_DIR")
    if custom:
        folder = Path(custom).expanduser()
        return ClaudePaths(folder, folder / ".claude.json")
    return ClaudePaths(home / ".claude", home / ".claude.json")


def transcript_dir(config_dir: Path, workspace: Path) -> Path:
    """`<config dir>/projects/<cwd with "/" replaced by "-">/`, where the session transcripts go.

    Characters other than letters and digits (a `.` in `~/.local`) are replaced as well; a folder
    named with only `/` replaced is used instead when that is the one that exists."""
    root = config_dir / "projects"
    candidates: list[Path] = []
    for key in workspace_keys(workspace):
        candidates.append(root / project_dir_name(key))
        candidates.append(root / key.replace("/", "-"))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def latest_session_id(config_dir: Path, workspace: Path) -> str | None:
    """The id of the newest transcript for `workspace` (what `--resume` takes), if any."""
    folder = transcript_dir(config_dir, workspace)
    newest: tuple[float, str] | None = None
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return None
    for entry in entries:
        if not entry.name.endswith(".jsonl") or not entry.is_file():
            continue
        try:
            mtime = entry.stat().st_mtime
        except OSError:
            continue
        candidate = (mtime, entry.name[: -len(".jsonl")])
        if newest is None or candidate > newest:
            newest = candidate
    return newest[1] if newest else None


def _load_json_object(path: Path) -> tuple[bool, dict[str, Any] | None]:
    """(exists, object). An existing file that is not a JSON object gives (True, None)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return False, {}
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return True, None
    return True, data if isinstance(data, dict) else None


def _dump(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode()


def mark_trusted(state_file: Path, folder: Path) -> bool:
    """Set `projects[<folder>].hasTrustDialogAccepted = true` in Claude's state file, keeping
    every other key. Does nothing when the file is not a
    JSON object (the dialog will show on screen instead; the user's file is never overwritten).
    Returns whether it wrote."""
    _, data = _load_json_object(state_file)
    if data is None:
        return False
    projects = data.setdefault("projects", {})
    if not isinstance(projects, dict):
        return False
    changed = False
    for key in workspace_keys(folder):
        entry = projects.setdefault(key, {})
        if not isinstance(entry, dict):
            return False
        if entry.get("hasTrustDialogAccepted") is not True:
            entry["hasTrustDialogAccepted"] = True
            changed = True
    if changed:
        write_atomically(state_file, _dump(data))
    return changed


def approve_api_key(state_file: Path, key: str) -> bool:
    """Answer Claude's "Detected a custom API key … use it?" ahead: the key's last 20 characters
    (Claude's own record of an approval) in `customApiKeyResponses.approved` — unless the user
    rejected that key, which stands. Same care as `mark_trusted`. Returns whether it wrote."""
    _, data = _load_json_object(state_file)
    if data is None or not key:
        return False
    responses = data.setdefault("customApiKeyResponses", {})
    if not isinstance(responses, dict):
        return False
    approved, rejected = responses.setdefault("approved", []), responses.setdefault("rejected", [])
    if not isinstance(approved, list) or not isinstance(rejected, list):
        return False
    tail = key[-20:]
    if tail in approved or tail in rejected:
        return False
    approved.append(tail)
    write_atomically(state_file, _dump(data))
    return True


HOOK_EVENTS = ("UserPromptSubmit", "PostToolUse", "Stop", "Notification")
"""Turn start, work going on (after a permission was granted too), turn end, a question."""
HOOK_TIMEOUT = 5


def mcp_config(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """`--mcp-config` JSON for one session: the stdio server `aod` (`aoctl mcp`). Given on the
    command line, it adds to the user's own servers and writes nothing anywhere."""
    server = {"type": "stdio", "command": argv[0], "args": list(argv[1:]), "env": dict(env)}
    return json.dumps({"mcpServers": {"aod": server}}, separators=(",", ":"))


def flag_settings(hook: Sequence[str], *, bypass: bool) -> str | None:
    """`--settings` JSON for one session: hooks that run `hook EVENT` on each of HOOK_EVENTS
    (with the event's JSON on stdin), and in bypass mode the bypass warning answered. Flag
    settings are merged over the user's and the project's (hooks added to theirs), so nothing is
    written to the worktree or to `settings.json`. Claude runs hook commands through a shell:
    every word is quoted, and the words are aod's own (its interpreter's path, fixed
    arguments), never text from a user. None when there is nothing to set."""
    settings: dict[str, Any] = {}
    if hook:
        hooks: dict[str, list[dict[str, Any]]] = {}
        for event in HOOK_EVENTS:
            entry: dict[str, Any] = {
                "hooks": [{"type": "command", "command": shlex.join([*hook, event]), "timeout": HOOK_TIMEOUT}]
            }
            if event == "PostToolUse":
                entry["matcher"] = ""
            hooks[event] = [entry]
        settings["hooks"] = hooks
    if bypass:
        settings["skipDangerousModePermissionPrompt"] = True
    return json.dumps(settings, separators=(",", ":")) if settings else None


class ClaudeCodeAgent:
    name = "claude-code"
    executable = "claude"
    supports_resume = True
    reads_its_prompt = True
    speaks_mcp = True  # launch() wires `aoctl mcp` in as the server `aod` (LaunchContext.mcp)
    # launch() passes LaunchContext.tools as `--allowedTools`, without bypass mode (which would allow every tool).
    takes_tool_allowlist = True
    # settings.read_only: plan mode (reads, never edits), with only aoctl's review and report
    # commands allowed to run (how a reviewer posts its comments).
    read_only_mode = "--permission-mode plan"
    READ_ONLY_TOOLS = ("Bash(aoctl review:*)", "Bash(aoctl report:*)")

    def __init__(self, getuid: Callable[[], int] = os.getuid, environ: Mapping[str, str] | None = None) -> None:
        self._getuid = getuid
        self._environ = environ

    def paths(self, ctx: LaunchContext) -> ClaudePaths:
        """Claude's folders as the session's agent sees them (aod's environment + its own)."""
        base = os.environ if self._environ is None else self._environ
        return claude_paths(ctx.home, {**base, **ctx.env})

    def launch(self, settings: AgentSettings, ctx: LaunchContext) -> LaunchCommand:
        # An allow-list is enforced only outside bypass mode: a tool not on it asks a person.
        bypass = settings.permissions == "bypass" and not ctx.tools
        flags: list[str] = []
        if ctx.mcp:
            # First: `--mcp-config` takes several values, and the flags after it end them.
            flags += ["--mcp-config", mcp_config(ctx.mcp, ctx.mcp_env)]
        if settings.model:
            flags += ["--model", settings.model]
        if settings.read_only:
            bypass = False
            flags += ["--permission-mode", "plan", "--allowedTools", *self.READ_ONLY_TOOLS]
        if bypass:
            flags.append("--dangerously-skip-permissions")
        if ctx.resume:
            flags += ["--resume", ctx.resume]
        if ctx.tools:
            flags += ["--allowedTools", ",".join(ctx.tools)]
        flagged = flag_settings(ctx.hook, bypass=bypass)
        if flagged is not None:
            flags += ["--settings", flagged]
        env = {"DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1"}
        if bypass and self._getuid() == 0:
            # Bypass mode refuses to run as root unless it is told it runs in a sandbox.
            env["IS_SANDBOX"] = "1"
        # `--` keeps a prompt that starts with `-` (or follows a multi-value user option such as
        # `--allowedTools A B`) the positional prompt.
        return compose_launch(
            default_head=[self.executable],
            flags=flags,
            settings=settings,
            ctx=ctx,
            default_prompt_mode="argv",
            env=env,
            prompt_separator=True,
        )

    def read_hook(self, event: str, kind: str, message: str) -> ScreenReading | None:
        """What a hook installed by `flag_settings` reports."""
        if event in ("UserPromptSubmit", "PostToolUse"):
            return ScreenReading("active")
        if event == "Stop":
            return ScreenReading("idle")
        if event == "Notification":
            text = message.lower()
            if kind == "permission_prompt" or "permission" in text:
                return ScreenReading("waiting_input", message or "permission prompt")
            if kind == "idle_prompt" or "waiting for your input" in text:
                return ScreenReading("idle")
        return None

    def saw_message(self, ctx: LaunchContext, needle: str) -> bool | None:
        """Is `needle` in a user message of the workspace's newest transcript (its last MB)?"""
        config_dir = self.paths(ctx).config_dir
        session = latest_session_id(config_dir, ctx.workspace)
        if session is None:
            return None
        path = transcript_dir(config_dir, ctx.workspace) / f"{session}.jsonl"
        return transcript_mentions(path, needle, _USER_LINE)

    def resume_id(self, ctx: LaunchContext) -> str | None:
        """The conversation to resume in the workspace: the newest transcript's session id."""
        return latest_session_id(self.paths(ctx).config_dir, ctx.workspace)

    def read_screen(self, screen: str) -> ScreenReading:
        tail = screen_tail(screen)
        text = "\n".join(tail)
        for marker, detail in _BLOCKED:
            if marker in text:
                return ScreenReading("blocked", detail)
        has_menu_yes = any(re.match(r"^\s*❯\s*1\.\s*Yes", line) for line in tail)
        if ("Do you want to" in text and has_menu_yes) or "Esc to cancel" in text:
            question = next((ln.strip() for ln in tail if "Do you want to" in ln), "")
            return ScreenReading("waiting_input", question or "permission prompt")
        index = _input_line_index(tail)
        footer = tail[index + 1 :] if index is not None else tail[-3:]
        if any("esc to interrupt" in line for line in footer):
            return ScreenReading("active")
        if index is not None:
            above = [line for line in tail[max(0, index - 4) : index] if not _RULE.match(line)]
            if any(_SPINNER.match(line) for line in above[-2:]):
                return ScreenReading("active")
            if any(marker in line for line in footer for marker in _IDLE_FOOTERS):
                # `ready` (no turn yet) looks the same on screen; the caller tells them apart.
                return ScreenReading("idle")
        return ScreenReading("unknown")

    def read_input(self, screen: str) -> str | None:
        """The input box: the `❯` line and the lines under it down to the box's lower rule."""
        tail = screen_tail(screen)
        if any(_MENU_ITEM.match(line) for line in tail):
            return None  # a dialog is up: its `❯ 1. Yes` is not the input line
        index = _input_line_index(tail)
        if index is None:
            return None
        lines = [tail[index].lstrip()[1:].strip()]
        for line in tail[index + 1 :]:
            if _RULE.match(line):
                break
            lines.append(line.strip())
        return "\n".join(lines).strip()

    def read_native(self, ctx: LaunchContext, pid: int | None) -> ScreenReading | None:
        """`<config dir>/sessions/<pid>.json` (exists only while the TUI runs): status idle / busy
        / waiting (+ waitingFor). `pid` must be claude's own process id."""
        if pid is None:
            return None
        path = self.paths(ctx).config_dir / "sessions" / f"{pid}.json"
        try:
            raw = path.read_bytes()
        except OSError:
            return None
        try:
            data = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None  # caught mid-write or foreign: say nothing rather than guess
        if not isinstance(data, dict):
            return None
        activity = _NATIVE_STATUS.get(str(data.get("status")))
        if activity is None:
            return None
        detail = ""
        if activity == "waiting_input":
            waiting_for = data.get("waitingFor")
            detail = waiting_for if isinstance(waiting_for, str) else ""
        return ScreenReading(activity, detail)

    def prepare(self, ctx: LaunchContext, settings: AgentSettings | None = None) -> None:
        """Answer the first-run dialogs an unattended session cannot: trust for the workspace
        and, when the session's environment has an `ANTHROPIC_API_KEY`, that key's approval.
        Both live in Claude's state file (there is no per-session way); every other key of it is
        kept, and an unreadable file is left alone. The bypass warning is answered per session
        by `--settings` (see `flag_settings`).

        The workspace itself, not a parent: 2.1.197 trusts subfolders of a trusted folder, but
        2.1.332 asks again (found by the canary, `python -m tests.agents --latest`)."""
        paths = self.paths(ctx)
        mark_trusted(paths.state_file, ctx.workspace)
        base = os.environ if self._environ is None else self._environ
        key = {**base, **ctx.env}.get("ANTHROPIC_API_KEY")
        if key:
            approve_api_key(paths.state_file, key)
