"""The process runtime: agents as detached child processes, for machines without tmux.

Each session keeps its files in `<state_dir>/runtime/<name>/` (mode 0700):

    stdin        a FIFO; the agent holds it open read-write, so it never sees end-of-file
                 (and a writer never blocks for want of a reader while the agent lives)
    output.log   the agent's stdout and stderr, appended (or LaunchSpec.log_path)
    pid          JSON {"pid", "start", "boot"}: the pid plus its start-time token
    exit         the exit status, when this aod saw the agent end

The agent runs in its own session and process group (`start_new_session`), so it outlives the
aod that started it; a later aod finds it again through the `pid` file. Liveness is by pid
plus the start-time token from /proc/<pid>/stat (and the boot id), so a recycled pid is never
mistaken for the agent.

Limitations (use tmux where you can):

- No terminal. The agent's stdin is a FIFO and its output a file: a full-screen TUI may refuse
  to start or draw garbage. `capture()` returns the tail of the log with escape sequences
  removed, an approximation of a screen.
- Typing and watching are separate. `attach_argv()` is `tail -f` of the log; input goes in
  with `aoctl send` (a paste into the FIFO).
- `paste()` wraps the text in bracketed-paste delimiters only when the agent asked for them
  (it wrote ESC[?2004h to its output); otherwise the bytes go as they are, and an agent that
  reads lines will see every line of a multi-line message as one submission.
- The exit status is known only to the aod that started the agent (it reaps it); after a
  restart a dead agent's status is None.
- Without /proc (macOS, BSD) a pid is checked with kill(pid, 0) alone: pid reuse is not
  detected there.
"""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import trio

from aod.model import RuntimeHandle
from aod.plugins.runtime import CommandTooLong, LaunchSpec, Liveness, Look, PaneState, RuntimeError_, ViewerCommand
from aod.plugins.runtime.tmux import sanitize_paste_text
from aod.plugins.runtime.tmux_client import validate_name
from aod.proc import ToolMissing, child_env

_PASTE_ON: Final = b"\x1b[?2004h"
_PASTE_OFF: Final = b"\x1b[?2004l"
_PASTE_START: Final = b"\x1b[200~"
_PASTE_END: Final = b"\x1b[201~"
# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other two-byte escapes.
_ESCAPES: Final = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]|\x1b[()#%][0-~]?"
)
# Cursor positioning and erasing the display start a new screen (or part of one): a line break.
_SCREEN_BREAKS: Final = re.compile(r"\x1b\[[0-9;]*[HfJ]")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
READONLY_REASON: Final = (
    "the process runtime gives its agent no terminal to type into: send it a message instead (aoctl send)"
)


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state letter, start time in clock ticks since boot) from /proc/<pid>/stat, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces or ')': split after
    # the last ')'. Then field 3 is the state and field 22 the start time.
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 20:
        return None
    return fields[0].decode(), fields[19].decode()


def _has_proc() -> bool:
    return Path("/proc/self/stat").exists()


def _screen_text(raw: bytes) -> list[str]:
    """Log bytes to plain lines: cursor jumps become line breaks, other escapes are removed,
    and a CR returns to the line's start."""
    text = raw.decode("utf-8", "replace")
    text = _ESCAPES.sub("", _SCREEN_BREAKS.sub("\n", text))
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if "\r" in line:
            parts = [p for p in line.split("\r") if p]
            line = parts[-1] if parts else ""
        lines.append(_CONTROL.sub("", line).rstrip())
    return lines


