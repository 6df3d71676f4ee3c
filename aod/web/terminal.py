"""A session's live terminal for one dashboard viewer: `serve_terminal`, behind the `/term/<id>`
WebSocket (aod/web/app.py adapts the WebSocket to a `TerminalChannel`).

Each viewer gets a terminal of its own: the runtime's viewer command (tmux: an attach client of
the agent's session, read-only and ignoring size until the viewer takes control, see
aod/plugins/runtime/tmux_viewers.py; process: `tail -f` of the agent's log) running in a PTY
(aod/web/pty.py). The PTY's output goes to the viewer; its keys go into the PTY only while it
has control; its size is the PTY's. Ending the viewer ends only its own client: the agent, its
tmux session and the other viewers never notice.

The frames (docs/dashboard.md, "Live terminal"):

    viewer -> aod   binary  keys, dropped here unless the viewer has control
                    text    {"type": "resize", "cols": N, "rows": M}
                            {"type": "control", "on": true | false}
    aod -> viewer   binary  the terminal's output
                    text    {"type": "mode", "control": bool, "readonly_reason": str | null}
                            {"type": "exit", "reason": str}      the session ended; then return
                            {"type": "error", "message": str}    nothing to show; then return

Nothing a viewer sends makes `serve_terminal` raise: a message that is too big, not JSON, of an
unknown type or with absurd values is logged and ignored. Only cancellation (aod stopping)
leaves it by an exception, after its client has been ended.

Needs from `app` only `app.sessions.session(id)` and `app.sessions.runtime_for(kind)`
(`TerminalHost`; `aod.app.App` is one).

May import: model, errors, proc, plugins/runtime (values and errors), web.pty.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Final, Protocol

import msgspec
import structlog
import trio

from aod.errors import RpcFailure, first_line
from aod.model import RuntimeHandle, Session
from aod.plugins.runtime import Runtime, RuntimeError_, ViewerCommand
from aod.proc import ToolMissing, ToolTimeout
from aod.web.pty import READ_SIZE, PtyProcess, open_pty_process

log = structlog.get_logger()

COALESCE_SECONDS: Final = 0.008
"""How long output is gathered into one frame after its first byte: a redraw arrives in many
small writes, and a frame each would cost the browser more than 8 ms of latency costs the eye."""
MAX_FRAME_BYTES: Final = READ_SIZE
MAX_TEXT_CHARS: Final = 4096
"""A control message is a few dozen characters; anything longer is not one."""
MAX_KEYS_BYTES: Final = 1 << 20
"""Keys of one frame (a paste in the browser is one frame); more is dropped, not split."""
COLS: Final = (2, 1000)
ROWS: Final = (2, 500)
DEFAULT_SIZE: Final = (80, 24)
LIVENESS_SECONDS: Final = 2.0
"""How often a viewer whose command never ends by itself (`tail -f`) looks whether the agent still
runs: only for such viewers, one runtime probe each time."""

LAST_LOOKS: Final = 4

_viewer_ids = itertools.count(1)


class TerminalChannel(Protocol):
    async def receive(self) -> bytes | str | None:
        """The viewer's next frame; None: the viewer went away."""
        ...

    async def send_bytes(self, data: bytes) -> None: ...

    async def send_text(self, text: str) -> None: ...


class SessionLookup(Protocol):
    async def session(self, session_id: str) -> Session:
        """The session's record; raises RpcFailure (not found) with a message for the viewer."""
        ...

    def runtime_for(self, kind: str) -> Runtime: ...


class TerminalHost(Protocol):
    """What `serve_terminal` needs of the daemon: `aod.app.App`, or a test's stand-in."""

    @property
    def sessions(self) -> SessionLookup: ...


# -- the frames --------------------------------------------------------------------------------


class Mode(msgspec.Struct, tag_field="type", tag="mode"):
    control: bool
    readonly_reason: str | None


class Exit(msgspec.Struct, tag_field="type", tag="exit"):
    reason: str


class Error(msgspec.Struct, tag_field="type", tag="error"):
    message: str


class Resize(msgspec.Struct, tag_field="type", tag="resize"):
    cols: int
    rows: int


