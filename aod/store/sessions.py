"""Session records: `sessions/<id>/session.json` read, listed, written with compare-and-set on
`rev` (no write without a change), and a session's whole directory moved to `archive/<id>`.

May import: aod.store.state, aod.store.codec, aod.store.errors, aod.store.files, aod.model.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec
import structlog

from aod.model import SCHEMA_VERSION, Session, validate_session_id
from aod.store.codec import Corrupt, decode_record, encode_record
from aod.store.errors import NoSuchSession, StaleRevision, UnsupportedSchema
from aod.store.files import move_into
from aod.store.state import ARCHIVE_DIR, SESSION_FILE, StateDir, operation


def _decode_session(data: bytes, path: Path, expected_id: str) -> Session:
    session = decode_record(data, path, Session)
    if session.id != expected_id:
        raise Corrupt(f"record id {session.id!r} does not match its directory {expected_id!r}")
    return session


class SessionRecords:
    def __init__(self, state: StateDir) -> None:
        self.state = state
        self._newer_reported: set[str] = set()
        # The last record read or written of each session, by its file's identity: listing a
        # thousand sessions costs a stat each, not a read and a decode each. This aod is the only
        # writer (the instance lock); its own writes refresh the entry, and a file changed by
        # anything else has another identity (a new inode, size or times), so it is read again.
        # (Not seen: a rewrite in place to the same size within one tick of the kernel's clock.)
        self._known: dict[str, tuple[tuple[int, int, int, int], Session, bytes]] = {}
        self._record_paths: dict[str, Path] = {}

    @operation("count_sessions")
    def count(self) -> int:
        return sum(1 for sid in self.state.session_ids() if self.state.has_session_record(sid))

    @operation("list_sessions")
    def list(self) -> list[Session]:
        sessions = []
        for session_id in self.state.session_ids():
            try:
                with self.state.lock_for(session_id):
                    loaded = self._read_locked(session_id, listed=True)
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
                sessions.append(loaded[0])
        return sessions

    @operation("orphan_session_ids")
    def orphan_ids(self) -> list[str]:
        """Reserved ids whose spawn never wrote a record (interrupted before its first write)."""
        return [sid for sid in self.state.session_ids() if not self.state.has_session_record(sid)]

    @operation("get_session")
    def get(self, id: str) -> Session | None:
        validate_session_id(id)  # before the id becomes a key in the lock table
        with self.state.lock_for(id):
            loaded = self._read_locked(id)
        return None if loaded is None else loaded[0]

    def _read_locked(self, session_id: str, *, listed: bool = False) -> tuple[Session, bytes] | None:
        """The record and its exact bytes; None if absent or just quarantined. Caller holds the
        session's lock (quarantining moves the file). `listed`: the session's directory was just
        seen by `session_ids` as a real directory in a guarded sessions/, so only the file itself
        is left to check (a lstat, which the cache needs anyway) — the full walk of `guard` was
        two thirds of listing 1,000 cached records."""
        path = self._record_paths.get(session_id)
        if path is None:  # a session's path never changes: made once (pathlib joins are dear)
            path = self._record_paths[session_id] = self.state.session_dir(session_id) / SESSION_FILE
        if not listed:
            self.state.guard(path)  # a link on the way (a moved directory) is no session, cached or not
        try:
            info = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            self._known.pop(session_id, None)
            return None
        if stat.S_ISLNK(info.st_mode):
            self.state.guard(path)  # quarantines it: aod never reads through a link
            self._known.pop(session_id, None)
            return None
        identity = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size)
        known = self._known.get(session_id)
        if known is not None and known[0] == identity and stat.S_ISREG(info.st_mode):
            return known[1], known[2]
        loaded = self.state.read_decoded(path, lambda data: _decode_session(data, path, session_id))
        if loaded is None:
            self._known.pop(session_id, None)
        else:
            self._known[session_id] = (identity, *loaded)
        return loaded

    @operation("put_session")
    def put(self, session: Session, expected_rev: int) -> Session:
        session_id = validate_session_id(session.id)
        if expected_rev < 0:
            raise ValueError(f"expected_rev must be >= 0 (0 for a new record), not {expected_rev}")
        with self.state.lock_for(session_id):
            current = self._read_locked(session_id)
            current_rev = 0 if current is None else current[0].rev
            if current_rev != expected_rev:
                raise StaleRevision(session_id, expected_rev, current_rev)
            if current is not None:
                stored, stored_bytes = current
                same = msgspec.structs.replace(session, schema=SCHEMA_VERSION, rev=current_rev)
                if encode_record(same) == stored_bytes:
                    return stored  # nothing changed: no write, no new rev, mtime untouched
            new = msgspec.structs.replace(session, schema=SCHEMA_VERSION, rev=expected_rev + 1)
            directory = self.state.session_dir(session_id)
            self.state.mkdir(directory)
            data = encode_record(new)
            self.state.replace(directory / SESSION_FILE, data)
            self._remember(session_id, directory / SESSION_FILE, new, data)
            return new

    def _remember(self, session_id: str, path: Path, session: Session, data: bytes) -> None:
        try:
            info = os.lstat(path)
        except OSError:
            self._known.pop(session_id, None)
            return
        self._known[session_id] = ((info.st_ino, info.st_mtime_ns, info.st_ctime_ns, info.st_size), session, data)

    @operation("archive_session")
    def archive(self, id: str) -> Path:
        """Move the session's directory, whole, to archive/<id> (archive/<id>.1, ... when a
        session of that id was archived before; ids contain no '.', so these names never
        collide with another session's)."""
        source = self.state.session_dir(id)
        archive = self.state.root / ARCHIVE_DIR
        with self.state.lock_for(id):
            if not self.state.is_dir(source):
                raise NoSuchSession(id)
            self._known.pop(id, None)
            self._record_paths.pop(id, None)
            self.state.mkdir(archive)
            # A directory may replace an empty one: the placeholder move_into claims.
            return move_into(archive, source, id, as_directory=True)
