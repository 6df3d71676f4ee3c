"""The state directory. Nothing else in aod reads or writes it (docs/storage.md).

    <root>/aod.lock                      flock'd by the running aod; holds its pid
    <root>/sessions/<id>/session.json    the session record (pretty JSON, atomic replace)
    <root>/sessions/<id>/journal.jsonl   append-only events, one JSON object per line
    <root>/ledger/                       reaction intents and outcomes (later)
    <root>/archive/<id>/                 ended sessions, moved here whole and kept
    <root>/quarantine/                   files that failed to decode, moved aside, never deleted
    <root>/ports.json                    the port blocks held by sessions (AO_PORT_BASE)

Guarantees: a crash at any instant leaves every record old or new, never torn; a write based on
a stale `rev` is refused (`StaleRevision`), so concurrent read-modify-write cycles cannot lose
updates; a record this aod cannot decode is quarantined and reported, and aod carries on.

Every operation has a synchronous core (`*_sync`, usable from any thread or from a plain script
such as the crash-test writer) and an async face for the daemon, which runs the same core in a
worker thread (`trio.to_thread.run_sync`) so a slow disk never stalls the event loop. Call
`acquire_lock()` and then `prepare()` before anything else.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

import msgspec
import structlog
import trio

from aod.model import (
    SCHEMA_VERSION,
    SESSION_ID_PATTERN,
    Delivery,
    PortBlock,
    PortBlocks,
    Project,
    Session,
    SessionLedger,
    SessionUsage,
    validate_project_name,
    validate_session_id,
)
from aod.lanes import thread_limiter
from aod.paths import ensure_private_dir
from aod.redact import DEFAULT as NO_EXTRA_REDACTION
from aod.redact import Redactor, fields

T = TypeVar("T")

SESSIONS_DIR: Final = "sessions"
PROJECTS_DIR: Final = "projects"
COUNTERS_DIR: Final = "counters"
OUTBOX_DIR: Final = "outbox"
LEDGER_DIR: Final = "ledger"
ARCHIVE_DIR: Final = "archive"
QUARANTINE_DIR: Final = "quarantine"
FORGE_DIR: Final = "forge"
LOCK_FILE: Final = "aod.lock"
SESSION_FILE: Final = "session.json"
JOURNAL_FILE: Final = "journal.jsonl"
LEDGER_FILE: Final = "reactions.json"
USAGE_FILE: Final = "usage.json"
PORTS_FILE: Final = "ports.json"
HIGHEST_PORT: Final = 65535
# Temp files are hidden siblings of their target, `.<name>.<random>.tmp`, so that os.replace
# stays within one directory (one filesystem) and prepare() can recognise crash leftovers.
TEMP_PREFIX: Final = "."
TEMP_SUFFIX: Final = ".tmp"
TAIL_BLOCK_BYTES: Final = 64 * 1024

QuarantineCallback = Callable[[Path, Path, str], None]
"""on_quarantine(original_path, quarantine_path, reason)"""


class AlreadyRunning(Exception):
    """Another process holds the state directory's lock."""

    def __init__(self, pid: int | None, lock_path: Path) -> None:
        self.pid = pid
        self.lock_path = lock_path
        holder = f"pid {pid}" if pid is not None else "a process that has not written its pid yet"
        super().__init__(
            f"another aod is already running ({holder}); it holds {lock_path}. "
            "Stop that one first, or point this one at another state directory (--state-dir)."
        )


class StaleRevision(Exception):
    """A write was based on an older revision than the one on disk. Re-read, re-apply, retry."""

    def __init__(self, session_id: str, expected_rev: int, actual_rev: int) -> None:
        self.session_id = session_id
        self.expected_rev = expected_rev
        self.actual_rev = actual_rev
        super().__init__(
            f"session {session_id}: the write was based on rev {expected_rev}, but the stored "
            f"record is at rev {actual_rev}; re-read it and apply the change again"
        )


class UnsupportedSchema(Exception):
    """A record was written by a newer aod. It is left exactly as it is: neither rewritten
    (which would drop what this version does not know) nor quarantined (it is not corrupt)."""

    def __init__(self, path: Path, schema: int) -> None:
        self.path = path
        self.schema = schema
        super().__init__(
            f"{path} was written by a newer aod (record schema {schema}; this aod understands "
            f"schema {SCHEMA_VERSION} and older). Upgrade aod; the file has been left untouched."
        )


class NoFreePorts(Exception):
    """Every block of ports between the configured base and 65535 is held by a session."""


class NoSuchSession(LookupError):
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(f"no session {session_id!r} in the state directory")


@dataclass(frozen=True)
class Quarantined:
    original: Path
    moved_to: Path
    reason: str


class _Corrupt(Exception):
    """Internal: the bytes of a record cannot be decoded; `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Header(msgspec.Struct):
    """The two fields every record has, decoded first: the schema decides how (and whether) to
    decode the rest, so a newer record is recognised even if its other fields changed shape."""

    schema: int
    rev: int


# ---------------------------------------------------------------------------------------------
# Encoding.
# ---------------------------------------------------------------------------------------------


def encode_record(record: msgspec.Struct) -> bytes:
    """The exact bytes a record is stored as. Indented, so a human can read (and in an
    emergency repair) a record with an editor; deterministic, so unchanged records compare equal."""
    return msgspec.json.format(msgspec.json.encode(record), indent=2) + b"\n"


R = TypeVar("R", bound=msgspec.Struct)


@dataclass(frozen=True)
class TickRead:
    """What the tick reads of one session's files besides its record (`Store.tick_reads`)."""

    ledger: SessionLedger
    pending: int
    """Messages waiting in the session's outbox."""


