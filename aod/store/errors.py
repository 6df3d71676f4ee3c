"""What the store refuses, as exceptions its callers catch by name (all re-exported by aod.store).

May import: aod.model (the schema version) only.
"""

from __future__ import annotations

from pathlib import Path

from aod.model import SCHEMA_VERSION


class AlreadyRunning(Exception):
    """Another process holds the state directory's lock."""

    def __init__(self, pid: int | None, lock_path: Path) -> None:
        self.pid, self.lock_path = pid, lock_path
        holder = f"pid {pid}" if pid is not None else "a process that has not written its pid yet"
        super().__init__(
            f"another aod is already running ({holder}); it holds {lock_path}. "
            "Stop that one first, or point this one at another state directory (--state-dir)."
        )


class StaleRevision(Exception):
    """A write was based on an older revision than the one on disk. Re-read, re-apply, retry."""

    def __init__(self, session_id: str, expected_rev: int, actual_rev: int) -> None:
        self.session_id, self.expected_rev, self.actual_rev = session_id, expected_rev, actual_rev
        super().__init__(
            f"session {session_id}: the write was based on rev {expected_rev}, but the stored "
            f"record is at rev {actual_rev}; re-read it and apply the change again"
        )


class UnsupportedSchema(Exception):
    """A record was written by a newer aod. It is left exactly as it is: neither rewritten
    (which would drop what this version does not know) nor quarantined (it is not corrupt)."""

    def __init__(self, path: Path, schema: int) -> None:
        self.path, self.schema = path, schema
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
