"""Session journals: `sessions/<id>/journal.jsonl`, appended one redacted JSON object per line
(O_APPEND, fsync) and read from the end (the last `n` entries, cost following `n`, lines torn
by a crash skipped), also of the session archived last under an id.

May import: aod.store.state, aod.store.files, aod.store.errors, aod.model, aod.redact, msgspec.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import msgspec

from aod.model import validate_session_id
from aod.redact import fields
from aod.store.errors import NoSuchSession
from aod.store.files import complete_lines_backwards
from aod.store.state import ARCHIVE_DIR, StateDir, operation

JOURNAL_FILE: Final = "journal.jsonl"


def _decode_line(line: bytes) -> dict[str, Any] | None:
    """An entry, or None for a blank line or the remains of an append cut short by a crash
    (which a later append pushed off the end of the file by starting on a fresh line)."""
    if not line.strip():
        return None
    try:
        value = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, dict) else None


def _file_tail(path: Path, n: int) -> list[dict[str, Any]]:
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
        for line in complete_lines_backwards(fd, os.fstat(fd).st_size):
            entry = _decode_line(line)
            if entry is not None:
                entries.append(entry)
                if len(entries) == n:
                    break
    finally:
        os.close(fd)
    entries.reverse()
    return entries


class Journals:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    @operation("append_journal")
    def append(self, id: str, entry: msgspec.Struct | dict[str, Any]) -> None:
        directory = self.state.session_dir(id)
        plain = msgspec.to_builtins(entry)
        if isinstance(plain, dict):
            entry = fields(self.state.redactor(), plain)
        with self.state.lock_for(id):
            try:
                self.state.append(directory / JOURNAL_FILE, [entry])
            except FileNotFoundError:
                raise NoSuchSession(id) from None

    @operation("journal_tail")
    def tail(self, id: str, n: int) -> list[dict[str, Any]]:
        return self._shown(self.state.session_dir(id) / JOURNAL_FILE, n)

    @operation("archived_journal_tail")
    def archived_tail(self, id: str, n: int) -> list[dict[str, Any]] | None:
        """The journal of the session archived last under this id (archive/<id>, or the
        highest archive/<id>.N); None when no session of that id was archived."""
        base = validate_session_id(id)
        archive = self.state.root / ARCHIVE_DIR
        found: list[tuple[int, Path]] = []
        if self.state.is_dir(archive):
            with os.scandir(archive) as entries:
                for entry in entries:
                    name, dot, number = entry.name.partition(".")
                    reuse = int(number) if dot and number.isdecimal() else (0 if not dot else None)
                    if name == base and reuse is not None and entry.is_dir(follow_symlinks=False):
                        found.append((reuse, Path(entry.path)))
        if not found:
            return None
        return self._shown(max(found)[1] / JOURNAL_FILE, n)

    def _shown(self, path: Path, n: int) -> list[dict[str, Any]]:
        self.state.guard(path)
        # Redacted on the way out too: journals written before redaction (or before a pattern).
        redactor = self.state.redactor()
        return [fields(redactor, entry) for entry in _file_tail(path, n)]
