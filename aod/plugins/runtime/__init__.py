"""The runtime slot: where an agent process lives (a tmux pane, or a plain child process).

A runtime answers: which of my sessions are alive (one call for all of them), what is on this
one's screen; and performs: create, paste text, press Enter, kill; and gives each live viewer
(the dashboard's terminal) a command of its own to watch or type through. It decides nothing:
when to retry Enter, what "ready" looks like, what a dead pane means, is the caller's business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from aod.model import RuntimeHandle

Liveness = Literal["alive", "dead", "unknown"]


class RuntimeError_(Exception):
    """A runtime command failed; the message says what and what to do."""


class CommandTooLong(RuntimeError_):
    """The agent's command line is longer than the runtime can pass (tmux: about 16 KB for a
    whole command; the kernel: 128 KB for one argument). Nothing was started: the caller may
    try again with a shorter one (the first prompt pasted instead of passed in argv)."""


@dataclass(frozen=True)
class LaunchSpec:
    name: str
    """Unique name of the runtime session (the aod session id; tmux: the session name)."""
    argv: Sequence[str]
    """The agent's command line. Never joined into a shell string."""
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    """Variables added to the agent's environment (AO_SESSION_ID, AO_PORT_BASE, ...)."""
    log_path: Path | None = None
    """process runtime: where output goes. tmux: ignored (the pane is the log)."""
    width: int = 200
    height: int = 50


@dataclass(frozen=True)
class PaneState:
    """One runtime session as seen by a single `snapshot()`."""

    name: str
    pane_id: str | None
    pid: int | None
    dead: bool
    """The agent process has exited (the pane/process is kept so its output can be read)."""
    exit_status: int | None
    activity_at: float | None
    """Epoch seconds of the last output (tmux `window_activity`), when the runtime knows it."""
    tty: str | None = None
    """The agent's terminal (`/dev/pts/3`), when it has one: what it reads its input from."""


class Snapshot(dict[str, PaneState]):
    """What one probe saw: every session on one server, by name. `server` names the server
    that was probed (tmux: its socket name; "" for a runtime that has only one)."""

    def __init__(self, panes: Mapping[str, PaneState] | None = None, server: str = "") -> None:
        super().__init__(panes or {})
        self.server = server


@dataclass(frozen=True)
class Look:
    """A capture plus what the runtime knows of the cursor."""

    text: str
    """As `capture()` returns it."""
    before_cursor: str | None = None
    """The cursor's row up to the cursor, trailing blanks removed: what a line-mode program
    shows as typed so far. None when the runtime has no cursor to report."""


@dataclass(frozen=True)
class ViewerCommand:
    """How a live viewer (the dashboard's terminal) watches one session: a command the caller
    runs in a terminal of the viewer's own (a PTY), whose screen is what the viewer sees."""

    argv: list[str]
    env: dict[str, str]
    """The command's whole environment (the caller adds only the terminal's TERM)."""
    can_type: bool
    """Whether `set_viewer_control` can switch this viewer to typing into the agent."""
    readonly_reason: str | None = None
    """When it cannot: why, in words for the viewer."""
    ends_with_session: bool = True
    """The command exits by itself when the session ends (tmux: the attach client does). False:
    it would run on (`tail -f`), so the caller watches liveness to end it."""


class Runtime(Protocol):
    kind: str
    echoes_input: bool
    """True: pasted text shows on the agent's screen (a terminal), so delivery can look for it.
    False: input goes into a pipe the screen never shows; a completed write is the evidence."""

    async def create(self, spec: LaunchSpec) -> RuntimeHandle:
        """Start `spec.argv`. Raises RuntimeError_ (or ToolMissing) when it cannot."""
        ...

    def server_of(self, handle: RuntimeHandle) -> str:
        """The server that holds `handle`'s session: tmux, the socket it was started on (which
        may no longer be the configured one); "" for a runtime with a single server. Callers
        probe each distinct server once and judge each session on its own server's answer."""
        ...

    async def snapshot(self, server: str = "") -> dict[str, PaneState] | None:
        """Every session on `server` ("": the one new sessions start on), by name, in ONE probe
        (tmux: one list-panes -a). None when the probe itself failed or timed out: liveness
        is then unknown, not dead."""
        ...

    def liveness(self, handle: RuntimeHandle, snapshot: dict[str, PaneState] | None) -> Liveness:
        """alive / dead / unknown for one session, from a snapshot (no I/O). A snapshot of
        another server than the session's says nothing about it: unknown."""
        ...

    async def capture(self, handle: RuntimeHandle, lines: int = 50) -> str:
        """The last `lines` lines of the session's screen/output, as plain text."""
        ...

    async def capture_many(self, handles: Sequence[RuntimeHandle], lines: int = 50) -> dict[str, str]:
        """`capture()` of several sessions at once, by handle name, in O(1) probes (tmux: one
        client per server for as many panes as fit one command). A session that could not be
        captured is missing from the answer; raises only when the probe itself failed."""
        ...

    async def look(self, handle: RuntimeHandle, lines: int = 50) -> Look:
        """`capture()` and the cursor's row in one probe."""
        ...

    async def paste(self, handle: RuntimeHandle, text: str) -> None:
        """Put `text` in the agent's input, byte-exact, as ONE paste (bracketed where the
        runtime can), without submitting it."""
        ...

    async def press_enter(self, handle: RuntimeHandle) -> None: ...

    async def kill(self, handle: RuntimeHandle) -> None:
        """Stop the agent. Idempotent: killing what is already gone is not an error."""
        ...

    def attach_argv(self, handle: RuntimeHandle) -> list[str] | None:
        """The command a user runs to watch and type into the session (None: cannot attach)."""
        ...

    def viewer_command(self, handle: RuntimeHandle, *, control: bool) -> ViewerCommand:
        """The command one live viewer runs to watch the session (`control` False: nothing it
        types reaches the agent, and its terminal's size changes nothing of the agent's) or to
        type into it (`control` True, where the runtime can). Each viewer runs its own. Raises
        RuntimeError_ when the session cannot be watched."""
        ...

    async def set_viewer_control(self, handle: RuntimeHandle, terminal: str, control: bool) -> None:
        """Switch the running viewer whose terminal is `terminal` (a PTY's name, `/dev/pts/3`)
        between watching and typing, without restarting it. Raises RuntimeError_ when it cannot."""
        ...

    def hold_window_size(self, handle: RuntimeHandle) -> AbstractAsyncContextManager[None]:
        """While open, viewers started read-only never resize the agent's window, even when no
        one else is attached (tmux: a size-setting control client beside them). Open it before
        the viewer starts and close it after the viewer ended. Raises RuntimeError_ (or
        ToolMissing) on entry when it cannot."""
        ...
