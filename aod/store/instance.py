"""Taking the state directory: the single-instance lock (`aod.lock`, flock'd, holding the pid),
and the layout made ready (directories 0700, temp files left by a crash mid-write swept).

May import: aod.store.state, aod.store.files, aod.store.errors, aod.paths, structlog.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Final

import structlog

from aod.paths import ensure_private_dir
from aod.store.errors import AlreadyRunning
from aod.store.files import is_temp_leftover
from aod.store.state import StateDir

LOCK_FILE: Final = "aod.lock"


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdecimal() else None


class InstanceLock:
    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.path = state.root / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the single-instance lock or raise AlreadyRunning naming the holder's pid.

        flock is tied to the open file, so the kernel drops it when this process dies, however
        it dies; there is no stale lock to clean up. The fd is close-on-exec so that children
        (tmux, agents) never inherit it and keep the lock alive after aod exits. Idempotent.
        """
        if self._fd is not None:
            return
        ensure_private_dir(self.state.root)
        # No O_TRUNC: until we hold the lock, the file's content is the holder's pid.
        self.state.guard(self.path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(holder, self.path) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        """Release the lock (also released automatically when the process exits). The file is
        kept: deleting a lock file lets two processes lock two different files."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # leave no pid behind for a human to chase
        finally:
            os.close(fd)


def prepare(root: Path, written: tuple[str, ...], kept: tuple[str, ...]) -> None:
    """Create the layout (directories 0700, owned by us) and delete temp files left by a crash
    mid-write in the directories aod writes (`written`; `kept` ones such as archive/ and
    quarantine/ are left exactly as they are). Call it while holding the lock: another aod's
    temp files are live."""
    ensure_private_dir(root)
    for name in (*written, *kept):
        ensure_private_dir(root / name)
    swept = _sweep_temp_leftovers(root, written)
    if swept:
        structlog.get_logger().info("store.swept_temp_files", count=len(swept), files=[str(p) for p in swept])


def _sweep_temp_leftovers(root: Path, written: tuple[str, ...]) -> list[Path]:
    directories = [root]
    for name in written:
        directories.extend(Path(path) for path, _, _ in os.walk(root / name))
    swept: list[Path] = []
    for directory in directories:
        with os.scandir(directory) as entries:
            leftovers = [
                Path(entry.path)
                for entry in entries
                if is_temp_leftover(entry.name) and entry.is_file(follow_symlinks=False)
            ]
        for path in leftovers:
            path.unlink(missing_ok=True)
            swept.append(path)
    return swept