class ProcessRuntime:
    """Agents as detached processes with files under `<state_dir>/runtime/`."""

    kind = "process"
    echoes_input = False

    def __init__(self, state_dir: Path, *, kill_grace: float = 5.0, timeout: float = 5.0) -> None:
        self.root = Path(state_dir) / "runtime"
        self.kill_grace = kill_grace
        self.timeout = timeout
        # Agents this aod started: reaped here (else they linger as zombies, which look alive
        # to kill(pid, 0)), and their exit status recorded.
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        # log path -> (bytes scanned, agent asked for bracketed paste)
        self._paste_mode: dict[str, tuple[int, bool]] = {}

    # -- files ----------------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        return self.root / validate_name(name)

    def _log_path(self, handle: RuntimeHandle) -> Path:
        if handle.log_path:
            return Path(handle.log_path)
        return self._dir(handle.name) / "output.log"

    def _read_pid(self, name: str) -> dict[str, object] | None:
        try:
            data = json.loads((self._dir(name) / "pid").read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None

    def _reap(self, name: str) -> None:
        child = self._children.get(name)
        if child is None:
            return
        code = child.poll()
        if code is not None and self._children.pop(name, None) is not None:
            try:
                (self._dir(name) / "exit").write_text(f"{code}\n")
            except OSError:
                pass

    def _identity_alive(self, record: dict[str, object]) -> bool | None:
        """True: the recorded process runs. False: it is gone (or the pid now belongs to
        another process). None: cannot tell."""
        pid = record["pid"]
        assert isinstance(pid, int)
        if _has_proc():
            if record.get("boot") and record.get("boot") != _boot_id():
                return False
            stat = _proc_stat(pid)
            if stat is None:
                return False
            state, start = stat
            if record.get("start") and record.get("start") != start:
                return False
            return state not in ("Z", "X", "x")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # exists, another user's: cannot be ours, but cannot prove it either
        except OSError:
            return None
        return True

    def _state(self, name: str) -> PaneState | None:
        self._reap(name)
        record = self._read_pid(name)
        if record is None:
            return None
        pid = record["pid"]
        assert isinstance(pid, int)
        alive = self._identity_alive(record)
        if alive is None:
            raise OSError(f"cannot probe pid {pid}")
        exit_status: int | None = None
        if not alive:
            try:
                exit_status = int((self._dir(name) / "exit").read_text().strip())
            except (OSError, ValueError):
                exit_status = None
        log = record.get("log")
        activity: float | None = None
        try:
            activity = Path(str(log)).stat().st_mtime if log else None
        except OSError:
            activity = None
        return PaneState(
            name=name, pane_id=None, pid=pid, dead=not alive, exit_status=exit_status,
            activity_at=activity,
        )  # fmt: skip

    def _snapshot_sync(self) -> dict[str, PaneState]:
        states: dict[str, PaneState] = {}
        try:
            entries = sorted(self.root.iterdir())
        except FileNotFoundError:
            return states
        for entry in entries:
            try:
                validate_name(entry.name)
            except RuntimeError_:
                continue
            state = self._state(entry.name)
            if state is not None:
                states[entry.name] = state
        return states

    # -- Runtime ----------------------------------------------------------------------------

    async def create(self, spec: LaunchSpec) -> RuntimeHandle:
        return await trio.to_thread.run_sync(self._create_sync, spec)

    def _create_sync(self, spec: LaunchSpec) -> RuntimeHandle:
        name = validate_name(spec.name)
        argv = [str(a) for a in spec.argv]
        if not argv or not argv[0]:
            raise RuntimeError_("the agent command line is empty")
        directory = self._dir(name)
        existing = self._state(name) if (directory / "pid").exists() else None
        if existing is not None and not existing.dead:
            raise RuntimeError_(f"runtime session {name!r} is already running (pid {existing.pid})")
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in ("pid", "exit", "stdin"):
            (directory / stale).unlink(missing_ok=True)
        fifo = directory / "stdin"
        os.mkfifo(fifo, 0o600)
        log = Path(spec.log_path) if spec.log_path else directory / "output.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        # O_RDWR on a FIFO opens at once (no waiting for a writer) and is itself a writer,
        # so the agent never reads end-of-file when a paste's writer closes.
        stdin_fd = os.open(fifo, os.O_RDWR)
        log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        # Only this agent's output counts when looking for its bracketed-paste request.
        log_offset = os.fstat(log_fd).st_size
        self._paste_mode[str(log)] = (log_offset, False)
        try:
            child = subprocess.Popen(
                argv,
                stdin=stdin_fd,
                stdout=log_fd,
                stderr=log_fd,
                cwd=spec.cwd,
                env=child_env(dict(spec.env), tool=False),
                start_new_session=True,
                close_fds=True,
            )
        except FileNotFoundError:
            if not Path(spec.cwd).is_dir():
                raise RuntimeError_(f"the working directory {spec.cwd} does not exist") from None
            raise ToolMissing(argv[0]) from None
        except OSError as exc:
            if exc.errno == errno.E2BIG:
                raise CommandTooLong(f"the agent's command line is too long to start {argv[0]!r}") from None
            raise RuntimeError_(f"cannot start {argv[0]!r} in {spec.cwd}: {exc}") from None
        finally:
            os.close(stdin_fd)
            os.close(log_fd)
        stat = _proc_stat(child.pid)
        record = {
            "pid": child.pid,
            "start": stat[1] if stat else "",
            "boot": _boot_id(),
            "log": str(log),
            "log_offset": log_offset,
        }
        tmp = directory / "pid.tmp"
        tmp.write_text(json.dumps(record))
        os.replace(tmp, directory / "pid")
        self._children[name] = child
        return RuntimeHandle(kind=self.kind, name=name, pid=child.pid, log_path=str(log))

    def server_of(self, handle: RuntimeHandle) -> str:
        return ""  # one state directory holds every process session

    async def snapshot(self, server: str = "") -> dict[str, PaneState] | None:
        try:
            return await trio.to_thread.run_sync(self._snapshot_sync)
        except OSError:
            return None

    def liveness(self, handle: RuntimeHandle, snapshot: dict[str, PaneState] | None) -> Liveness:
        if snapshot is None:
            return "unknown"
        state = snapshot.get(handle.name)
        if state is None or state.dead:
            return "dead"
        if handle.pid is not None and state.pid != handle.pid:
            return "dead"  # a newer agent runs under this name; the handle's one is gone
        return "alive"

    async def capture(self, handle: RuntimeHandle, lines: int = 50) -> str:
        """The tail of the output log as plain lines (see the module docstring)."""
        return await trio.to_thread.run_sync(self._tail, handle, max(1, int(lines)))

    async def capture_many(self, handles: Sequence[RuntimeHandle], lines: int = 50) -> dict[str, str]:
        """`capture()` of each, in one worker-thread job; a log that cannot be read is left out."""
        lines = max(1, int(lines))

        def tails() -> dict[str, str]:
            screens = {}
            for handle in handles:
                try:
                    screens[handle.name] = self._tail(handle, lines)
                except (OSError, RuntimeError_):
                    continue
            return screens

        return await trio.to_thread.run_sync(tails)

    def _tail(self, handle: RuntimeHandle, lines: int) -> str:
        path = self._log_path(handle)
        want = 256 * lines + 65536
        try:
            with open(path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - want))
                raw = f.read()
        except FileNotFoundError:
            raise RuntimeError_(f"no output log for {handle.name!r} at {path}") from None
        rows = _screen_text(raw)
        while rows and not rows[-1]:
            rows.pop()
        return "\n".join(rows[-lines:])

    async def look(self, handle: RuntimeHandle, lines: int = 50) -> Look:
        return Look(await self.capture(handle, lines))

    def _wants_bracketed_paste(self, name: str, log: Path) -> bool:
        """Whether the agent's last word on bracketed paste (in its output) was "on"; scans
        only what was appended since the previous call (or since the agent started)."""
        if str(log) not in self._paste_mode:
            record = self._read_pid(name) or {}
            start = record.get("log_offset")
            self._paste_mode[str(log)] = (start if isinstance(start, int) else 0, False)
        offset, mode = self._paste_mode[str(log)]
        try:
            with open(log, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                if size < offset:  # truncated: start over
                    offset, mode = 0, False
                overlap = len(_PASTE_ON) - 1
                start = max(0, offset - overlap)
                f.seek(start)
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    on, off = chunk.rfind(_PASTE_ON), chunk.rfind(_PASTE_OFF)
                    if on != off:
                        mode = on > off
                    if len(chunk) < (1 << 20):
                        break
                    f.seek(f.tell() - overlap)
                self._paste_mode[str(log)] = (size, mode)
        except OSError:
            return False
        return mode

    async def _write_stdin(self, handle: RuntimeHandle, data: bytes) -> None:
        fifo = self._dir(handle.name) / "stdin"
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno in (errno.ENXIO, errno.ENOENT):
                raise RuntimeError_(f"runtime session {handle.name!r} is not running") from None
            raise RuntimeError_(f"cannot open {fifo}: {exc}") from None
        try:
            with trio.fail_after(self.timeout):
                view = memoryview(data)
                while view:
                    try:
                        written = os.write(fd, view)
                    except BlockingIOError:
                        await trio.lowlevel.wait_writable(fd)
                        continue
                    view = view[written:]
        except trio.TooSlowError:
            raise RuntimeError_(
                f"runtime session {handle.name!r} did not read its input within {self.timeout:g}s"
            ) from None
        except BrokenPipeError:
            raise RuntimeError_(f"runtime session {handle.name!r} is not running") from None
        finally:
            os.close(fd)

    async def paste(self, handle: RuntimeHandle, text: str) -> None:
        data = sanitize_paste_text(text)
        if not data:
            return
        log = self._log_path(handle)
        if await trio.to_thread.run_sync(self._wants_bracketed_paste, handle.name, log):
            data = _PASTE_START + data + _PASTE_END
        await self._write_stdin(handle, data)

    async def press_enter(self, handle: RuntimeHandle) -> None:
        await self._write_stdin(handle, b"\n")

    async def kill(self, handle: RuntimeHandle) -> None:
        """SIGTERM to the agent's process group, SIGKILL after `kill_grace` seconds."""
        name = validate_name(handle.name)
        record = await trio.to_thread.run_sync(self._read_pid, name)
        if record is None:
            return
        pid = record["pid"]
        assert isinstance(pid, int)
        if await trio.to_thread.run_sync(self._identity_alive, record) is None:
            raise RuntimeError_(f"cannot tell whether pid {pid} is the agent; not killing it")
        if _is_other_process(record):
            # The pid belongs to a newer process: the agent and its whole group are long gone
            # (a pid still in use as a group id is never handed out again).
            return
        # The group id is the agent's pid (new session). While any member lives that number
        # cannot be reused, so signalling the group never reaches a stranger.
        for sig, wait in ((signal.SIGTERM, self.kill_grace), (signal.SIGKILL, self.timeout)):
            self._reap(name)
            if not _group_alive(pid):
                break
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                self._reap(name)
                if not _group_alive(pid):
                    break
                await trio.sleep(0.02)
        self._reap(name)

    def attach_argv(self, handle: RuntimeHandle) -> list[str] | None:
        """Watch only: `tail -f` of the log. Send input with `aoctl send`."""
        return ["tail", "-n", "200", "-f", str(self._log_path(handle))]

    def viewer_command(self, handle: RuntimeHandle, *, control: bool) -> ViewerCommand:
        """The log followed, whatever `control` asks: there is no terminal to type into."""
        return ViewerCommand(
            argv=["tail", "-n", "200", "-f", str(self._log_path(handle))],
            env=child_env(tool=False),
            can_type=False,
            readonly_reason=READONLY_REASON,
            ends_with_session=False,  # tail -f follows the log after the agent is gone
        )

    async def set_viewer_control(self, handle: RuntimeHandle, terminal: str, control: bool) -> None:
        if control:
            raise RuntimeError_(READONLY_REASON)

    @asynccontextmanager
    async def hold_window_size(self, handle: RuntimeHandle) -> AsyncIterator[None]:
        yield  # no window: a viewer's size changes nothing of the agent's


def _is_other_process(record: dict[str, object]) -> bool:
    """Whether the recorded pid now names a different process than the one recorded."""
    pid = record["pid"]
    assert isinstance(pid, int)
    stat = _proc_stat(pid)
    if stat is None:
        return False
    if record.get("boot") and record.get("boot") != _boot_id():
        return True
    return bool(record.get("start")) and record.get("start") != stat[1]


def _group_alive(pgid: int) -> bool:
    """Whether a process that is not a zombie is left in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not _has_proc():
        return True
    try:
        entries = os.listdir("/proc")
    except OSError:
        return True
    wanted = str(pgid).encode()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_bytes()
        except OSError:
            continue
        # After the ')' ending the command name: state, ppid, pgrp, ...
        fields = raw[raw.rfind(b")") + 2 :].split()
        if len(fields) > 2 and fields[2] == wanted and fields[0] not in (b"Z", b"X"):
            return True
    return False