class Control(msgspec.Struct, tag_field="type", tag="control"):
    on: bool


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Resize | Control)


async def forward_output(term: PtyProcess, send: Callable[[bytes], Awaitable[None]]) -> None:
    """The terminal's output to `send` until the terminal ends, small reads gathered for up to
    COALESCE_SECONDS into one frame (at most MAX_FRAME_BYTES). A slow viewer slows only this
    loop and its own tmux client: tmux never lets one client's terminal hold up a pane."""
    while True:
        chunk = await term.read()
        if not chunk:
            return
        frame = bytearray(chunk)
        ended = False
        with trio.move_on_after(COALESCE_SECONDS):
            while len(frame) < MAX_FRAME_BYTES:
                more = await term.read(MAX_FRAME_BYTES - len(frame))
                if not more:
                    ended = True
                    break
                frame += more
        await send(bytes(frame))
        if ended:
            return


class _Gone(Exception):
    """The viewer's channel failed or closed: nobody is left to tell anything."""


# -- the bridge --------------------------------------------------------------------------------


async def serve_terminal(
    app: TerminalHost, session_id: str, channel: TerminalChannel, *, control: bool = False
) -> None:
    """Bridge one viewer to the session's screen until the viewer goes away or the session ends.
    Raises nothing for a viewer's mistakes (unknown session -> an `error` text frame, then return)."""
    viewer = _Viewer(app.sessions, str(session_id), channel, log.bind(session=str(session_id), viewer=next(_viewer_ids)))
    try:
        await viewer.run(control)
    except _Gone:
        viewer.log.debug("terminal viewer went away")
    except Exception as exc:  # noqa: BLE001 - a bug or an OS failure: this viewer is told, aod goes on
        viewer.log.exception("terminal bridge failed")
        await viewer.send_last(Error(message=f"the terminal failed: {first_line(exc)} (aod's log has the details)"))


