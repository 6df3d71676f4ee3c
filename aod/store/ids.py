"""Session ids: `<prefix>-<n>` reserved by creating `sessions/<id>/` (so two spawns never get
the same id), numbered by `counters/<prefix>.json`, which only ever grows (an archived id is
never handed out again), and released when a spawn failed before its first record.

May import: aod.store.state, aod.store.files, aod.model, msgspec.
"""

from __future__ import annotations

import os
import shutil
from typing import Final

import msgspec

from aod.model import validate_session_id
from aod.store.files import fsync_dir
from aod.store.state import ARCHIVE_DIR, SESSIONS_DIR, StateDir, operation

COUNTERS_DIR: Final = "counters"


class SessionIds:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    @operation("reserve_session_id")
    def reserve(self, prefix: str) -> str:
        """The next free `<prefix>-<n>`, made to exist (its directory) before it is returned.
        A crash between bumping the counter and creating the directory skips a number, which
        is harmless."""
        validate_session_id(f"{prefix}-1")
        root = self.state.root
        counter = root / COUNTERS_DIR / f"{prefix}.json"
        with self.state.lock_for(f"counter:{prefix}"):
            try:
                n = int(msgspec.json.decode(self.state.read(counter)).get("next", 1))
            except (FileNotFoundError, msgspec.DecodeError, AttributeError, TypeError, ValueError):
                n = 1
            while True:
                session_id = f"{prefix}-{n}"
                n += 1
                # Taken ids are stepped over with a look, not a write of the counter each (a
                # counter behind its sessions, e.g. restored from a backup, cost a write per id).
                if self.state.exists(root / ARCHIVE_DIR / session_id) or self.state.exists(root / SESSIONS_DIR / session_id):
                    continue
                self.state.replace(counter, msgspec.json.encode({"next": n}))
                self.state.guard(root / SESSIONS_DIR / session_id)
                try:
                    os.mkdir(root / SESSIONS_DIR / session_id, 0o700)
                except FileExistsError:
                    continue
                fsync_dir(root / SESSIONS_DIR)
                return session_id

    @operation("release_session_id")
    def release(self, session_id: str) -> None:
        """Give up a reserved id whose session never got a record (spawn failed early): remove
        its empty directory. The number is not reused."""
        directory = self.state.session_dir(session_id)
        with self.state.lock_for(session_id):
            if self.state.is_dir(directory) and not self.state.has_session_record(session_id):
                shutil.rmtree(directory, ignore_errors=True)