def _decode_session(data: bytes, path: Path, expected_id: str) -> Session:
    session = _decode_record(data, path, Session)
    if session.id != expected_id:
        raise _Corrupt(f"record id {session.id!r} does not match its directory {expected_id!r}")
    return session


def _decode_record(data: bytes, path: Path, kind: type[R]) -> R:
    try:
        header = msgspec.json.decode(data, type=_Header)
    except msgspec.DecodeError as error:
        raise _Corrupt(f"no valid record header: {error}") from None
    if header.schema > SCHEMA_VERSION:
        raise UnsupportedSchema(path, header.schema)
    if header.schema < 1 or header.rev < 0:
        raise _Corrupt(f"impossible header: schema {header.schema}, rev {header.rev}")
    # An older schema decodes with today's type: fields added since take their defaults, and the
    # next write stores the record at SCHEMA_VERSION. (Incompatible changes would migrate here.)
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as error:
        raise _Corrupt(str(error)) from None


def _decode_journal_line(line: bytes) -> dict[str, Any] | None:
    """An entry, or None for a blank line or the remains of an append cut short by a crash
    (which a later append pushed off the end of the file by starting on a fresh line)."""
    if not line.strip():
        return None
    try:
        value = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------------------------------
# Filesystem primitives (synchronous).
# ---------------------------------------------------------------------------------------------


def _fsync_dir(path: Path) -> None:
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


def _make_private_dir(path: Path) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        return
    _fsync_dir(path.parent)


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
    _fsync_dir(path.parent)


