"""The file primitives of the state directory, and the one way below its root to reach a file.

Durable writes (atomic replace, append with fsync, a fresh name claimed without replacing
anything), the backwards line reader, moving a file to quarantine/, and `StateFiles`: every
path below the root checked component by component (lstat) before it is opened, created or
listed, the final open refusing a link too (O_NOFOLLOW; temp files are created O_EXCL).

Why no links: agents run as the same user and may leave links anywhere they can write; a link
inside the state dir would make a write land outside it (a journal appended to any file, an
outbox written into a workspace) or a read show another file.

May import: the standard library and msgspec only. Knows no record kinds.
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import msgspec

QUARANTINE_DIR: Final = "quarantine"
# Temp files are hidden siblings of their target, `.<name>.<random>.tmp`, so that os.replace
# stays within one directory (one filesystem) and prepare() can recognise crash leftovers.
TEMP_PREFIX: Final = "."
TEMP_SUFFIX: Final = ".tmp"
TAIL_BLOCK_BYTES: Final = 64 * 1024


@dataclass(frozen=True)
class Quarantined:
    original: Path
    moved_to: Path
    reason: str


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (a new name, a rename) durable, not just the file data."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    # os.write is unbuffered (nothing to flush) but may write less than asked.
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def make_private_dir(path: Path) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return
    fsync_dir(path.parent)


def replace_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data` such that a crash at any instant leaves the old bytes or the
    new ones, never a mix: write a temp file beside it, fsync it, rename it over the target
    (atomic within a directory), then fsync the directory so the rename itself survives."""
    fd, temp_name = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent
    )
    try:
        try:
            _write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp_name, path)
    except BaseException:
        # A crash (kill -9, power loss) skips this; prepare() sweeps what it leaves behind.
        Path(temp_name).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def is_temp_leftover(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def append_lines(path: Path, entries: list[Any]) -> None:
    """Append JSON objects as lines (O_APPEND, one write, fsync). The caller holds the lock."""
    data = b""
    for entry in entries:
        line = msgspec.json.encode(entry)  # compact JSON never contains a raw newline
        if not line.startswith(b"{"):
            raise TypeError(f"a journal entry must encode to a JSON object, not {line[:40]!r}")
        data += line + b"\n"
    # O_NOFOLLOW: a link planted at the journal's name must not make us append to its target.
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        size = os.fstat(fd).st_size
        # An append cut short by a crash left a line without its newline: start on a fresh
        # line, so this entry is not glued to the torn one and lost with it.
        if size and os.pread(fd, 1, size - 1) != b"\n":
            data = b"\n" + data
        _write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    if size == 0:
        fsync_dir(path.parent)  # the file may be new: make its name durable too


def claim_unused_name(directory: Path, base: str, *, as_directory: bool) -> Path:
    """Create an empty placeholder named `base`, `base.1`, `base.2`, ... (the first that is free)
    and return its path; the caller then renames its file or directory over the placeholder.
    Creating is atomic and fails if the name exists, so nothing earlier is ever replaced."""
    for attempt in itertools.count():
        candidate = directory / (base if attempt == 0 else f"{base}.{attempt}")
        try:
            if as_directory:
                os.mkdir(candidate, 0o700)
            else:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
                os.close(os.open(candidate, flags, 0o600))
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable: itertools.count() never ends")


def move_into(directory: Path, path: Path, name: str, *, as_directory: bool = False) -> Path:
    """Move `path` (a file, a link as the link, or a directory) into `directory` under `name`,
    or `name.1`, ... when that is taken: nothing earlier is ever replaced. Durable."""
    target = claim_unused_name(directory, name, as_directory=as_directory)
    os.replace(path, target)  # over our own empty placeholder, nothing else
    fsync_dir(directory)
    fsync_dir(path.parent)
    return target


def complete_lines_backwards(fd: int, size: int, block: int = TAIL_BLOCK_BYTES) -> Iterator[bytes]:
    """Yield the complete lines among the first `size` bytes of `fd`, last line first, without
    their newline. Reads backwards block by block, so the cost follows what the caller consumes,
    not the file size. Bytes after the final newline are an append cut short; they are skipped."""
    position = size
    pending = b""  # bytes from `position` on that are not yielded yet
    torn_tail_dropped = False
    while position > 0:
        step = min(block, position)
        position -= step
        pending = os.pread(fd, step, position) + pending
        if not torn_tail_dropped:
            last_newline = pending.rfind(b"\n")
            if last_newline == -1:
                continue  # still inside the torn tail (or one huge unterminated line)
            pending = pending[: last_newline + 1]
            torn_tail_dropped = True
        # `pending` ends with a newline; every line that also has a newline before it is whole.
        end = len(pending) - 1
        start = pending.rfind(b"\n", 0, end)
        while start != -1:
            yield pending[start + 1 : end]
            end = start
            start = pending.rfind(b"\n", 0, end)
        pending = pending[: end + 1]
    if torn_tail_dropped:
        yield pending[:-1]  # the first line of the file: its start is the start of the file


class StateFiles:
    """Files below `root`, never through a symbolic link. A link found in the way is moved to
    quarantine/ (the link itself, never its target) and handed to `on_link`, so the caller then
    finds nothing there and makes a real file or directory (or reports it missing)."""

    def __init__(self, root: Path, on_link: Callable[[Quarantined], None]) -> None:
        self.root = root
        self._on_link = on_link
        self._root_text = os.fspath(root).rstrip(os.sep) or os.sep
        self._root_prefix = self._root_text.rstrip(os.sep) + os.sep

    def guard(self, path: Path) -> None:
        """Make sure no component of `path` below the root is a symbolic link."""
        # Strings, not pathlib: every store operation guards its paths, and pathlib's joins were
        # most of a tick's reads at 1,000 sessions (the lstats are the same).
        text = os.fspath(path)
        if text == self._root_text:
            return
        if not text.startswith(self._root_prefix):
            raise ValueError(f"{path} is not inside the state dir {self.root}")
        current = self._root_text.rstrip(os.sep)
        for part in text[len(self._root_prefix) :].split(os.sep):
            if not part:
                continue
            current = current + os.sep + part
            try:
                info = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                return  # nothing further down exists
            if stat.S_ISLNK(info.st_mode):
                self.quarantine_link(Path(current))
                return

    def quarantine_link(self, link: Path) -> None:
        try:
            target = os.readlink(link)
        except OSError:
            target = "?"
        reason = (
            f"a symbolic link (to {target}) where aod keeps its own file or directory; "
            "aod never reads or writes through links in its state dir"
        )
        try:
            moved = self.move_to_quarantine(link, reason)
        except FileNotFoundError:
            if os.path.lexists(link):
                raise
            return  # another thread moved it first
        self._on_link(moved)

    def move_to_quarantine(self, path: Path, reason: str) -> Quarantined:
        """Move `path` aside to quarantine/, never deleting it and never replacing anything."""
        quarantine = self.root / QUARANTINE_DIR
        if os.path.islink(quarantine):  # not guard(): it would quarantine into the link
            raise OSError(errno.ELOOP, f"{quarantine} is a symbolic link; replace it with a directory")
        make_private_dir(quarantine)  # before prepare() (the lock file) it may not exist yet
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        # e.g. 20250102T030405Z-sessions.fix-login.session.json: when, and where it came from.
        name = f"{stamp}-" + ".".join(path.relative_to(self.root).parts)
        return Quarantined(original=path, moved_to=move_into(quarantine, path, name), reason=reason)

    def read(self, path: Path) -> bytes:
        """The bytes of the file at `path` (FileNotFoundError if there is none)."""
        self.guard(path)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def replace(self, path: Path, data: bytes) -> None:
        self.guard(path)
        replace_atomically(path, data)

    def mkdir(self, path: Path) -> None:
        self.guard(path)
        make_private_dir(path)

    def append(self, path: Path, entries: list[Any]) -> None:
        self.guard(path)
        append_lines(path, entries)

    def is_dir(self, path: Path) -> bool:
        self.guard(path)
        return path.is_dir()

    def exists(self, path: Path) -> bool:
        self.guard(path)
        return path.exists()
