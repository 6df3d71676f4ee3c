"""Live viewers of tmux sessions (the dashboard's terminal): each viewer is a tmux client of its
own, attached to the agent's session, running in a PTY its caller owns (aod/web/terminal.py).

Why it is done this way (tmux 3.3a, checked against its source and by the tests):

- A viewer attaches with `attach-session -E -f read-only,ignore-size`: read-only, so tmux lets its
  keys do nothing but detach; `-E`, so attaching never copies the viewer's environment into the
  session (`update-environment`). The caller drops a read-only viewer's keys before they reach
  tmux at all: tmux's own read-only still obeys keys bound to `switch-client`, which could move
  the viewer to another agent's session.
- `ignore-size` alone does not protect the agent's window: tmux ignores an ignore-size client
  only while some client that does size the window is attached (resize.c, ignore_client_size),
  so a viewer watching alone would resize the agent's window to the browser's. So beside the
  viewers, `hold_window_size` attaches that other client: a control-mode client (`-C`) whose
  size is set to the window's current size (`refresh-client -C`). It never types (read-only,
  its stdin is a pipe nobody writes), gets no pane output (`no-output`), and ends when its
  stdin closes, which a crash of aod does too. A person who attaches with `aoctl attach` sizes
  the window as before; when they leave, the window goes back to the held size.
- Taking control toggles the running client with `switch-client -c TERMINAL -r -E -t =NAME`,
  which flips read-only and ignore-size together (`-t` and `-E` keep it from also moving the
  client to another session and copying its environment into the session); `refresh-client -f '!read-only'` cannot clear read-only
  (tmux refuses it by design). The flag is read first, so asking twice changes nothing. The
  client is not restarted: the screen stays, no second process, no window of time in which
  the viewer has no client.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final, Protocol

import trio

from aod.model import RuntimeHandle
from aod.plugins.runtime import RuntimeError_, ViewerCommand
from aod.plugins.runtime.tmux_client import client_env, validate_name
from aod.proc import COUNTER, Result, ToolMissing, ToolTimeout

VIEWER_FLAGS: Final = "read-only,ignore-size"
# The size-holding client's flags: it must size the window, so not ignore-size.
HOLDER_FLAGS: Final = "no-output,read-only"
HOLDER_EXIT_GRACE: Final = 1.0


class TmuxRuntime(Protocol):
    """What the viewers need of aod/plugins/runtime/tmux.py's TmuxRuntime (which passes itself):
    a protocol, so this module never imports the runtime that imports it."""

    def _base(self, socket: str | None = None) -> list[str]: ...
    async def _tmux(self, *args: str, stdin: bytes | None = None, socket: str | None = None) -> Result: ...
    def server_of(self, handle: RuntimeHandle) -> str: ...
    def _target(self, handle: RuntimeHandle) -> str: ...
    def _fail(self, what: str, result: Result, socket: str | None = None) -> RuntimeError_: ...


def viewer_command(runtime: TmuxRuntime, handle: RuntimeHandle, *, control: bool) -> ViewerCommand:
    name = validate_name(handle.name)
    flags = [] if control else ["-f", VIEWER_FLAGS]
    # -u: the browser's terminal is UTF-8 whatever aod's locale says (tmux would draw `_`).
    argv = [*runtime._base(runtime.server_of(handle)), "-u", "attach-session", "-E", *flags, "-t", f"={name}"]
    return ViewerCommand(argv=argv, env=client_env(), can_type=True)


async def set_viewer_control(runtime: TmuxRuntime, handle: RuntimeHandle, terminal: str, control: bool) -> None:
    socket = runtime.server_of(handle)
    listed = await runtime._tmux("list-clients", "-F", "#{client_name}\t#{client_readonly}", socket=socket)
    if not listed.ok:
        raise runtime._fail("list-clients", listed, socket)
    flags = dict(line.split("\t", 1) for line in listed.out.splitlines() if "\t" in line)
    if terminal not in flags:
        raise RuntimeError_(f"the viewer's tmux client ({terminal}) is not attached any more")
    if (flags[terminal] == "1") != control:
        return  # already as asked: the toggle below would undo it
    # -t: without it tmux also moves the client to the session it likes best (an unattached
    # one: another agent's). -E: and would copy the client's environment into the session.
    name = validate_name(handle.name)
    toggled = await runtime._tmux("switch-client", "-c", terminal, "-r", "-E", "-t", f"={name}", socket=socket)
    if not toggled.ok:
        raise runtime._fail(f"switch-client -c {terminal} -r", toggled, socket)


@asynccontextmanager
async def hold_window_size(runtime: TmuxRuntime, handle: RuntimeHandle) -> AsyncIterator[None]:
    name = validate_name(handle.name)
    socket = runtime.server_of(handle)
    target = runtime._target(handle)
    sized = await runtime._tmux("display-message", "-p", "-t", target, "#{window_width}x#{window_height}", socket=socket)
    size = sized.out.strip()
    if not sized.ok or "x" not in size:
        raise runtime._fail(f"display-message -t {target}", sized, socket)
    # It says when it is attached and sized by signalling a channel of its own: a wait on a
    # channel signalled before the wait began returns at once (cmd-wait-for.c), so no race.
    channel = f"aod-hold-{secrets.token_hex(8)}"
    argv = [
        *runtime._base(socket), "-C", "attach-session", "-E", "-f", HOLDER_FLAGS, "-t", f"={name}",
        ";", "refresh-client", "-C", size, ";", "wait-for", "-S", channel,
    ]  # fmt: skip
    COUNTER.started += 1
    try:
        holder = await trio.lowlevel.open_process(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=client_env(),
            start_new_session=True,
        )
    except FileNotFoundError:
        raise ToolMissing(runtime.tmux) from None
    try:
        await _until_ready(runtime, holder, channel, socket, name)
        yield
    finally:
        with trio.CancelScope(shield=True):
            await _end_holder(holder)


async def _until_ready(runtime: TmuxRuntime, holder: trio.Process, channel: str, socket: str, name: str) -> None:
    """Wait for the holder's signal, or for the holder to exit without giving it (its session
    is gone). Both in child tasks: an error raised in a nursery's body would reach the caller
    wrapped in an exception group."""
    waited: list[Result] = []
    failed: list[Exception] = []

    async def wait_for_signal(done: trio.CancelScope) -> None:
        try:
            waited.append(await runtime._tmux("wait-for", channel, socket=socket))
        except (ToolTimeout, ToolMissing) as exc:
            failed.append(exc)
        done.cancel()

    async def holder_exits(done: trio.CancelScope) -> None:
        await holder.wait()
        done.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait_for_signal, nursery.cancel_scope)
        nursery.start_soon(holder_exits, nursery.cancel_scope)
    if failed:
        raise failed[0]
    if not waited:
        raise RuntimeError_(f"tmux -L {socket}: cannot attach to session {name!r} (has it ended?)")
    if not waited[0].ok:
        raise runtime._fail(f"wait-for {channel}", waited[0], socket)


async def _end_holder(holder: trio.Process) -> None:
    """End of stdin makes a control client detach and exit; a signal only if it does not."""
    if holder.stdin is not None:
        await holder.stdin.aclose()
    with trio.move_on_after(HOLDER_EXIT_GRACE):
        await holder.wait()
        return
    holder.kill()
    await holder.wait()
