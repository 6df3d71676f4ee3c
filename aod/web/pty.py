"""A program in a pseudo-terminal of its own, read and written from trio without blocking.

    async with open_pty_process(argv, env, cols=80, rows=24) as term:
        data = await term.read()          # b"" once the program has closed the terminal
        await term.write(b"keys")
        term.resize(120, 40)

Rules it keeps:

- The program runs in its own session and process group (`start_new_session`), so it never
  gets aod's signals (a Ctrl-C in the terminal aod runs in) and can be ended as a group.
- Only the program holds the terminal's slave side: aod closes its copy at once, so when the
  program exits, reading the master side ends (EIO) instead of waiting forever.
- The master side is non-blocking and read through `trio.lowlevel.FdStream`: the event loop
  never waits on a terminal.
- Leaving the block always ends the program: SIGTERM to its group, SIGKILL after a short grace,
  then it is reaped (no zombie) and the master closed, also when the block is left by
  cancellation (aod stopping), under a shield.
- A resize sets the terminal's size and then sends SIGWINCH itself: a program started this way
  has no controlling terminal (subprocess cannot make one), so the kernel would not tell it.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import termios
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

import trio

from aod.proc import COUNTER, ToolMissing

READ_SIZE: Final = 64 * 1024
TERM: Final = "xterm-256color"
"""What the browser's terminal (xterm.js) is; tmux picks its escape sequences by it."""
EXIT_GRACE: Final = 0.5
KILL_WAIT: Final = 5.0


def set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def get_size(fd: int) -> tuple[int, int]:
    """(cols, rows) of the terminal `fd` is a side of."""
    rows, cols, _x, _y = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    return cols, rows


@dataclass(eq=False)
class PtyProcess:
    process: trio.Process
    stream: trio.lowlevel.FdStream
    terminal: str
    """The slave side's name (`/dev/pts/3`): how tmux names the client running in it."""

    @property
    def pid(self) -> int:
        return self.process.pid

    async def read(self, max_bytes: int = READ_SIZE) -> bytes:
        """The next output; b"" once the program closed its terminal (exited)."""
        try:
            return await self.stream.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return b""  # EIO: no process holds the slave side any more

    async def write(self, data: bytes) -> bool:
        """Give `data` to the program as typed input. False: the terminal is gone."""
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        return True

    def resize(self, cols: int, rows: int) -> None:
        try:
            set_size(self.stream.fileno(), cols, rows)
        except (OSError, trio.ClosedResourceError):
            return
        self._signal_group(signal.SIGWINCH)

    def terminate(self) -> None:
        """Ask the program to end (SIGTERM); `read()` returns b"" once it has."""
        self._signal_group(signal.SIGTERM)

    def _signal_group(self, sig: int) -> None:
        # The group's id is the program's pid, which cannot be reused before we reap it: while
        # `returncode` is None no stranger can be hit.
        if self.process.returncode is not None:
            return
        try:
            os.killpg(self.process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def close(self) -> None:
        """End the program (SIGTERM, then SIGKILL after EXIT_GRACE), reap it, close the master."""
        with trio.CancelScope(shield=True):
            self._signal_group(signal.SIGTERM)
            with trio.move_on_after(EXIT_GRACE):
                await self.process.wait()
            if self.process.returncode is None:
                self._signal_group(signal.SIGKILL)
                with trio.move_on_after(KILL_WAIT):
                    await self.process.wait()
            await self.stream.aclose()


@asynccontextmanager
async def open_pty_process(
    argv: Sequence[str], env: Mapping[str, str], *, cols: int = 80, rows: int = 24
) -> AsyncIterator[PtyProcess]:
    """Run `argv` in a new PTY of `cols` x `rows`; ended and reaped when the block is left.
    Raises ToolMissing when the program does not exist, OSError when no PTY can be had."""
    master, slave = os.openpty()  # both close-on-exec: the child gets only its 0, 1 and 2
    try:
        set_size(master, cols, rows)
        terminal = os.ttyname(slave)
        COUNTER.started += 1
        process = await trio.lowlevel.open_process(
            list(argv),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**env, "TERM": TERM, "COLORTERM": "truecolor"},
            start_new_session=True,
            close_fds=True,
        )
    except FileNotFoundError:
        os.close(master)
        raise ToolMissing(str(argv[0])) from None
    except BaseException:
        os.close(master)
        raise
    finally:
        os.close(slave)
    term = PtyProcess(process, trio.lowlevel.FdStream(master), terminal)
    try:
        yield term
    finally:
        await term.close()
