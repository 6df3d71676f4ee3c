"""The generic agent: any program named in config, plus the pieces every built-in shares.

A built-in agent is a generic agent that knows its program's flags and screens. The shared
parts live here: composing argv from (head, flags, user args, prompt), merging env, cutting the
tail off a tmux capture, and the small atomic-write helper the agents' `prepare` steps use.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from aod.plugins.agent import AgentSettings, LaunchCommand, LaunchContext, PromptMode, ScreenReading

TAIL_LINES = 15
"""Screens are read from their last non-empty lines: the bottom of a TUI is where the input line,
the footer and any dialog sit, and old conversation text above must not count."""


class AgentConfigError(ValueError):
    """The agent's settings cannot make a command (e.g. `custom` without `command`)."""


# ------------------------------------------------------------------------------------------------
# Shared helpers
# ------------------------------------------------------------------------------------------------


def screen_tail(screen: str, count: int = TAIL_LINES) -> list[str]:
    """The last `count` non-empty lines of a capture, each stripped of trailing blanks (tmux pads
    captured lines with spaces to the pane width)."""
    lines = [line.rstrip() for line in screen.splitlines()]
    return [line for line in lines if line.strip()][-count:]


def compose_launch(
    *,
    default_head: Sequence[str],
    flags: Iterable[str],
    settings: AgentSettings,
    ctx: LaunchContext,
    default_prompt_mode: PromptMode,
    env: Mapping[str, str] | None = None,
    prompt_separator: bool = False,
) -> LaunchCommand:
    """argv = head + built-in flags + the user's args [+ prompt], as a list (never a shell string).

    `settings.command` replaces the head (the executable and any fixed leading words such as a
    subcommand). With `prompt_separator`, `--` goes before the prompt so that a prompt starting
    with `-`, or one following a user option that takes several values, stays the positional
    prompt. The returned env holds only the variables to set on top of the inherited environment.
    """
    head = list(settings.command) if settings.command else list(default_head)
    if not head or not head[0]:
        raise AgentConfigError(f"agent {settings.name!r}: the command is empty")
    argv = [*head, *flags, *settings.args]
    mode: PromptMode = settings.prompt or default_prompt_mode
    if mode == "argv" and ctx.prompt:
        if prompt_separator:
            argv.append("--")
        argv.append(ctx.prompt)
    merged = dict(env or {})
    merged.update(settings.env)
    return LaunchCommand(argv=argv, env=merged, prompt_mode=mode)


def write_atomically(path: Path, data: bytes, *, default_mode: int = 0o600) -> None:
    """Replace `path` with `data` so that a reader sees the old file or the new one, never a torn
    one. The file keeps its permission bits; a symlink is followed (its target is replaced)."""
    target = Path(os.path.realpath(path))
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = default_mode
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def workspace_keys(workspace: Path) -> list[str]:
    """The absolute path of a workspace, and its symlink-free form when that differs: agents key
    per-folder settings by the directory they see, which is the resolved one (getcwd)."""
    given = os.path.abspath(workspace)
    real = os.path.realpath(workspace)
    return [given] if given == real else [real, given]


def transcript_mentions(path: Path, needle: str, line_marker: re.Pattern[bytes], window: int = 1 << 20) -> bool | None:
    """Does a line matching `line_marker` in the last `window` bytes of the JSONL file `path`
    contain `needle` (as JSON writes it)? None when the file cannot be read."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - window))
            data = handle.read()
    except OSError:
        return None
    forms = {json.dumps(needle)[1:-1].encode(), json.dumps(needle, ensure_ascii=False)[1:-1].encode()}
    return any(line_marker.search(line) and any(form in line for form in forms) for line in data.split(b"\n"))


# ------------------------------------------------------------------------------------------------
# The custom agent
# ------------------------------------------------------------------------------------------------

# A prompt line: up to 80 characters of anything (user@host:dir, a mode name), then a prompt
# glyph, then either nothing or a space and what has been typed so far.
_PROMPT_GLYPHS = ">$❯›%"
_PROMPT_LINE = re.compile(r"^(?P<head>.{0,80}?)(?P<glyph>[>$❯›%])(?:\s(?P<rest>.*))?$")


def _prompt_rest(line: str) -> str | None:
    """What follows the prompt glyph on `line`, or None when `line` is not a prompt line."""
    match = _PROMPT_LINE.match(line)
    if match is None:
        return None
    return (match.group("rest") or "").strip()


# Questions a line-mode program asks a person; searched in the bottom lines only (old questions
# scrolled up are answered).
_QUESTION = re.compile(
    r"\((?:y/n|yes/no)\)|\[(?:y/n|yes/no|enter|return)\]|\(y\)es|\byes/no\b|press (?:enter|return|any key)"
    r"|do you want to|would you like to|are you sure|(?:continue|proceed|overwrite)\?\s*$",
    re.IGNORECASE,
)
QUESTION_LINES = 2


def question_at_bottom(tail: list[str]) -> str | None:
    """The question on one of the last lines of `tail`, when the program asks one."""
    for line in tail[-QUESTION_LINES:]:
        if _QUESTION.search(line):
            return line.strip()
    return None


class CustomAgent:
    """Any interactive program: argv is `settings.command` + `settings.args`.

    The screen is read generically: a question on the last lines (`(y/n)`, `[Y/n]`, "Press
    enter", "Do you want to ...") is waiting_input; a last line that ends in a prompt glyph (`>`,
    `$`, `❯`, `›`, `%`) is idle, as a guess that its process state can overrule; anything else
    is unknown. `agents.NAME.screen` patterns in config refine this. There are no native records.
    """

    executable = ""
    supports_resume = False
    reads_its_prompt = False

    def __init__(self, name: str = "custom") -> None:
        self.name = name

    def launch(self, settings: AgentSettings, ctx: LaunchContext) -> LaunchCommand:
        if not settings.command:
            raise AgentConfigError(
                f"agent {self.name!r} runs a command from config: set `command` "
                f"(a list: program and arguments) under agents.{self.name}"
            )
        return compose_launch(
            default_head=(), flags=(), settings=settings, ctx=ctx, default_prompt_mode="paste"
        )

    def read_screen(self, screen: str) -> ScreenReading:
        tail = screen_tail(screen)
        question = question_at_bottom(tail)
        if question is not None:
            return ScreenReading("waiting_input", question)
        if tail and tail[-1][-1] in _PROMPT_GLYPHS:
            return ScreenReading("idle", guess=True)
        return ScreenReading("unknown")

    def read_input(self, screen: str) -> str | None:
        tail = screen_tail(screen, 1)
        return _prompt_rest(tail[-1]) if tail else None

    def read_native(self, ctx: LaunchContext, pid: int | None) -> ScreenReading | None:
        return None

    def prepare(self, ctx: LaunchContext, settings: AgentSettings | None = None) -> None:
        return None