def _is_temp_leftover(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def _append_lines(path: Path, entries: list[Any]) -> None:
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
        _fsync_dir(path.parent)  # the file may be new: make its name durable too


def _claim_unused_name(directory: Path, base: str, *, as_directory: bool) -> Path:
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


def _complete_lines_backwards(
    fd: int, size: int, block: int = TAIL_BLOCK_BYTES
) -> Iterator[bytes]:
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


def _journal_file_tail(path: Path, n: int) -> list[dict[str, Any]]:
    """The last `n` complete entries of a journal, oldest first; [] when it does not exist."""
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    if n == 0:
        return []
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        return []
    entries: list[dict[str, Any]] = []
    try:
        for line in _complete_lines_backwards(fd, os.fstat(fd).st_size):
            entry = _decode_journal_line(line)
            if entry is not None:
                entries.append(entry)
                if len(entries) == n:
                    break
    finally:
        os.close(fd)
    entries.reverse()
    return entries


def _free_block(held: Any, first_port: int, size: int) -> int:
    """The lowest first_port + k * size whose `size` ports overlap no block in `held`."""
    taken = sorted((block.first, block.first + block.size) for block in held)
    candidate = first_port
    while candidate + size - 1 <= HIGHEST_PORT:
        clash = next((end for start, end in taken if start < candidate + size and candidate < end), None)
        if clash is None:
            return candidate
        candidate = first_port + -(-(clash - first_port) // size) * size  # the next block boundary after it
    raise NoFreePorts(
        f"no free block of {size} ports between {first_port} and {HIGHEST_PORT}: every one is held by a "
        "session; `aoctl cleanup` frees those of ended sessions (or lower defaults.port_block)"
    )


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdecimal() else None


# ---------------------------------------------------------------------------------------------
# The store.
# ---------------------------------------------------------------------------------------------


class Store:
    """The state directory at `root`. Thread-safe; one instance per process is expected.

    `on_quarantine(original_path, quarantine_path, reason)` is called once per quarantined file,
    in the caller's thread (for the async methods: in the calling trio task, after the worker
    thread has finished), after the warning has been logged.
    """

    def __init__(self, root: Path, on_quarantine: QuarantineCallback | None = None) -> None:
        self.root = Path(root)
        self.on_quarantine = on_quarantine
        self._lock_fd: int | None = None
        # One lock per session id: a read-compare-write of a record (or a journal append, or an
        # archive move) is never interleaved with another on the same session in this process.
        self._session_locks: dict[str, threading.Lock] = {}
        self._session_locks_guard = threading.Lock()
        self._newer_reported: set[str] = set()
        # Symbolic links found (and quarantined) by any thread, announced by the next call to
        # finish in its caller's thread (see _guard).
        self._links_found: list[Quarantined] = []
        self._links_guard = threading.Lock()
        # Journal entries are stored with secrets taken out (the daemon sets its config's).
        self.redactor: Callable[[], Redactor] = lambda: NO_EXTRA_REDACTION

    @property
    def lock_path(self) -> Path:
        return self.root / LOCK_FILE

    # -- start-up --------------------------------------------------------------------------

    def acquire_lock(self) -> None:
        """Take the single-instance lock or raise AlreadyRunning naming the holder's pid.

        flock is tied to the open file, so the kernel drops it when this process dies, however
        it dies; there is no stale lock to clean up. The fd is close-on-exec so that children
        (tmux, agents) never inherit it and keep the lock alive after aod exits. Idempotent.
        """
        if self._lock_fd is not None:
            return
        ensure_private_dir(self.root)
        # No O_TRUNC: until we hold the lock, the file's content is the holder's pid.
        self._guard(self.lock_path)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(holder, self.lock_path) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd

    def release_lock(self) -> None:
        """Release the lock (also released automatically when the process exits). The file is
        kept: deleting a lock file lets two processes lock two different files."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)  # leave no pid behind for a human to chase
        finally:
            os.close(fd)

    def prepare(self) -> None:
        """Create the layout (directories 0700, owned by us) and delete temp files left by a
        crash mid-write. Call it while holding the lock: another aod's temp files are live."""
        ensure_private_dir(self.root)
        for name in (SESSIONS_DIR, PROJECTS_DIR, COUNTERS_DIR, LEDGER_DIR, ARCHIVE_DIR, QUARANTINE_DIR, FORGE_DIR):
            ensure_private_dir(self.root / name)
        swept = self._sweep_temp_leftovers()
        if swept:
            structlog.get_logger().info(
                "store.swept_temp_files", count=len(swept), files=[str(p) for p in swept]
            )

    def _sweep_temp_leftovers(self) -> list[Path]:
        # Only where aod writes; archive/ and quarantine/ are left exactly as they are.
        directories = [self.root]
        for name in (SESSIONS_DIR, PROJECTS_DIR, COUNTERS_DIR, LEDGER_DIR, FORGE_DIR):
            directories.extend(Path(path) for path, _, _ in os.walk(self.root / name))
        swept: list[Path] = []
        for directory in directories:
            with os.scandir(directory) as entries:
                leftovers = [
                    Path(entry.path)
                    for entry in entries
                    if _is_temp_leftover(entry.name) and entry.is_file(follow_symlinks=False)
                ]
            for path in leftovers:
                path.unlink(missing_ok=True)
                swept.append(path)
        return swept

    # -- async API (for the daemon) --------------------------------------------------------

    async def count_sessions(self) -> int:
        return await self._in_thread(lambda _found: self._count_sessions())

    async def list_sessions(self) -> list[Session]:
        return await self._in_thread(self._list_sessions)

    async def get_session(self, id: str) -> Session | None:
        return await self._in_thread(lambda found: self._get_session(id, found))

    async def put_session(self, session: Session, expected_rev: int) -> Session:
        return await self._in_thread(lambda found: self._put_session(session, expected_rev, found))

    async def append_journal(self, id: str, entry: msgspec.Struct | dict[str, Any]) -> None:
        await self._in_thread(lambda _found: self._append_journal(id, entry))

    async def journal_tail(self, id: str, n: int) -> list[dict[str, Any]]:
        return await self._in_thread(lambda _found: self._journal_tail(id, n))

    async def archive_session(self, id: str) -> None:
        await self._in_thread(lambda _found: self._archive_session(id))

    async def archived_journal_tail(self, id: str, n: int) -> list[dict[str, Any]] | None:
        return await self._in_thread(lambda _found: self._archived_journal_tail(id, n))

    # -- sync API (same semantics; for scripts, tests and threads) -------------------------

    def count_sessions_sync(self) -> int:
        return self._inline(lambda _found: self._count_sessions())

    def list_sessions_sync(self) -> list[Session]:
        return self._inline(self._list_sessions)

    def get_session_sync(self, id: str) -> Session | None:
        return self._inline(lambda found: self._get_session(id, found))

    def put_session_sync(self, session: Session, expected_rev: int) -> Session:
        return self._inline(lambda found: self._put_session(session, expected_rev, found))

    def append_journal_sync(self, id: str, entry: msgspec.Struct | dict[str, Any]) -> None:
        self._inline(lambda _found: self._append_journal(id, entry))

    def journal_tail_sync(self, id: str, n: int) -> list[dict[str, Any]]:
        return self._inline(lambda _found: self._journal_tail(id, n))

    def archive_session_sync(self, id: str) -> None:
        self._inline(lambda _found: self._archive_session(id))

    # -- plumbing: where the work runs, and reporting quarantines in the caller's thread ------

    async def _in_thread(self, work: Callable[[list[Quarantined]], T]) -> T:
        found: list[Quarantined] = []
        try:
            return await trio.to_thread.run_sync(work, found, limiter=thread_limiter())
        finally:
            self._announce(found)

    def _inline(self, work: Callable[[list[Quarantined]], T]) -> T:
        found: list[Quarantined] = []
        try:
            return work(found)
        finally:
            self._announce(found)

    def _announce(self, found: list[Quarantined]) -> None:
        with self._links_guard:
            found, self._links_found = [*found, *self._links_found], []
        for item in found:
            structlog.get_logger().warning(
                "store.quarantined",
                path=str(item.original),
                moved_to=str(item.moved_to),
                reason=item.reason,
                hint="aod cannot decode this file and moved it aside; see docs/storage.md",
            )
            if self.on_quarantine is not None:
                self.on_quarantine(item.original, item.moved_to, item.reason)

    # -- never through a symbolic link -----------------------------------------------------------
    # Agents run as the same user and may leave links anywhere they can write; a link inside the
    # state dir would make a write land outside it (a journal appended to any file, an outbox
    # written into a workspace) or a read show another file. Every path below the root is
    # checked component by component (lstat) before it is opened, created or listed, and the
    # final open refuses a link too (O_NOFOLLOW; temp files are created O_EXCL).

    def _guard(self, path: Path) -> None:
        """Make sure no component of `path` below the root is a symbolic link: one that is is
        moved to quarantine/ (the link itself, never its target) and logged, so the caller then
        finds nothing there and makes a real file or directory (or reports it missing)."""
        try:
            parts = path.relative_to(self.root).parts
        except ValueError:
            raise ValueError(f"{path} is not inside the state dir {self.root}") from None
        current = self.root
        for part in parts:
            current = current / part
            try:
                info = os.lstat(current)
            except (FileNotFoundError, NotADirectoryError):
                return  # nothing further down exists
            if stat.S_ISLNK(info.st_mode):
                self._quarantine_link(current)
                return

    def _quarantine_link(self, link: Path) -> None:
        try:
            target = os.readlink(link)
        except OSError:
            target = "?"
        reason = (
            f"a symbolic link (to {target}) where aod keeps its own file or directory; "
            "aod never reads or writes through links in its state dir"
        )
        try:
            moved = self._quarantine(link, reason)
        except FileNotFoundError:
            if os.path.lexists(link):
                raise
            return  # another thread moved it first
        with self._links_guard:
            self._links_found.append(moved)

    def _read(self, path: Path) -> bytes:
        """The bytes of the file at `path` (FileNotFoundError if there is none), never through
        a link."""
        self._guard(path)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def _replace(self, path: Path, data: bytes) -> None:
        self._guard(path)
        replace_atomically(path, data)

    def _mkdir(self, path: Path) -> None:
        self._guard(path)
        _make_private_dir(path)

    def _append(self, path: Path, entries: list[Any]) -> None:
        self._guard(path)
        _append_lines(path, entries)

    def _is_dir(self, path: Path) -> bool:
        self._guard(path)
        return path.is_dir()

    def _exists(self, path: Path) -> bool:
        self._guard(path)
        return path.exists()

    def _lock_for(self, session_id: str) -> threading.Lock:
        with self._session_locks_guard:
            return self._session_locks.setdefault(session_id, threading.Lock())

    def _session_dir(self, session_id: str) -> Path:
        # The one place a session id becomes a path: validated here, so no caller can escape.
        return self.root / SESSIONS_DIR / validate_session_id(session_id)

    # -- the synchronous core --------------------------------------------------------------

    def _session_ids(self) -> list[str]:
        """Session directories, sorted. Entries that are not valid ids or not real directories
        were not made by aod and are ignored (not touched), except links named like a session:
        they stand where a session's directory would be, and are quarantined."""
        sessions = self.root / SESSIONS_DIR
        self._mkdir(sessions)
        ids, links = [], []
        with os.scandir(sessions) as entries:
            for entry in entries:
                if not SESSION_ID_PATTERN.fullmatch(entry.name):
                    continue
                if entry.is_symlink():
                    links.append(Path(entry.path))
                elif entry.is_dir(follow_symlinks=False):
                    ids.append(entry.name)
        for link in links:
            self._quarantine_link(link)
        return sorted(ids)

    def _count_sessions(self) -> int:
        sessions = self.root / SESSIONS_DIR
        return sum(1 for sid in self._session_ids() if self._exists(sessions / sid / SESSION_FILE))

    def _list_sessions(self, found: list[Quarantined]) -> list[Session]:
        sessions = []
        for session_id in self._session_ids():
            try:
                loaded = self._get_session(session_id, found)
            except UnsupportedSchema as newer:
                # Written by a newer aod: left exactly as it is, said once, and the rest goes on.
                if session_id not in self._newer_reported:
                    self._newer_reported.add(session_id)
                    structlog.get_logger().warning(
                        "store.newer_schema", session=session_id, detail=str(newer),
                        fix="upgrade aod; this record was written by a newer version and is left untouched",
                    )
                continue
            if loaded is not None:
                sessions.append(loaded)
        return sessions

    def _get_session(self, session_id: str, found: list[Quarantined]) -> Session | None:
        validate_session_id(session_id)  # before the id becomes a key in the lock table
        with self._lock_for(session_id):
            loaded = self._read_session_locked(session_id, found)
        return None if loaded is None else loaded[0]

    def _read_session_locked(
        self, session_id: str, found: list[Quarantined]
    ) -> tuple[Session, bytes] | None:
        """The record and its exact bytes; None if absent or just quarantined. Caller holds the
        session's lock (quarantining moves the file)."""
        path = self._session_dir(session_id) / SESSION_FILE
        try:
            data = self._read(path)
        except FileNotFoundError:
            return None
        try:
            return _decode_session(data, path, session_id), data
        except _Corrupt as corrupt:
            found.append(self._quarantine(path, corrupt.reason))
            return None

    def _put_session(
        self, session: Session, expected_rev: int, found: list[Quarantined]
    ) -> Session:
        session_id = validate_session_id(session.id)
        if expected_rev < 0:
            raise ValueError(f"expected_rev must be >= 0 (0 for a new record), not {expected_rev}")
        with self._lock_for(session_id):
            current = self._read_session_locked(session_id, found)
            current_rev = 0 if current is None else current[0].rev
            if current_rev != expected_rev:
                raise StaleRevision(session_id, expected_rev, current_rev)
            if current is not None:
                stored, stored_bytes = current
                same = msgspec.structs.replace(session, schema=SCHEMA_VERSION, rev=current_rev)
                if encode_record(same) == stored_bytes:
                    return stored  # nothing changed: no write, no new rev, mtime untouched
            new = msgspec.structs.replace(session, schema=SCHEMA_VERSION, rev=expected_rev + 1)
            directory = self._session_dir(session_id)
            self._mkdir(directory)
            self._replace(directory / SESSION_FILE, encode_record(new))
            return new

    def _quarantine(self, path: Path, reason: str) -> Quarantined:
        quarantine = self.root / QUARANTINE_DIR
        if os.path.islink(quarantine):  # not _guard: it would quarantine into the link
            raise OSError(errno.ELOOP, f"{quarantine} is a symbolic link; replace it with a directory")
        _make_private_dir(quarantine)  # before prepare() (the lock file) it may not exist yet
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        # e.g. 20250102T030405Z-sessions.fix-login.session.json: when, and where it came from.
        base = f"{stamp}-" + ".".join(path.relative_to(self.root).parts)
        target = _claim_unused_name(quarantine, base, as_directory=False)
        os.replace(path, target)  # over our own empty placeholder, nothing else
        _fsync_dir(quarantine)
        _fsync_dir(path.parent)
        return Quarantined(original=path, moved_to=target, reason=reason)

    def _append_journal(self, session_id: str, entry: msgspec.Struct | dict[str, Any]) -> None:
        directory = self._session_dir(session_id)
        plain = msgspec.to_builtins(entry)
        if isinstance(plain, dict):
            entry = fields(self.redactor(), plain)
        with self._lock_for(session_id):
            try:
                self._append(directory / JOURNAL_FILE, [entry])
            except FileNotFoundError:
                raise NoSuchSession(session_id) from None

    def _journal_tail(self, session_id: str, n: int) -> list[dict[str, Any]]:
        path = self._session_dir(session_id) / JOURNAL_FILE
        self._guard(path)
        return self._shown(_journal_file_tail(path, n))

    def _shown(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # Also on the way out: journals written before redaction (or before a new pattern).
        redactor = self.redactor()
        return [fields(redactor, entry) for entry in entries]

    def _archived_journal_tail(self, session_id: str, n: int) -> list[dict[str, Any]] | None:
        """The journal of the session archived last under this id (archive/<id>, or the
        highest archive/<id>.N); None when no session of that id was archived."""
        base = validate_session_id(session_id)
        archive = self.root / ARCHIVE_DIR
        found: list[tuple[int, Path]] = []
        if self._is_dir(archive):
            with os.scandir(archive) as entries:
                for entry in entries:
                    name, dot, number = entry.name.partition(".")
                    reuse = int(number) if dot and number.isdecimal() else (0 if not dot else None)
                    if name == base and reuse is not None and entry.is_dir(follow_symlinks=False):
                        found.append((reuse, Path(entry.path)))
        if not found:
            return None
        path = max(found)[1] / JOURNAL_FILE
        self._guard(path)
        return self._shown(_journal_file_tail(path, n))

    def _archive_session(self, session_id: str) -> Path:
        source = self._session_dir(session_id)
        archive = self.root / ARCHIVE_DIR
        with self._lock_for(session_id):
            if not self._is_dir(source):
                raise NoSuchSession(session_id)
            # archive/<id>, or archive/<id>.1, ... when a session of that id was archived before.
            # Ids contain no '.', so these names never collide with another session's.
            self._mkdir(archive)
            target = _claim_unused_name(archive, session_id, as_directory=True)
            os.rename(source, target)  # a directory may replace an empty one: our placeholder
            _fsync_dir(archive)
            _fsync_dir(source.parent)
        return target

    # -- projects ------------------------------------------------------------------------------

    def _project_path(self, name: str) -> Path:
        return self.root / PROJECTS_DIR / f"{validate_project_name(name)}.json"

    def _get_project(self, name: str, found: list[Quarantined]) -> Project | None:
        path = self._project_path(name)
        with self._lock_for(f"project:{name}"):
            try:
                data = self._read(path)
            except FileNotFoundError:
                return None
            try:
                project = _decode_record(data, path, Project)
            except _Corrupt as corrupt:
                found.append(self._quarantine(path, corrupt.reason))
                return None
        if project.name != name:
            found.append(self._quarantine(path, f"record name {project.name!r} != file {name!r}"))
            return None
        return project

    def _list_projects(self, found: list[Quarantined]) -> list[Project]:
        projects = []
        self._mkdir(self.root / PROJECTS_DIR)
        with os.scandir(self.root / PROJECTS_DIR) as entries:
            names = sorted(
                entry.name[: -len(".json")]
                for entry in entries
                if entry.name.endswith(".json") and not entry.name.startswith(".")
            )
        for name in names:
            try:
                validate_project_name(name)
            except ValueError:
                continue
            project = self._get_project(name, found)
            if project is not None:
                projects.append(project)
        return projects

    def _put_project(self, project: Project, expected_rev: int, found: list[Quarantined]) -> Project:
        path = self._project_path(project.name)
        with self._lock_for(f"project:{project.name}"):
            return self._compare_and_replace(path, project, project.name, expected_rev, found)

    def _compare_and_replace(self, path: Path, record: R, name: str, expected_rev: int, found: list[Quarantined]) -> R:
        """Write `record` at `path` as rev + 1 if the stored rev is `expected_rev` (0: none yet).
        The caller holds the record's lock. A stored file that does not decode is quarantined
        and counts as rev 0."""
        current_rev = 0
        try:
            current_rev = _decode_record(self._read(path), path, type(record)).rev
        except FileNotFoundError:
            pass
        except _Corrupt as corrupt:
            found.append(self._quarantine(path, corrupt.reason))
        if current_rev != expected_rev:
            raise StaleRevision(name, expected_rev, current_rev)
        new = msgspec.structs.replace(record, schema=SCHEMA_VERSION, rev=expected_rev + 1)
        self._replace(path, encode_record(new))
        return new

    def _remove_project(self, name: str) -> bool:
        """Move the project's record to archive/projects/ (kept, like everything removed)."""
        path = self._project_path(name)
        with self._lock_for(f"project:{name}"):
            if not self._exists(path):
                return False
            archive = self.root / ARCHIVE_DIR / PROJECTS_DIR
            self._mkdir(archive)
            target = _claim_unused_name(archive, path.name, as_directory=False)
            os.replace(path, target)  # a link is moved as the link: nothing is followed
            _fsync_dir(archive)
            _fsync_dir(path.parent)
            return True

    async def list_projects(self) -> list[Project]:
        return await self._in_thread(self._list_projects)

    async def get_project(self, name: str) -> Project | None:
        return await self._in_thread(lambda found: self._get_project(name, found))

    async def put_project(self, project: Project, expected_rev: int) -> Project:
        return await self._in_thread(lambda found: self._put_project(project, expected_rev, found))

    async def remove_project(self, name: str) -> bool:
        return await self._in_thread(lambda _found: self._remove_project(name))

    # -- session ids -----------------------------------------------------------------------------

    def _reserve_session_id(self, prefix: str) -> str:
        """The next free `<prefix>-<n>`, made to exist (its directory) before it is returned, so
        two spawns can never get the same id and an archived id is never handed out again.

        The counter only ever grows; a crash between bumping it and creating the directory
        skips a number, which is harmless."""
        validate_session_id(f"{prefix}-1")
        counter = self.root / COUNTERS_DIR / f"{prefix}.json"
        with self._lock_for(f"counter:{prefix}"):
            try:
                n = int(msgspec.json.decode(self._read(counter)).get("next", 1))
            except (FileNotFoundError, msgspec.DecodeError, AttributeError, TypeError, ValueError):
                n = 1
            while True:
                session_id = f"{prefix}-{n}"
                n += 1
                taken = self._exists(self.root / ARCHIVE_DIR / session_id)
                if not taken:
                    self._replace(counter, msgspec.json.encode({"next": n}))
                    self._guard(self.root / SESSIONS_DIR / session_id)
                    try:
                        os.mkdir(self.root / SESSIONS_DIR / session_id, 0o700)
                    except FileExistsError:
                        continue
                    _fsync_dir(self.root / SESSIONS_DIR)
                    return session_id

    async def reserve_session_id(self, prefix: str) -> str:
        return await self._in_thread(lambda _found: self._reserve_session_id(prefix))

    def _release_session_id(self, session_id: str) -> None:
        """Give up a reserved id whose session never got a record (spawn failed early): remove
        its empty directory. The number is not reused."""
        directory = self._session_dir(session_id)
        with self._lock_for(session_id):
            if self._is_dir(directory) and not self._exists(directory / SESSION_FILE):
                shutil.rmtree(directory, ignore_errors=True)

    async def release_session_id(self, session_id: str) -> None:
        await self._in_thread(lambda _found: self._release_session_id(session_id))

    # -- port blocks: one allocator for every project's sessions --------------------------------
    # A block is held while its session's directory is in sessions/: archiving (cleanup) or
    # giving up a reserved id frees it, and a crash between any two steps leaves nothing held
    # by a session that is gone (such entries are dropped at the next allocation).

    def _allocate_ports(self, session_id: str, first_port: int, size: int, found: list[Quarantined]) -> int:
        validate_session_id(session_id)
        if size < 1 or first_port < 1:
            raise ValueError(f"bad port block: {size} ports from {first_port}")
        path = self.root / PORTS_FILE
        with self._lock_for("ports"):
            try:
                stored: PortBlocks | None = _decode_record(self._read(path), path, PortBlocks)
            except FileNotFoundError:
                stored = None
            except _Corrupt as corrupt:
                found.append(self._quarantine(path, corrupt.reason))
                stored = None
            present = set(self._session_ids())
            # No allocator yet (or it was unreadable): the blocks sessions already have are held.
            held = dict(stored.blocks) if stored is not None else self._blocks_in_records(size, found)
            held = {sid: block for sid, block in held.items() if sid in present}
            mine = held.get(session_id)
            if mine is None:
                mine = PortBlock(first=_free_block(held.values(), first_port, size), size=size)
                held[session_id] = mine
            new = PortBlocks(blocks=dict(sorted(held.items())))
            if stored is None or new.blocks != stored.blocks:
                self._compare_and_replace(path, new, "ports", stored.rev if stored else 0, found)
            return mine.first

    def _blocks_in_records(self, size: int, found: list[Quarantined]) -> dict[str, PortBlock]:
        held = {}
        for session_id in self._session_ids():
            session = self._get_session(session_id, found)
            if session is not None and session.port_base > 0:
                held[session_id] = PortBlock(first=session.port_base, size=size)
        return held

    async def allocate_ports(self, session_id: str, first_port: int, size: int) -> int:
        """The first port of a block of `size` ports held by `session_id` alone among the sessions
        on disk: the lowest free one of first_port + k * size. Asking again for the same session
        gives the same block. Raises NoFreePorts when none fits below 65536."""
        return await self._in_thread(lambda found: self._allocate_ports(session_id, first_port, size, found))

    def allocate_ports_sync(self, session_id: str, first_port: int, size: int) -> int:
        return self._inline(lambda found: self._allocate_ports(session_id, first_port, size, found))

    # -- the outbox: messages waiting to be delivered to a session's agent ----------------------

    def _outbox(self, session_id: str) -> Path:
        return self._session_dir(session_id) / OUTBOX_DIR

    def _enqueue(
        self, session_id: str, text: str, source: str, queued_at: str, fingerprint: str = "", marker: str = ""
    ) -> Delivery:
        directory = self._session_dir(session_id)
        outbox = directory / OUTBOX_DIR
        with self._lock_for(f"outbox:{session_id}"):
            if not self._is_dir(directory):
                raise NoSuchSession(session_id)
            self._mkdir(outbox)
            seq_file = outbox / "seq"
            try:
                seq = int(self._read(seq_file).strip() or b"0") + 1
            except (FileNotFoundError, ValueError):
                seq = 1 + max((int(p.stem) for p in outbox.glob("*.json") if p.stem.isdecimal()), default=0)
            self._replace(seq_file, str(seq).encode())
            delivery = Delivery(
                seq=seq, text=text, source=source, queued_at=queued_at, fingerprint=fingerprint, marker=marker
            )
            self._replace(outbox / f"{seq:08d}.json", msgspec.json.encode(delivery))
            return delivery

    def _pending(self, session_id: str, found: list[Quarantined]) -> list[Delivery]:
        outbox = self._outbox(session_id)
        with self._lock_for(f"outbox:{session_id}"):
            self._guard(outbox)
            try:
                paths = sorted(p for p in outbox.glob("*.json") if p.stem.isdecimal())
            except FileNotFoundError:
                return []
            pending = []
            for path in paths:
                try:
                    pending.append(msgspec.json.decode(self._read(path), type=Delivery))
                except FileNotFoundError:
                    continue
                except msgspec.DecodeError as error:
                    found.append(self._quarantine(path, str(error)))
            return pending

    def _complete(self, session_id: str, seq: int) -> bool:
        path = self._outbox(session_id) / f"{seq:08d}.json"
        with self._lock_for(f"outbox:{session_id}"):
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            _fsync_dir(path.parent)
            return True

    def _note_attempt(self, session_id: str, seq: int, attempts: int) -> None:
        path = self._outbox(session_id) / f"{seq:08d}.json"
        with self._lock_for(f"outbox:{session_id}"):
            try:
                delivery = msgspec.json.decode(self._read(path), type=Delivery)
            except (FileNotFoundError, msgspec.DecodeError):
                return  # completed meanwhile, or quarantined by the next listing
            updated = msgspec.structs.replace(delivery, attempts=attempts)
            self._replace(path, msgspec.json.encode(updated))

    async def note_delivery_attempt(self, session_id: str, seq: int, attempts: int) -> None:
        """Record on the queued message how many delivery attempts it has had (a budget that
        survives restarts)."""
        await self._in_thread(lambda _found: self._note_attempt(session_id, seq, attempts))

    async def enqueue(
        self, session_id: str, text: str, source: str, queued_at: str, fingerprint: str = "", marker: str = ""
    ) -> Delivery:
        return await self._in_thread(
            lambda _f: self._enqueue(session_id, text, source, queued_at, fingerprint, marker)
        )

    async def pending_deliveries(self, session_id: str) -> list[Delivery]:
        return await self._in_thread(lambda found: self._pending(session_id, found))

    async def complete_delivery(self, session_id: str, seq: int) -> bool:
        """Remove a message from the outbox; True for the one call that removed it."""
        return await self._in_thread(lambda _found: self._complete(session_id, seq))

    def session_dir(self, session_id: str) -> Path:
        """For plugins that keep per-session files beside the record (process runtime logs)."""
        return self._session_dir(session_id)

    def _orphan_session_ids(self) -> list[str]:
        sessions = self.root / SESSIONS_DIR
        return [sid for sid in self._session_ids() if not self._exists(sessions / sid / SESSION_FILE)]

    async def orphan_session_ids(self) -> list[str]:
        """Reserved ids whose spawn never wrote a record (interrupted before its first write)."""
        return await self._in_thread(lambda _found: self._orphan_session_ids())

    # -- the reaction ledger -----------------------------------------------------------------------
    # sessions/<id>/reactions.json: it lives and is archived with its session, under the session's
    # lock, so an archive never leaves it behind and a late write never recreates a removed one.

    def _get_ledger(self, session_id: str, found: list[Quarantined]) -> SessionLedger:
        path = self._session_dir(session_id) / LEDGER_FILE
        with self._lock_for(session_id):
            try:
                data = self._read(path)
            except FileNotFoundError:
                return SessionLedger(session=session_id)
            try:
                return _decode_record(data, path, SessionLedger)
            except _Corrupt as corrupt:
                # A ledger that cannot be read is moved aside and started afresh: a reaction may
                # then repeat once, which the quarantine event makes visible.
                found.append(self._quarantine(path, corrupt.reason))
                return SessionLedger(session=session_id)

    def _put_ledger(self, ledger: SessionLedger, expected_rev: int, found: list[Quarantined]) -> SessionLedger:
        directory = self._session_dir(ledger.session)
        path = directory / LEDGER_FILE
        with self._lock_for(ledger.session):
            if not self._exists(directory / SESSION_FILE):
                raise NoSuchSession(ledger.session)  # archived (or never created): nothing to record
            return self._compare_and_replace(path, ledger, ledger.session, expected_rev, found)

    async def get_ledger(self, session_id: str) -> SessionLedger:
        return await self._in_thread(lambda found: self._get_ledger(session_id, found))

    async def put_ledger(self, ledger: SessionLedger, expected_rev: int) -> SessionLedger:
        """Compare-and-set like put_session; NoSuchSession once the session was archived."""
        return await self._in_thread(lambda found: self._put_ledger(ledger, expected_rev, found))

    def get_ledger_sync(self, session_id: str) -> SessionLedger:
        return self._inline(lambda found: self._get_ledger(session_id, found))

    # -- what one tick reads of every session ------------------------------------------------------

    def _tick_reads(self, session_ids: list[str], found: list[Quarantined]) -> dict[str, TickRead]:
        reads = {}
        for session_id in session_ids:
            try:
                reads[session_id] = TickRead(
                    ledger=self._get_ledger(session_id, found), pending=len(self._pending(session_id, found))
                )
            except (NoSuchSession, ValueError):
                continue  # archived meanwhile, or not an id: the tick reads it alone, or not at all
        return reads

    async def tick_reads(self, session_ids: list[str]) -> dict[str, TickRead]:
        """Each session's ledger and how many messages wait in its outbox, in ONE worker-thread
        job for all of them: a tick that asked per session and per file spent most of its time
        handing small jobs to threads and back. A session missing from the answer is read alone."""
        return await self._in_thread(lambda found: self._tick_reads(list(session_ids), found))

    # -- the local forge -----------------------------------------------------------------------------
    # forge/<project>/issues/<n>.json, forge/<project>/prs/<n>.json, forge/<project>/next.json
    # (one number sequence for both, so `#7` names one thing), forge/<project>/ci/<sha>.log.

    def _forge_dir(self, project: str) -> Path:
        return self.root / FORGE_DIR / validate_project_name(project)

    def _forge_path(self, project: str, kind: str, number: int) -> Path:
        if kind not in ("issues", "prs") or not isinstance(number, int) or number < 1:
            raise ValueError(f"bad forge record {kind}/{number}")
        return self._forge_dir(project) / kind / f"{number}.json"

    def _next_forge_number(self, project: str) -> int:
        directory = self._forge_dir(project)
        self._mkdir(directory)
        counter = directory / "next.json"
        with self._lock_for(f"forge-counter:{project}"):
            try:
                n = int(msgspec.json.decode(self._read(counter)).get("next", 1))
            except (FileNotFoundError, ValueError, AttributeError, msgspec.DecodeError):
                for kind in ("issues", "prs"):
                    self._guard(directory / kind)
                n = 1 + max(
                    (int(p.stem) for kind in ("issues", "prs") for p in (directory / kind).glob("*.json") if p.stem.isdecimal()),
                    default=0,
                )
            self._replace(counter, msgspec.json.encode({"next": n + 1}))
            return n

    def _get_forge_record(self, project: str, kind: str, number: int, type_: type[R], found: list[Quarantined]) -> R | None:
        path = self._forge_path(project, kind, number)
        with self._lock_for(f"forge:{project}:{kind}:{number}"):
            try:
                data = self._read(path)
            except FileNotFoundError:
                return None
            try:
                return _decode_record(data, path, type_)
            except _Corrupt as corrupt:
                found.append(self._quarantine(path, corrupt.reason))
                return None

    def _put_forge_record(self, kind: str, record: R, expected_rev: int, found: list[Quarantined]) -> R:
        project, number = record.project, record.number  # type: ignore[attr-defined]
        path = self._forge_path(project, kind, number)
        self._mkdir(path.parent.parent)
        self._mkdir(path.parent)
        with self._lock_for(f"forge:{project}:{kind}:{number}"):
            return self._compare_and_replace(path, record, f"{project}#{number}", expected_rev, found)

    def _list_forge_records(self, project: str, kind: str, type_: type[R], found: list[Quarantined]) -> list[R]:
        directory = self._forge_dir(project) / kind
        if not self._is_dir(directory):
            return []
        numbers = sorted(int(p.stem) for p in directory.glob("*.json") if p.stem.isdecimal())
        records = [self._get_forge_record(project, kind, n, type_, found) for n in numbers]
        return [r for r in records if r is not None]

    async def next_forge_number(self, project: str) -> int:
        return await self._in_thread(lambda _found: self._next_forge_number(project))

    async def get_forge_record(self, project: str, kind: str, number: int, type_: type[R]) -> R | None:
        return await self._in_thread(lambda found: self._get_forge_record(project, kind, number, type_, found))

    async def put_forge_record(self, kind: str, record: R, expected_rev: int) -> R:
        return await self._in_thread(lambda found: self._put_forge_record(kind, record, expected_rev, found))

    async def list_forge_records(self, project: str, kind: str, type_: type[R]) -> list[R]:
        return await self._in_thread(lambda found: self._list_forge_records(project, kind, type_, found))

    def ci_log_path(self, project: str, sha: str) -> Path:
        """Where the CI log of `sha` is kept (written with write_ci_log, read by anyone)."""
        if not re.fullmatch(r"[0-9a-f]{7,64}", sha):
            raise ValueError(f"not a commit sha: {sha!r}")
        return self._forge_dir(project) / "ci" / f"{sha}.log"

    async def write_ci_log(self, project: str, sha: str, data: bytes) -> Path:
        path = self.ci_log_path(project, sha)

        def write(_found: list[Quarantined]) -> Path:
            self._mkdir(path.parent.parent)
            self._mkdir(path.parent)
            self._replace(path, data)
            return path

        return await self._in_thread(write)

    # -- usage and cost --------------------------------------------------------------------------------
    # sessions/<id>/usage.json: where each session's usage reading got to, and its totals.
    # ledger/cost-YYYY-MM.jsonl: append-only, one line per priced batch; it outlives sessions.

    def _get_usage(self, session_id: str, found: list[Quarantined]) -> SessionUsage:
        path = self._session_dir(session_id) / USAGE_FILE
        with self._lock_for(session_id):
            try:
                return _decode_record(self._read(path), path, SessionUsage)
            except FileNotFoundError:
                return SessionUsage(session=session_id)
            except _Corrupt as corrupt:
                found.append(self._quarantine(path, corrupt.reason))
                return SessionUsage(session=session_id)

    def _put_usage(self, usage: SessionUsage, expected_rev: int, found: list[Quarantined]) -> SessionUsage:
        directory = self._session_dir(usage.session)
        with self._lock_for(usage.session):
            if not self._exists(directory / SESSION_FILE):
                raise NoSuchSession(usage.session)
            return self._compare_and_replace(directory / USAGE_FILE, usage, usage.session, expected_rev, found)

    async def get_usage(self, session_id: str) -> SessionUsage:
        return await self._in_thread(lambda found: self._get_usage(session_id, found))

    async def put_usage(self, usage: SessionUsage, expected_rev: int) -> SessionUsage:
        return await self._in_thread(lambda found: self._put_usage(usage, expected_rev, found))

    def _cost_path(self, month: str) -> Path:
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise ValueError(f"invalid month {month!r}: use YYYY-MM")
        return self.root / LEDGER_DIR / f"cost-{month}.jsonl"

    async def append_cost(self, month: str, entries: list[dict[str, Any]]) -> None:
        path = self._cost_path(month)

        def append(_found: list[Quarantined]) -> None:
            with self._lock_for(f"cost:{month}"):
                self._append(path, entries)

        if entries:
            await self._in_thread(append)

    async def read_cost(self, month: str) -> list[dict[str, Any]]:
        """Every entry of the month's ledger, in order; a line torn by a crash is skipped."""
        path = self._cost_path(month)

        def read(_found: list[Quarantined]) -> list[dict[str, Any]]:
            try:
                data = self._read(path)
            except FileNotFoundError:
                return []
            entries = []
            for line in data.split(b"\n"):
                try:
                    entry = msgspec.json.decode(line) if line.strip() else None
                except msgspec.DecodeError:
                    continue
                if isinstance(entry, dict):
                    entries.append(entry)
            return entries

        return await self._in_thread(read)
