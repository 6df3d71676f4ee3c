"""Errors a handler raises to answer with a JSON-RPC error instead of a result."""

from __future__ import annotations

from typing import Any

from aod.protocol import ErrorCode


class RpcFailure(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def not_found(what: str, name: object, valid: list[str] | None = None) -> RpcFailure:
    hint = f"; known: {', '.join(valid)}" if valid else ""
    return RpcFailure(ErrorCode.NOT_FOUND, f"no {what} {name!r}{hint}", {"what": what})
