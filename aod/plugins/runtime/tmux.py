"""The tmux runtime: each agent runs in its own session on aod's dedicated tmux server.

Rules this module keeps (LESSONS.md, "Processes and tmux" and "Talking to agents"):

- Exact targets only. A session's pane is `=NAME:` (`=` turns off tmux's prefix and pattern
  matching, so a dead `ao-1` never resolves to a live `ao-10`), and the pane id (`%12`) once it
  is known.
- One fork per tick for liveness: `snapshot()` is a single `list-panes -a` of one server.
- Each session is addressed on the server it was started on (`RuntimeHandle.socket`), not on
  the configured one: after `runtime.tmux_socket` changes, old sessions live on the old server,
  and a probe of the new one says nothing about them (`liveness()` answers unknown).
- Three answers, never two: a probe that timed out or failed oddly is "unknown", not "dead".
- Text goes in through a named buffer loaded from stdin and a bracketed paste; never through
  argv, `send-keys` or a temp file.
- `remain-on-exit` is on for every agent window, so a dead agent's last screen and exit status
  stay readable until `kill()`.

Needs tmux 3.2 or later (`new-session -e`).

A pane id is unique only for the life of one tmux server: after the server restarted, an old
handle's `%N` may name another agent's pane. `liveness()` reports such a handle dead (its
session's pane id differs), so callers that check liveness before sending never hit a stranger.

tmux quirks handled here:

- tmux reads its own command separator out of argv: any argument ending in `;` ends the tmux
  command (and loses the `;`). Arguments ending in `;` (agent argv, directory, environment
  values) are escaped (`\\;`).
- With a single command argument tmux runs it through `sh -c`; a one-element argv is therefore
  run as `env -- PROGRAM` so no shell ever parses it.
- `-c DIR` is format-expanded by tmux, so `#` in the directory is doubled; and a missing DIR
  makes tmux start elsewhere without a word, so `create()` checks that it exists first.
- A new-session that reaches a server in the middle of exiting (its last session just
  ended) fails with "server exited unexpectedly"; `create()` retries it.
- tmux sometimes misses an agent's SIGCHLD (tmux#311): the pane shows dead (its pty closed)
  but without a status, and the agent lingers as a zombie. `snapshot()` then sends the server a
  SIGCHLD, which makes it reap; the status appears in the next snapshot.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import unicodedata
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Final

import trio

from aod.model import RuntimeHandle
from aod.plugins.runtime import CommandTooLong, LaunchSpec, Liveness, Look, PaneState, RuntimeError_, Snapshot, ViewerCommand
from aod.plugins.runtime import tmux_viewers
from aod.plugins.runtime.tmux_client import NAME_PATTERN, client_env, validate_name
from aod.proc import Result, ToolTimeout, run

CREATE_ATTEMPTS: Final = 6
# tmux refuses a whole command (every argument of a client) over about 16 KB.
CAPTURE_COMMAND_BUDGET: Final = 12_000

_SEP: Final = "\t"
_SNAPSHOT_FORMAT: Final = _SEP.join(
    (
        "#{session_name}",
        "#{pane_id}",
        "#{pane_pid}",
        "#{pane_dead}",
        "#{pane_dead_status}",
        "#{pane_dead_signal}",
        "#{window_activity}",
        "#{pid}",
        "#{pane_tty}",
    )
)
_FIELDS: Final = _SNAPSHOT_FORMAT.count(_SEP) + 1

# Bracketed-paste delimiters inside a message would end the paste early and turn the rest of
# the message into keystrokes; NUL cannot travel through a terminal at all.
_PASTE_UNSAFE: Final = re.compile("\x1b\\[20[01]~|\x00")


def sanitize_paste_text(text: str) -> bytes:
    """The bytes a paste carries for `text`.

    Removed: NUL and the bracketed-paste delimiters (ESC[200~ / ESC[201~), which would let a
    message break out of its paste. Line endings become LF (a terminal sends each as CR inside
    a bracketed paste, and agents read CR there as a line break, so a CR in the message could
    not survive anyway). Everything else, including other control characters, passes as is.
    """
    cleaned = _PASTE_UNSAFE.sub("", text).replace("\r\n", "\n").replace("\r", "\n")
    try:
        return cleaned.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return cleaned.encode("utf-8", "replace")


def _escape_argument(arg: str) -> str:
    # tmux strips a trailing ';' as its command separator; a trailing '\;' becomes a literal ';'.
    return arg[:-1] + "\\;" if arg.endswith(";") else arg


def _command_argv(argv: Sequence[str]) -> list[str]:
    args = [str(a) for a in argv]
    if not args or not args[0]:
        raise RuntimeError_("the agent command line is empty")
    if len(args) == 1:
        if "=" in args[0]:
            raise RuntimeError_(f"refusing program name with '=': {args[0]!r}")
        # One argument would be handed to `sh -c`; two or more are exec'd directly.
        args = ["env", "--", args[0]]
    return [_escape_argument(a) for a in args]


def _is_no_server(result: Result) -> bool:
    err = result.err
    if "no server running" in err or "no sessions" in err:
        return True
    return "error connecting to" in err and (
        "No such file or directory" in err or "Connection refused" in err
    )


def _server_went_away(result: Result) -> bool:
    return "server exited unexpectedly" in result.err or "lost server" in result.err


def _int_or_none(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


class TmuxRuntime:
    """Agents in sessions of the tmux server `tmux -L socket_name`.

    `config_file`: passed as `-f` (the file the server reads when it starts); None uses tmux's
    default (the user's own `~/.tmux.conf`), "/dev/null" a clean server.
    """

    kind = "tmux"
    echoes_input = True

    def __init__(
        self,
        socket_name: str = "ao",
        *,
        tmux: str = "tmux",
        timeout: float = 5.0,
        config_file: str | None = None,
    ) -> None:
        if not socket_name or "/" in socket_name:
            raise ValueError(f"invalid tmux socket name {socket_name!r}")
        self.socket_name = socket_name
        self.tmux = tmux
        self.timeout = timeout
        self.config_file = config_file
        # Separates the parts of `look()`'s output; random, so no screen can forge it.
        self._cut = f"ao-cut-{secrets.token_hex(8)}"

    # -- helpers --------------------------------------------------------------------------

    def _base(self, socket: str | None = None) -> list[str]:
        base = [self.tmux, "-L", socket or self.socket_name]
        if self.config_file is not None:
            base += ["-f", self.config_file]
        return base

    async def _tmux(self, *args: str, stdin: bytes | None = None, socket: str | None = None) -> Result:
        """One tmux client on `socket` (None: the configured server, where sessions start)."""
        return await run([*self._base(socket), *args], timeout=self.timeout, env=client_env(), stdin=stdin)

    def server_of(self, handle: RuntimeHandle) -> str:
        """The socket the session was started on. A record from before aod stored it is taken
        to be on the configured one."""
        return handle.socket or self.socket_name

    @staticmethod
    def _target(handle: RuntimeHandle) -> str:
        if handle.pane_id:
            return handle.pane_id
        return f"={validate_name(handle.name)}:"

    def _fail(self, what: str, result: Result, socket: str | None = None) -> RuntimeError_:
        detail = result.err or result.out.strip() or f"exit status {result.returncode}"
        return RuntimeError_(f"tmux -L {socket or self.socket_name} {what} failed: {detail}")

    # -- Runtime ----------------------------------------------------------------------------

    async def create(self, spec: LaunchSpec) -> RuntimeHandle:
        name = validate_name(spec.name)
        command = _command_argv(spec.argv)
        # tmux silently starts in another directory when -c does not exist: an agent working
        # in the wrong tree is worse than no agent.
        if not await trio.to_thread.run_sync(Path(spec.cwd).is_dir):
            raise RuntimeError_(f"the working directory {spec.cwd} does not exist")
        args = [
            "new-session", "-d",
            "-s", name,
            "-x", str(int(spec.width)),
            "-y", str(int(spec.height)),
            "-c", _escape_argument(str(spec.cwd).replace("#", "##")),
        ]  # fmt: skip
        for key, value in spec.env.items():
            if not key or "=" in key:
                raise RuntimeError_(f"invalid environment variable name {key!r}")
            args += ["-e", _escape_argument(f"{key}={value}")]
        args += ["-P", "-F", "#{pane_id} #{pane_pid}", "--", *command]
        # Same client, same command queue: the option is set before tmux can notice the agent
        # exit, so even an agent that dies at once leaves its pane (and status) behind.
        args += [";", "set-option", "-w", "-t", f"={name}:", "remain-on-exit", "on"]
        for attempt in range(CREATE_ATTEMPTS):
            result = await self._tmux(*args)
            # A server that is shutting down (its last session just ended) accepts our
            # connection and then exits: nothing was created, so try again with a new server.
            # On a loaded machine its exit can take a while: wait a little longer each time.
            if result.ok or not _server_went_away(result):
                break
            await trio.sleep(0.02 * attempt)
        if not result.ok:
            if "command too long" in result.err:
                # tmux packs a command into one message of at most 16 KB; it starts nothing.
                size = sum(len(a.encode("utf-8", "surrogateescape")) + 1 for a in args)
                raise CommandTooLong(f"the agent's command line ({size} bytes) is too long for tmux")
            raise self._fail(f"new-session -s {name}", result)
        first = result.out.strip().splitlines()[0] if result.out.strip() else ""
        pane_id, _, pid_text = first.partition(" ")
        if not pane_id.startswith("%"):
            raise RuntimeError_(f"tmux new-session -s {name} printed no pane id: {result.out!r}")
        return RuntimeHandle(
            kind=self.kind,
            name=name,
            pane_id=pane_id,
            pid=_int_or_none(pid_text),
            socket=self.socket_name,
        )

    async def snapshot(self, server: str = "") -> dict[str, PaneState] | None:
        socket = server or self.socket_name
        try:
            result = await self._tmux("list-panes", "-a", "-F", _SNAPSHOT_FORMAT, socket=socket)
        except ToolTimeout:
            return None
        if not result.ok:
            return Snapshot(server=socket) if _is_no_server(result) else None
        panes = Snapshot(server=socket)
        unreaped: set[int] = set()
        for line in result.out.splitlines():
            fields = line.split(_SEP)
            if len(fields) != _FIELDS:
                continue
            name, pane_id, pid, dead, status, dead_signal, activity, server_pid, tty = fields
            exit_status: int | None = None
            if dead == "1":
                exit_status = _int_or_none(status)
                sig = _int_or_none(dead_signal)
                if exit_status is None and sig is not None:
                    exit_status = -sig  # killed by a signal (subprocess's convention)
                if exit_status is None and server_pid.isdigit():
                    unreaped.add(int(server_pid))
            state = PaneState(
                name=name,
                pane_id=pane_id,
                pid=_int_or_none(pid),
                dead=dead == "1",
                exit_status=exit_status,
                activity_at=float(activity) if activity.isdigit() else None,
                tty=tty or None,
            )
            # Several panes (a user split the window): the agent's pane is the oldest one,
            # i.e. the lowest pane id.
            known = panes.get(name)
            if known is None or _pane_number(pane_id) < _pane_number(known.pane_id):
                panes[name] = state
        for server_pid in unreaped:
            _nudge_reaper(server_pid)
        return panes

    def liveness(self, handle: RuntimeHandle, snapshot: dict[str, PaneState] | None) -> Liveness:
        if snapshot is None:
            return "unknown"
        if isinstance(snapshot, Snapshot) and snapshot.server != self.server_of(handle):
            # A look at another server (the socket was reconfigured since this session started)
            # says nothing about this session: never "dead" without looking where it runs.
            return "unknown"
        state = snapshot.get(handle.name)
        if state is None or state.dead:
            return "dead"
        if handle.pane_id and state.pane_id != handle.pane_id:
            return "dead"  # the agent's pane is gone; the session holds other panes only
        return "alive"

    async def capture(self, handle: RuntimeHandle, lines: int = 50) -> str:
        """The last `lines` lines (screen plus scrollback) as plain text: wrapped lines joined,
        trailing whitespace of each line and trailing blank lines removed."""
        lines = max(1, int(lines))
        target = self._target(handle)
        socket = self.server_of(handle)
        result = await self._tmux("capture-pane", "-p", "-J", "-t", target, "-S", f"-{lines}", socket=socket)
        if not result.ok:
            raise self._fail(f"capture-pane -t {target}", result, socket)
        return _tidy(result.out.split("\n"), lines)

    async def capture_many(self, handles: Sequence[RuntimeHandle], lines: int = 50) -> dict[str, str]:
        """`capture()` of many panes, by session name, from one tmux client per server for as
        many panes as fit one tmux command: each capture is followed by a marker line (random,
        so no screen can forge one) naming which pane it was. A pane that fails (gone since the
        snapshot) ends tmux's command list there; the panes after it are asked again."""
        lines = max(1, int(lines))
        by_server: dict[str, list[RuntimeHandle]] = {}
        for handle in handles:
            by_server.setdefault(self.server_of(handle), []).append(handle)
        screens: dict[str, str] = {}
        for socket, group in by_server.items():
            remaining = group
            while remaining:
                chunk = _fitting(remaining, lambda h: 96 + 2 * len(self._target(h)), CAPTURE_COMMAND_BUDGET)
                got = await self._capture_chunk(socket, chunk, lines)
                screens.update(got)
                failed = next((i for i, h in enumerate(chunk) if h.name not in got), None)
                # A whole chunk answered: go on after it. Else skip the pane that failed (it is
                # left out) and ask again from the one after it.
                rest = chunk[failed + 1 :] if failed is not None else []
                remaining = [h for h in rest if h.name not in got] + remaining[len(chunk) :]
        return screens

    async def _capture_chunk(self, socket: str, chunk: list[RuntimeHandle], lines: int) -> dict[str, str]:
        args: list[str] = []
        for number, handle in enumerate(chunk):
            target = self._target(handle)
            if args:
                args.append(";")
            args += [
                "capture-pane", "-p", "-J", "-t", target, "-S", f"-{lines}", ";",
                "display-message", "-p", "-t", target, f"{self._cut} {number}",
            ]  # fmt: skip
        try:
            result = await self._tmux(*args, socket=socket)
        except ToolTimeout:
            return {}
        screens: dict[str, str] = {}
        start = 0
        parts = result.out.split("\n")
        for index, row in enumerate(parts):
            if not row.startswith(self._cut + " "):
                continue
            number = row[len(self._cut) + 1 :].strip()
            if number.isdigit() and int(number) < len(chunk):
                screens[chunk[int(number)].name] = _tidy(parts[start:index], lines)
            start = index + 1
        return screens

    async def look(self, handle: RuntimeHandle, lines: int = 50) -> Look:
        """The capture, and the cursor's row up to the cursor, from one tmux client: the
        scrollback capture, then the visible rows unjoined (the cursor's `y` counts those), then
        the cursor position."""
        lines = max(1, int(lines))
        target = self._target(handle)
        cut = self._cut
        result = await self._tmux(
            "capture-pane", "-p", "-J", "-t", target, "-S", f"-{lines}", ";",
            "display-message", "-p", "-t", target, cut, ";",
            "capture-pane", "-p", "-t", target, ";",
            "display-message", "-p", "-t", target, f"{cut} #{{cursor_x}} #{{cursor_y}}",
            socket=self.server_of(handle),
        )  # fmt: skip
        if not result.ok:
            raise self._fail(f"capture-pane -t {target}", result, self.server_of(handle))
        parts = result.out.split("\n")
        marks = [i for i, row in enumerate(parts) if row.startswith(cut)]
        if len(marks) != 2:
            raise RuntimeError_(f"tmux -L {self.socket_name}: unexpected capture output for {target}")
        rows = [row.rstrip() for row in parts[: marks[0]]]
        while rows and not rows[-1]:
            rows.pop()
        visible = parts[marks[0] + 1 : marks[1]]
        before = None
        x_text, _, y_text = parts[marks[1]][len(cut) :].strip().partition(" ")
        if x_text.isdigit() and y_text.isdigit() and int(y_text) < len(visible):
            before = _cells_prefix(visible[int(y_text)], int(x_text)).rstrip()
        return Look("\n".join(rows[-lines:]), before)

    async def paste(self, handle: RuntimeHandle, text: str) -> None:
        """One bracketed paste of `text` (see `sanitize_paste_text` for the little it changes)."""
        name = validate_name(handle.name)
        target = self._target(handle)
        buffer = f"ao-{name}"
        data = sanitize_paste_text(text)
        if not data:
            return
        socket = self.server_of(handle)
        loaded = await self._tmux("load-buffer", "-b", buffer, "-", stdin=data, socket=socket)
        if not loaded.ok:
            raise self._fail(f"load-buffer -b {buffer}", loaded, socket)
        pasted = await self._tmux("paste-buffer", "-p", "-d", "-b", buffer, "-t", target, socket=socket)
        if not pasted.ok:
            await self._tmux("delete-buffer", "-b", buffer, socket=socket)
            raise self._fail(f"paste-buffer -t {target}", pasted, socket)

    async def press_enter(self, handle: RuntimeHandle) -> None:
        target = self._target(handle)
        socket = self.server_of(handle)
        result = await self._tmux("send-keys", "-t", target, "Enter", socket=socket)
        if not result.ok:
            raise self._fail(f"send-keys -t {target}", result, socket)

    async def kill(self, handle: RuntimeHandle) -> None:
        name = validate_name(handle.name)
        socket = self.server_of(handle)
        result = await self._tmux("kill-session", "-t", f"={name}", socket=socket)
        gone = _is_no_server(result) or _server_went_away(result)
        # "no current target": the server is exiting with no session left (its last one was
        # just killed); the session is gone either way.
        if result.ok or gone or "can't find session" in result.err or "no current target" in result.err:
            return
        raise self._fail(f"kill-session -t ={name}", result, socket)

    def attach_argv(self, handle: RuntimeHandle) -> list[str] | None:
        name = validate_name(handle.name)
        return [self.tmux, "-L", self.server_of(handle), "attach-session", "-t", f"={name}"]

    # -- live viewers (the dashboard's terminal): aod/plugins/runtime/tmux_viewers.py ----------

    def viewer_command(self, handle: RuntimeHandle, *, control: bool) -> ViewerCommand:
        return tmux_viewers.viewer_command(self, handle, control=control)

    async def set_viewer_control(self, handle: RuntimeHandle, terminal: str, control: bool) -> None:
        await tmux_viewers.set_viewer_control(self, handle, terminal, control)

    def hold_window_size(self, handle: RuntimeHandle) -> AbstractAsyncContextManager[None]:
        return tmux_viewers.hold_window_size(self, handle)


def _nudge_reaper(server_pid: int) -> None:
    """A pane whose pty closed but whose status tmux does not know: tmux missed the child's
    SIGCHLD (tmux#311: a build with libutempter loses it when the child exits while utempter's
    own handler is installed) and the agent stays a zombie. tmux reaps every exited child on
    the next SIGCHLD, so send one; the status shows in the next snapshot."""
    try:
        os.kill(server_pid, signal.SIGCHLD)
    except OSError:
        pass


def _tidy(rows: list[str], lines: int) -> str:
    """A capture as aod reads it: trailing whitespace of each line and trailing blank lines
    removed, the last `lines` lines."""
    kept = [row.rstrip() for row in rows]
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept[-lines:])


def _fitting(items: list[RuntimeHandle], size: Callable[[RuntimeHandle], int], budget: int) -> list[RuntimeHandle]:
    """The longest head of `items` whose sizes fit `budget` (at least one item)."""
    total = 0
    for count, item in enumerate(items):
        total += size(item)
        if count and total > budget:
            return items[:count]
    return items


def _cells_prefix(row: str, cells: int) -> str:
    """The start of `row` that fills `cells` terminal columns (wide characters take two)."""
    used = 0
    for index, char in enumerate(row):
        if used >= cells:
            return row[:index]
        used += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return row


def _pane_number(pane_id: str | None) -> int:
    if pane_id and pane_id.startswith("%") and pane_id[1:].isdigit():
        return int(pane_id[1:])
    return 1 << 62
