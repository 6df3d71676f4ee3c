"""The agents' own usage records, read incrementally: Claude Code transcripts, Codex rollouts,
aider chat histories.

`find_source` says which file holds a session's records; `read_new` reads what was appended to
it since the last call and returns one `Usage` per model response, with a cursor the caller
keeps (on disk, msgspec-encoded) and hands back next time. Prices are in `aod.usage.prices`,
usage-limit messages in `aod.usage.limits`. See docs/cost.md for what is counted and how.

Reading rules (all kinds):

- Only complete lines are consumed: `offset` stops after the last newline, so a line being
  written is read whole on a later call.
- Only bytes after `offset` are read; nothing before it is read again while the file is the same.
- A malformed line is skipped; nothing here raises for bad input or a missing file.
- The file starts over when it was replaced (its inode changed) or truncated (it is shorter than
  `offset`): reading restarts at byte 0 **keeping** the dedupe keys and running totals. A record
  whose key is among the recent keys (`seen`) is not counted again, and a running total (Codex
  `token_count`) only counts what it grew past the highest total already counted. So a file
  rewritten with the same records counts nothing twice; the price is that a file truly restarted
  with smaller running totals counts nothing until it passes the old total (undercounting is
  preferred to double counting).
- A cursor for another path (the session moved to a new file) starts that file at 0 with fresh
  running totals; the dedupe keys are kept (they are unique ids).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import msgspec

if TYPE_CHECKING:
    from aod.plugins.agent.codex import CodexAgent

__all__ = [
    "SEEN_MAX",
    "Usage",
    "UsageCursor",
    "UsageKind",
    "find_source",
    "read_new",
]

UsageKind = Literal["claude", "codex", "aider"]

SEEN_MAX = 500
"""Dedupe keys kept in a cursor (the newest)."""
_CHUNK = 1 << 20


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """The tokens of one model response (or of one growth of a running total)."""

    model: str
    """As the agent reports it ("claude-sonnet-4-5-20250929", "gpt-5-codex", ...); "" if unknown."""
    input_tokens: int = 0
    """Not including cache reads or writes."""
    output_tokens: int = 0
    """Including reasoning tokens where the agent reports them inside output (OpenAI models)."""
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    """Informational: for OpenAI models these are already inside `output_tokens`."""
    reported_cost_usd: float | None = None
    """When the agent itself reports a cost (aider); used as is by `prices.cost_usd`."""
    key: str = ""
    """Dedupe id: Claude message.id (or requestId), Codex response_id, aider session + ordinal."""
    cache_write_1h_tokens: int = 0
    """Of `cache_write_tokens`, those written to Anthropic's 1-hour cache (priced higher than the
    default 5-minute writes). An addition to the agreed fields; 0 where not reported."""


class UsageCursor(msgspec.Struct, kw_only=True):
    """How far one source has been read. Persisted per session by the caller."""

    path: str = ""
    inode: int = 0
    offset: int = 0
    """Bytes consumed (complete lines only)."""
    seen: list[str] = []
    """Recent dedupe keys, newest last (at most `SEEN_MAX`)."""
    last_total: dict[str, int] = {}
    """Running totals already counted (Codex `token_count`), and small counters."""
    context: dict[str, str] = {}
    """What the source said earlier that later lines need: the model in effect (Codex
    `turn_context`, aider's `Model:` line) and aider's session header. An addition to the agreed
    fields: a resumed read must know the model announced before its offset."""


class _Batch:
    """One `read_new` call's working state, handed to a kind's line reader."""

    def __init__(self, cursor: UsageCursor) -> None:
        self.cursor = cursor
        self._seen = set(cursor.seen)
        self.out: list[Usage] = []

    def is_seen(self, key: str) -> bool:
        return bool(key) and key in self._seen

    def mark(self, key: str) -> None:
        if key and key not in self._seen:
            self._seen.add(key)
            self.cursor.seen.append(key)

    def emit(self, usage: Usage) -> None:
        """Count `usage` unless it is empty or its key was counted before."""
        if self.is_seen(usage.key):
            return
        self.mark(usage.key)
        if _is_empty(usage):
            return
        self.out.append(usage)

    def finish(self) -> None:
        if len(self.cursor.seen) > SEEN_MAX:
            del self.cursor.seen[: len(self.cursor.seen) - SEEN_MAX]


class LineReader:
    """What each kind implements: `feed` every complete line (without its newline), then
    `close` once at the end of the call."""

    def __init__(self, batch: _Batch) -> None:
        self.batch = batch

    def feed(self, line: bytes) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:
        return None


def _is_empty(usage: Usage) -> bool:
    return usage.reported_cost_usd is None and not (
        usage.input_tokens
        or usage.output_tokens
        or usage.cache_read_tokens
        or usage.cache_write_tokens
        or usage.reasoning_tokens
    )


def count(value: object) -> int:
    """A token count from JSON: a non-negative int (floats truncated), 0 for anything else."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        return max(int(value), 0)
    return 0


def _copy(cursor: UsageCursor) -> UsageCursor:
    return UsageCursor(
        path=cursor.path,
        inode=cursor.inode,
        offset=max(cursor.offset, 0),
        seen=list(cursor.seen),
        last_total=dict(cursor.last_total),
        context=dict(cursor.context),
    )


def _reader_for(kind: str) -> Callable[[_Batch], LineReader] | None:
    if kind == "claude":
        from aod.usage.claude import ClaudeReader

        return ClaudeReader
    if kind == "codex":
        from aod.usage.codex import CodexReader

        return CodexReader
    if kind == "aider":
        from aod.usage.aider import AiderReader

        return AiderReader
    return None


def read_new(
    kind: UsageKind, path: Path, cursor: UsageCursor | None
) -> tuple[list[Usage], UsageCursor]:
    """The usage recorded in `path` since `cursor`, and the cursor to pass next time.

    See the module docstring for the rules (partial lines, replaced or truncated files, dedupe).
    A missing or unreadable file gives `([], cursor)` (a fresh cursor when none was given); the
    given cursor is never modified."""
    factory = _reader_for(kind)
    given = cursor if cursor is not None else UsageCursor(path=str(path))
    if factory is None:
        return [], given
    try:
        handle = open(path, "rb")  # closed by the with below
    except OSError:
        return [], given
    with handle:
        try:
            stat = os.fstat(handle.fileno())
        except OSError:
            return [], given
        work = _copy(given)
        if work.path and work.path != str(path):
            # Another file: its own offsets and totals. Keys are ids, kept.
            work.offset, work.inode, work.last_total, work.context = 0, 0, {}, {}
        work.path = str(path)
        replaced = bool(work.inode) and bool(stat.st_ino) and work.inode != stat.st_ino
        if replaced or stat.st_size < work.offset:
            work.offset = 0  # seen and last_total stay: see "starts over" above
        work.inode = stat.st_ino
        batch = _Batch(work)
        reader = factory(batch)
        try:
            handle.seek(work.offset)
            pending = b""
            while True:
                chunk = handle.read(_CHUNK)
                if not chunk:
                    break
                pending += chunk
                end = pending.rfind(b"\n")
                if end < 0:
                    continue
                for line in pending[:end].split(b"\n"):
                    if line.strip():
                        reader.feed(line.rstrip(b"\r"))
                work.offset += end + 1
                pending = pending[end + 1 :]
        except OSError:
            pass  # keep what was read whole; the rest comes next call
        reader.close()
        batch.finish()
        return batch.out, work


# -- where the records are ---------------------------------------------------------------------

_codex_finders: dict[Path, CodexAgent] = {}
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def find_source(
    kind: UsageKind,
    *,
    home: Path,
    workspace: Path,
    agent_session: str | None,
    environ: Mapping[str, str],
) -> Path | None:
    """The file holding the usage records of the agent session in `workspace`, if any.

    - claude: `~/.claude/projects/<folder of workspace>/<agent_session>.jsonl` (`$CLAUDE_CONFIG_DIR/projects/...`) when the session
      id is known (None while that file does not exist), else the newest transcript there.
    - codex: with a known thread id the rollout named after it, else the newest rollout whose
      `session_meta.cwd` is the workspace (`$CODEX_HOME`, default `~/.codex`, `/sessions/...`).
    - aider: `$AIDER_CHAT_HISTORY_FILE` (relative to the workspace) or
      `<workspace>/.aider.chat.history.md`.
    """
    session = agent_session if agent_session and _SAFE_ID.match(agent_session) else None
    if agent_session and session is None:
        return None  # not an id: never a path of its own
    if kind == "claude":
        from aod.plugins.agent.claude_code import claude_paths, latest_session_id, transcript_dir

        config_dir = claude_paths(home, environ).config_dir
        folder = transcript_dir(config_dir, workspace)
        sid = session or latest_session_id(config_dir, workspace)
        if sid is None:
            return None
        path = folder / f"{sid}.jsonl"
        return path if path.is_file() else None
    if kind == "codex":
        return _codex_source(home, workspace, session, environ)
    if kind == "aider":
        configured = environ.get("AIDER_CHAT_HISTORY_FILE")
        path = Path(configured) if configured else Path(".aider.chat.history.md")
        if not path.is_absolute():
            path = workspace / path
        return path if path.is_file() else None
    return None


def _codex_source(
    home: Path, workspace: Path, session: str | None, environ: Mapping[str, str]
) -> Path | None:
    from aod.plugins.agent.codex import CodexAgent, codex_home

    sessions = codex_home(home, environ) / "sessions"
    if session is not None:
        named = sorted(sessions.glob(f"[0-9]*/[0-9]*/[0-9]*/rollout-*-{session}.jsonl"))
        if named:
            return named[-1]
    # Its caches (the cwd of each rollout header, the last match per workspace) make repeated
    # look-ups cheap. The last-match cache is keyed by workspace alone, so one finder per
    # sessions folder: a finder shared between two Codex homes would answer from the wrong one.
    finder = _codex_finders.get(sessions)
    if finder is None:
        finder = _codex_finders[sessions] = CodexAgent(environ={})
    return finder.find_rollout(sessions, workspace)
