"""Records aod persists in its state directory (see docs/storage.md).

Every record is a msgspec Struct that carries `schema` (the layout version it was written with)
and `rev` (bumped by the store on each write; the compare-and-set token). Records are frozen
values: change one with `msgspec.structs.replace(record, field=value)` and hand it to the store.

Evolving a record: add new fields WITH defaults, so files written by an older aod still decode.
Bump SCHEMA_VERSION only when a change is not backward compatible (a field renamed, retyped or
given new meaning); an aod then refuses files whose schema is newer than its own rather than
silently dropping what it does not understand.

This module does no I/O and reads no clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

import msgspec

SCHEMA_VERSION: Final = 1

# One char, then up to 62 more: a session id is a directory name, a branch suffix and a tmux
# session name, so it stays short, lower-case and free of anything a shell or a path interprets.
SESSION_ID_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


def validate_session_id(value: object) -> str:
    """Return `value` if it is a well-formed session id, else raise ValueError.

    fullmatch, not match + `$`: `$` also matches before a trailing newline.
    """
    if not isinstance(value, str) or SESSION_ID_PATTERN.fullmatch(value) is None:
        raise ValueError(
            f"invalid session id {value!r}: use 1 to 63 characters from a-z, 0-9 and '-', "
            "not starting with '-'"
        )
    return value


def iso_utc(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with a `Z` suffix, the form records store."""
    if moment.tzinfo is None:
        raise ValueError("iso_utc needs an aware datetime (a naive one has no known zone)")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Record(msgspec.Struct, kw_only=True, frozen=True):
    """Base of every persisted record. The store owns both fields: it sets `schema` to
    SCHEMA_VERSION and `rev` to the new revision on each write."""

    schema: int = SCHEMA_VERSION
    rev: int = 0


class Session(Record, kw_only=True, frozen=True):
    """One agent session. Minimal for now; later issues extend it (new fields need defaults)."""

    id: str
    project: str
    state: str = "spawning"
    created_at: str
    """ISO 8601 UTC (see `iso_utc`)."""
    updated_at: str
    """ISO 8601 UTC (see `iso_utc`)."""
