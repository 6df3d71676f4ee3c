"""Records as bytes: the exact encoding a record is stored as, and decoding that checks the
header first (a newer schema is refused, an impossible one or bad bytes are `Corrupt`).

May import: msgspec, aod.model, aod.store.errors. No I/O.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import msgspec

from aod.model import SCHEMA_VERSION
from aod.store.errors import UnsupportedSchema

R = TypeVar("R", bound=msgspec.Struct)


class Corrupt(Exception):
    """The bytes of a record cannot be decoded; `reason` says why (the caller quarantines)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Header(msgspec.Struct):
    """The two fields every record has, decoded first: the schema decides how (and whether) to
    decode the rest, so a newer record is recognised even if its other fields changed shape."""

    schema: int
    rev: int


def encode_record(record: msgspec.Struct) -> bytes:
    """The exact bytes a record is stored as. Indented, so a human can read (and in an
    emergency repair) a record with an editor; deterministic, so unchanged records compare equal."""
    return msgspec.json.format(msgspec.json.encode(record), indent=2) + b"\n"


def decode_record(data: bytes, path: Path, kind: type[R]) -> R:
    try:
        header = msgspec.json.decode(data, type=_Header)
    except msgspec.DecodeError as error:
        raise Corrupt(f"no valid record header: {error}") from None
    if header.schema > SCHEMA_VERSION:
        raise UnsupportedSchema(path, header.schema)
    if header.schema < 1 or header.rev < 0:
        raise Corrupt(f"impossible header: schema {header.schema}, rev {header.rev}")
    # An older schema decodes with today's type: fields added since take their defaults, and the
    # next write stores the record at SCHEMA_VERSION. (Incompatible changes would migrate here.)
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as error:
        raise Corrupt(str(error)) from None
