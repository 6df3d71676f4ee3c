"""The root every record kind stands on: the state directory's files (never through a link),
one lock per key, the redactor, records read or quarantined, compare-and-set on `rev`, and the
reporting of quarantined files in the caller's thread once an operation has finished.

May import: aod.store.files, aod.store.codec, aod.store.errors, aod.model, aod.redact, structlog.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Final, TypeVar

import msgspec
import structlog

from aod.model import SCHEMA_VERSION, SESSION_ID_PATTERN, validate_session_id
from aod.redact import DEFAULT as NO_EXTRA_REDACTION
from aod.redact import Redactor
from aod.store.codec import Corrupt, decode_record, encode_record
from aod.store.errors import StaleRevision
from aod.store.files import Quarantined, StateFiles

T = TypeVar("T")
R = TypeVar("R", bound=msgspec.Struct)

SESSIONS_DIR: Final = "sessions"
SESSION_FILE: Final = "session.json"
ARCHIVE_DIR: Final = "archive"

QuarantineCallback = Callable[[Path, Path, str], None]
"""on_quarantine(original_path, quarantine_path, reason)"""

F = TypeVar("F", bound=Callable[..., object])


def operation(name: str) -> Callable[[F], F]:
    """Mark a record kind's method as the store operation `name`: Store gets `name` (async, in a
    worker thread) and `name_sync` (aod.store.faces). `{noun}` stands for the kind's NOUN."""

    def mark(method: F) -> F:
        method.store_operation = name  # type: ignore[attr-defined]
        return method

    return mark

# The files quarantined by the operation running in this context (see StateDir.collecting):
# each operation reports its own, in its caller's thread, after the worker thread has finished.
_quarantined_by_this_operation: ContextVar[list[Quarantined] | None] = ContextVar(
    "aod_store_quarantined", default=None
)


class StateDir(StateFiles):
    """The state directory at `root`, shared by the record kinds of one Store. Thread-safe."""

    def __init__(self, root: Path, on_quarantine: QuarantineCallback | None = None) -> None:
        super().__init__(Path(root), on_link=self._report_later)
        self.on_quarantine = on_quarantine
        # One lock per key (a session id, "project:<name>", ...): a read-compare-write of a
        # record (or a journal append, or an archive move) is never interleaved with another on
        # the same record in this process.
        self._locks: dict[str, threading.Lock] = {}
        self._session_dirs: dict[str, Path] = {}
        self._locks_guard = threading.Lock()
        # Files quarantined outside any operation (symbolic links found by the lock, say) or by
        # any thread, announced by the next operation to finish in its caller's thread.
        self._reported_later: list[Quarantined] = []
        self._reported_later_guard = threading.Lock()
        # Journal entries are stored with secrets taken out (the daemon sets its config's).
        self.redactor: Callable[[], Redactor] = lambda: NO_EXTRA_REDACTION

    def lock_for(self, key: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    def session_dir(self, session_id: str) -> Path:
        # The one place a session id becomes a path: validated here, so no caller can escape.
        # Made once per id: a tick asks for every session's several times (pathlib joins are dear).
        known = self._session_dirs.get(session_id)
        if known is None:
            if len(self._session_dirs) > 100_000:
                self._session_dirs.clear()
            known = self._session_dirs[session_id] = self.root / SESSIONS_DIR / validate_session_id(session_id)
        return known

    def session_ids(self) -> list[str]:
        """Session directories, sorted. Entries that are not valid ids or not real directories
        were not made by aod and are ignored (not touched), except links named like a session:
        they stand where a session's directory would be, and are quarantined."""
        sessions = self.root / SESSIONS_DIR
        self.mkdir(sessions)
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
            self.quarantine_link(link)
        return sorted(ids)

    def has_session_record(self, session_id: str) -> bool:
        return self.exists(self.session_dir(session_id) / SESSION_FILE)

    # -- records ----------------------------------------------------------------------------------

    def quarantine(self, path: Path, reason: str) -> None:
        """Move a file that does not decode aside; the operation reports it when it finishes."""
        moved = self.move_to_quarantine(path, reason)
        found = _quarantined_by_this_operation.get()
        if found is None:
            self._report_later(moved)
        else:
            found.append(moved)

    def read_decoded(self, path: Path, decode: Callable[[bytes], R]) -> tuple[R, bytes] | None:
        """The record at `path` and its exact bytes; None if there is none, or if it did not
        decode (then it is quarantined). UnsupportedSchema (a newer aod's record) propagates."""
        try:
            data = self.read(path)
        except FileNotFoundError:
            return None
        try:
            return decode(data), data
        except Corrupt as corrupt:
            self.quarantine(path, corrupt.reason)
            return None

    def load(self, path: Path, kind: type[R]) -> R | None:
        loaded = self.read_decoded(path, lambda data: decode_record(data, path, kind))
        return None if loaded is None else loaded[0]

    def compare_and_replace(self, path: Path, record: R, name: str, expected_rev: int) -> R:
        """Write `record` at `path` as rev + 1 if the stored rev is `expected_rev` (0: none yet).
        The caller holds the record's lock. A stored file that does not decode is quarantined
        and counts as rev 0."""
        current = self.load(path, type(record))
        current_rev = 0 if current is None else current.rev
        if current_rev != expected_rev:
            raise StaleRevision(name, expected_rev, current_rev)
        new = msgspec.structs.replace(record, schema=SCHEMA_VERSION, rev=expected_rev + 1)
        self.replace(path, encode_record(new))
        return new

    # -- reporting quarantined files in the caller's thread ------------------------------------

    def collecting(self, found: list[Quarantined], operation: Callable[[], T]) -> T:
        """Run one operation (in whatever thread), the files it quarantines collected in `found`."""
        token = _quarantined_by_this_operation.set(found)
        try:
            return operation()
        finally:
            _quarantined_by_this_operation.reset(token)

    def _report_later(self, item: Quarantined) -> None:
        with self._reported_later_guard:
            self._reported_later.append(item)

    def announce(self, found: list[Quarantined]) -> None:
        """Log each quarantined file and call on_quarantine for it, in the calling thread."""
        with self._reported_later_guard:
            found, self._reported_later = [*found, *self._reported_later], []
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