class _Viewer:
    def __init__(self, sessions: SessionLookup, session_id: str, channel: TerminalChannel, log: structlog.typing.FilteringBoundLogger) -> None:
        self.sessions = sessions
        self.session_id = session_id
        self.channel = channel
        self.log = log
        self.control = False
        self.end: str | None = None
        """Why the bridge stopped: viewer, client (the PTY's program exited), session, failed."""
        self.failure: BaseException | None = None
        self.dropped_keys = 0

    # -- the channel: any failure of it means the viewer is gone --------------------------------

    async def _receive(self) -> bytes | str | None:
        try:
            return await self.channel.receive()
        except Exception as exc:  # noqa: BLE001 - the transport's own errors, whatever they are
            raise _Gone from exc

    async def _send(self, frame: Mode | Exit | Error) -> None:
        try:
            await self.channel.send_text(_encoder.encode(frame).decode())
        except Exception as exc:  # noqa: BLE001
            raise _Gone from exc

    async def _send_bytes(self, data: bytes) -> None:
        try:
            await self.channel.send_bytes(data)
        except Exception as exc:  # noqa: BLE001
            raise _Gone from exc

    async def send_last(self, frame: Exit | Error) -> None:
        """The last word, if anyone still listens."""
        try:
            await self._send(frame)
        except _Gone:
            pass

    # -- one viewer, start to end ---------------------------------------------------------------

    async def run(self, control: bool) -> None:
        found = await self._find()
        if found is None:
            return
        runtime, handle = found
        try:
            command = runtime.viewer_command(handle, control=control)
        except RuntimeError_ as exc:
            await self.send_last(Error(message=f"session {self.session_id} cannot be watched: {first_line(exc)}"))
            return
        async with AsyncExitStack() as stack:
            try:
                # Held before the viewer's client starts and let go after it ended, so that no
                # moment exists in which a read-only viewer sizes the agent's window.
                await stack.enter_async_context(runtime.hold_window_size(handle))
                term = await stack.enter_async_context(open_pty_process(command.argv, command.env, cols=DEFAULT_SIZE[0], rows=DEFAULT_SIZE[1]))
            except ToolMissing as exc:
                await self.send_last(Error(message=f"{exc.program} is not installed or not on PATH: install it to watch session {self.session_id}"))
                return
            except (RuntimeError_, ToolTimeout, OSError) as exc:
                await self.send_last(Error(message=f"cannot open session {self.session_id}'s terminal: {first_line(exc)}"))
                return
            self.control = control and command.can_type
            self.log.info("terminal viewer attached", pid=term.pid, terminal=term.terminal, control=self.control)
            await self._send(Mode(control=self.control, readonly_reason=command.readonly_reason))
            await self._bridge(term, runtime, handle, command)
        # The client is ended and reaped here; the session is as it was.
        self.log.info("terminal viewer ended", end=self.end, dropped_keys=self.dropped_keys)
        await self._last_word(runtime, handle, command)

    async def _find(self) -> tuple[Runtime, RuntimeHandle] | None:
        """The session's runtime and handle, when its agent runs; else the viewer is told why."""
        try:
            session = await self.sessions.session(self.session_id)
        except RpcFailure as exc:
            await self.send_last(Error(message=exc.message))
            return None
        handle = session.runtime
        if handle is None:
            await self.send_last(Error(message=f"session {session.id} has no terminal: no agent runs for it ({session.state}: {session.reason})"))
            return None
        try:
            runtime = self.sessions.runtime_for(handle.kind)
            snapshot = await runtime.snapshot(runtime.server_of(handle))
        except RpcFailure as exc:
            await self.send_last(Error(message=exc.message))
            return None
        except ToolMissing as exc:
            await self.send_last(Error(message=f"{exc.program} is not installed or not on PATH: install it to watch session {session.id}"))
            return None
        liveness = runtime.liveness(handle, snapshot)
        if liveness == "dead":
            await self.send_last(Error(message=f"session {session.id} is not running: its agent has ended ({session.state})"))
            return None
        if liveness == "unknown":
            await self.send_last(Error(message=f"cannot tell whether session {session.id} is running (the {handle.kind} runtime did not answer); try again"))
            return None
        return runtime, handle

    async def _bridge(self, term: PtyProcess, runtime: Runtime, handle: RuntimeHandle, command: ViewerCommand) -> None:
        """Output, input and (for a command that outlives the agent) liveness, side by side; the
        first to end ends the others, and says why (`self.end`)."""
        async with trio.open_nursery() as nursery:

            async def guarded(job: str, work: Callable[[], Awaitable[str | None]]) -> None:
                try:
                    reason = await work()
                except _Gone:
                    reason = "viewer"
                except Exception as exc:  # noqa: BLE001 - reported to the viewer after the client ended
                    self.log.exception("terminal bridge failed", job=job)
                    self.failure, reason = exc, "failed"
                if reason is None:
                    return  # the job asked the client to end; the output's end finishes the bridge
                if self.end is None:
                    self.end = reason
                nursery.cancel_scope.cancel()

            nursery.start_soon(guarded, "output", lambda: self._output(term))
            nursery.start_soon(guarded, "input", lambda: self._input(term, runtime, handle, command))
            if not command.ends_with_session:
                nursery.start_soon(guarded, "watch", lambda: self._watch(term, runtime, handle))

    async def _last_word(self, runtime: Runtime, handle: RuntimeHandle, command: ViewerCommand) -> None:
        if self.end == "viewer":
            return
        if self.end == "failed":
            detail = first_line(self.failure) if self.failure is not None else "unknown error"
            await self.send_last(Error(message=f"the terminal failed: {detail} (aod's log has the details)"))
            return
        if self.end == "session":
            await self.send_last(Exit(reason="the agent's process has ended"))
            return
        # The client exited by itself: the session ended, or someone detached the client. A
        # probe that cannot tell is asked again a few times: when the last session ends, the
        # tmux server is exiting too, and a probe in that moment fails instead of finding none.
        snapshot = None
        for attempt in range(LAST_LOOKS):
            try:
                snapshot = await runtime.snapshot(runtime.server_of(handle))
            except (ToolMissing, ToolTimeout, RuntimeError_, OSError):
                snapshot = None
            if snapshot is not None:
                break
            await trio.sleep(0.05 * (attempt + 1))
        if not command.ends_with_session:
            dead = runtime.liveness(handle, snapshot) == "dead"
            reason = "the agent's process has ended" if dead else "the log viewer stopped"
        elif snapshot is None:
            reason = "the terminal's client exited"
        elif handle.name not in snapshot:
            reason = "the session ended"
        else:
            reason = "the terminal was detached from the session (the session still runs)"
        await self.send_last(Exit(reason=reason))

    # -- the three jobs -------------------------------------------------------------------------

    async def _output(self, term: PtyProcess) -> str:
        await forward_output(term, self._send_bytes)
        return "client"

    async def _input(self, term: PtyProcess, runtime: Runtime, handle: RuntimeHandle, command: ViewerCommand) -> str:
        while True:
            message = await self._receive()
            if message is None:
                return "viewer"
            if isinstance(message, str):
                await self._on_text(message, term, runtime, handle, command)
            elif isinstance(message, (bytes, bytearray, memoryview)):
                await self._on_keys(bytes(message), term)
            else:
                self.log.info("ignored a terminal frame of an unknown kind", kind=type(message).__name__)

    async def _watch(self, term: PtyProcess, runtime: Runtime, handle: RuntimeHandle) -> None:
        """For a viewer command that would outlive the agent: end it once the agent is gone."""
        while True:
            await trio.sleep(LIVENESS_SECONDS)
            try:
                snapshot = await runtime.snapshot(runtime.server_of(handle))
            except (ToolMissing, ToolTimeout, RuntimeError_, OSError):
                continue  # unknown is not dead
            if runtime.liveness(handle, snapshot) == "dead":
                if self.end is None:
                    self.end = "session"
                # Its last output still reaches the viewer: the output job ends at the PTY's end.
                term.terminate()
                return

    # -- what the viewer sends ------------------------------------------------------------------

    async def _on_keys(self, data: bytes, term: PtyProcess) -> None:
        if not self.control:
            # Dropped here, not only by the page: a read-only tmux client still obeys keys bound
            # to switch-client, and a page can be made to send anything.
            if not self.dropped_keys:
                self.log.debug("keys from a read-only viewer dropped")
            self.dropped_keys += len(data)
            return
        if len(data) > MAX_KEYS_BYTES:
            self.log.warning("terminal keys dropped: frame too big", size=len(data), limit=MAX_KEYS_BYTES)
            return
        await term.write(data)

    async def _on_text(self, text: str, term: PtyProcess, runtime: Runtime, handle: RuntimeHandle, command: ViewerCommand) -> None:
        if len(text) > MAX_TEXT_CHARS:
            self.log.info("ignored a terminal control message: too long", size=len(text))
            return
        try:
            message = _decoder.decode(text.encode("utf-8"))
        except (msgspec.DecodeError, UnicodeEncodeError) as exc:  # ValidationError included; a lone surrogate
            self.log.info("ignored a terminal control message", error=first_line(exc))
            return
        if isinstance(message, Resize):
            cols = min(max(message.cols, COLS[0]), COLS[1])
            rows = min(max(message.rows, ROWS[0]), ROWS[1])
            term.resize(cols, rows)
        else:
            await self._set_control(message.on, term, runtime, handle, command)

    async def _set_control(self, on: bool, term: PtyProcess, runtime: Runtime, handle: RuntimeHandle, command: ViewerCommand) -> None:
        if not on:
            self.control = False  # keys are dropped from now on, whatever tmux answers
            if command.can_type:
                try:
                    await runtime.set_viewer_control(handle, term.terminal, False)
                except (RuntimeError_, ToolMissing, ToolTimeout) as exc:
                    self.log.warning("could not make the terminal's client read-only again", error=first_line(exc))
            await self._send(Mode(control=False, readonly_reason=command.readonly_reason))
            return
        if not command.can_type:
            await self._send(Mode(control=False, readonly_reason=command.readonly_reason))
            return
        try:
            await runtime.set_viewer_control(handle, term.terminal, True)
        except (RuntimeError_, ToolMissing, ToolTimeout) as exc:
            self.log.warning("could not switch the terminal to typing", error=first_line(exc))
            await self._send(Mode(control=self.control, readonly_reason=f"could not switch to typing: {first_line(exc)}"))
            return
        self.control = True
        self.log.info("terminal viewer took control")
        await self._send(Mode(control=True, readonly_reason=None))
