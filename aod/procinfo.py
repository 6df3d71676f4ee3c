"""What an agent's process is doing, from /proc: a generic activity signal for any program.

    foreground(pid, tty) -> "job" | "running" | "reading" | None

- `job`: another process group owns the terminal (an interactive shell's foreground job);
- `running`: the program (or the child it waits for, followed down a few levels) is on a CPU;
- `reading`: it sleeps in a read() of its own terminal: a line-mode program at its prompt;
- None: anything else, or no /proc (macOS): event-loop TUIs sleep in poll/epoll whether they
  wait for a person or for a model, so their state says nothing.

Only reads a handful of small procfs files: no subprocess, cheap enough for every tick. Never
raises: a process that vanished or a file that cannot be read is None.
"""

from __future__ import annotations

import os
import platform
from typing import Final, Literal

State = Literal["job", "running", "reading"]

# read, pread64, readv on the architectures Linux runs aod on.
_READ_SYSCALLS: Final = {"x86_64": {0, 17, 19}, "aarch64": {63, 65, 67}}.get(platform.machine(), set())
_TTY_READ_WAITS: Final = frozenset({"n_tty_read", "wait_woken"})
MAX_DEPTH: Final = 4
"""A wrapper shell or `env` between the pane and the agent: followed this many levels down."""


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read(4096).decode("ascii", "replace")
    except OSError:
        return None


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state letter, process group, the terminal's foreground process group)."""
    raw = _read(f"/proc/{pid}/stat")
    if raw is None:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    if len(fields) < 6:
        return None
    try:
        return fields[0], int(fields[2]), int(fields[5])
    except ValueError:
        return None


def _newest_child(pid: int) -> int | None:
    raw = _read(f"/proc/{pid}/task/{pid}/children")
    children = [int(c) for c in (raw or "").split() if c.isdigit()]
    return max(children) if children else None


def _fd_is(pid: int, fd: int, tty: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/fd/{fd}") == tty
    except OSError:
        return False


def _reads_tty(pid: int, tty: str) -> bool:
    syscall = _read(f"/proc/{pid}/syscall")
    if syscall is not None:
        parts = syscall.split()
        if len(parts) >= 2 and parts[0].isdigit():
            try:
                fd = int(parts[1], 16)
            except ValueError:
                return False
            return int(parts[0]) in _READ_SYSCALLS and _fd_is(pid, fd, tty)
    # No syscall file to read (another user's process, a hardened kernel): the kernel's wait
    # channel for a terminal read, with the terminal as standard input.
    return (_read(f"/proc/{pid}/wchan") or "").strip() in _TTY_READ_WAITS and _fd_is(pid, 0, tty)


def foreground(pid: int | None, tty: str | None) -> State | None:
    """What the program in a pane whose first process is `pid` and terminal `tty` is doing."""
    if pid is None or not tty:
        return None
    top = _stat(pid)
    if top is None:
        return None
    _state, group, terminal_group = top
    if terminal_group > 0 and terminal_group != group:
        return "job"
    current = pid
    for _ in range(MAX_DEPTH):
        if (_read(f"/proc/{current}/wchan") or "").strip() != "do_wait":
            break
        child = _newest_child(current)
        if child is None:
            break
        current = child
    stat = _stat(current)
    if stat is None:
        return None
    if stat[0] == "R":
        return "running"
    if _reads_tty(current, tty):
        return "reading"
    return None


def terminal_of(pid: int | None) -> str | None:
    """The terminal a process has as standard input (`/dev/pts/3`), if it has one."""
    if pid is None:
        return None
    try:
        target = os.readlink(f"/proc/{pid}/fd/0")
    except OSError:
        return None
    return target if target.startswith("/dev/") else None
