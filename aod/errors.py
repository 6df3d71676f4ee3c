"""Errors a handler raises to answer with a JSON-RPC error instead of a result."""

from __future__ import annotations

import errno
from typing import Any

from aod.protocol import ErrorCode

# A write the disk refused, and what the user can do about it. Not aod's bug: said as such.
_STORAGE_ERRORS = {
    errno.ENOSPC: ("full", "free some space and retry"),
    errno.EDQUOT: ("over its quota", "free some space (or raise the quota) and retry"),
    errno.EROFS: ("read-only", "make it writable (remount it read-write) and retry"),
}


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def failure(code: int, message: str, **data: Any) -> RpcFailure:
    """An expected error, with its fields (`valid=[...]`) as the error's data."""
    return RpcFailure(code, message, data or None)


def first_line(exc: BaseException) -> str:
    """What went wrong, in one line a user can read (the exception's type when it says nothing)."""
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__


def not_found(what: str, name: object, valid: list[str] | None = None) -> RpcFailure:
    hint = f"; known: {', '.join(valid)}" if valid else ""
    return RpcFailure(ErrorCode.NOT_FOUND, f"no {what} {name!r}{hint}", {"what": what})


def storage_error(exc: BaseException) -> OSError | None:
    """The OSError with ENOSPC, EDQUOT or EROFS in `exc`, its causes or its group, if any."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _STORAGE_ERRORS:
            return current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend((current.__cause__, current.__context__))
    return None


def storage_failure(error: OSError) -> RpcFailure:
    """The documented answer (-32040) for a write the disk refused."""
    what, fix = _STORAGE_ERRORS[error.errno]
    cause = error.strerror or str(error)
    # A write through an open file names no file; those are aod's own, in its state directory.
    message = (
        f"cannot write {error.filename}: the disk is {what} ({cause}); {fix}"
        if error.filename else f"the state directory is {what} ({cause}); {fix}"
    )
    return RpcFailure(
        ErrorCode.STORAGE,
        message,
        {"errno": errno.errorcode.get(error.errno or 0, str(error.errno)), "path": str(error.filename or "")},
    )
