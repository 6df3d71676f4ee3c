"""JSON-RPC 2.0 semantics: validate envelopes, route to handlers, shape results and errors.

Transport-free: it takes one message's bytes and returns the reply's bytes (or None for a
notification). The socket server (aod/server.py) owns connections and framing.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import structlog
import trio

from aod.errors import RpcFailure, storage_error, storage_failure
from aod.protocol import (
    JSONRPC,
    METHODS,
    ErrorCode,
    ErrorObject,
    ErrorResponse,
    Method,
    Response,
)

log = structlog.get_logger()

Handler = Callable[[Any, Any], Awaitable[Any]]
"""`async def handler(params: <Method.params>, call: <per-connection context>) -> result`."""

_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_NO_REPLY = object()
_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def error_reply(request_id: Any, code: int, message: str, data: Any = None) -> bytes:
    return _encoder.encode(
        ErrorResponse(id=request_id, error=ErrorObject(code=code, message=message, data=data))
    )


def _valid_id(value: Any) -> bool:
    # bool is an int to Python but not a JSON-RPC id.
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


class Dispatcher:
    def __init__(self, handlers: dict[str, Handler]) -> None:
        missing = set(handlers) ^ set(METHODS)
        if missing:
            raise ValueError(f"handlers and protocol.METHODS disagree on: {sorted(missing)}")
        self._handlers = handlers

    async def handle(self, message: bytes, call: Any, slots: trio.Semaphore | None = None) -> bytes | None:
        """Answer one framed message (single request or batch). None means: send nothing.

        `slots` is the connection's limit on requests worked on at once, of which the caller
        holds one for this message: a batch's entries count against it too (see `_batch`);
        without it a batch's entries all run at once."""
        try:
            parsed = _decoder.decode(message)
        except msgspec.DecodeError as exc:
            return error_reply(None, ErrorCode.PARSE_ERROR, f"parse error: {exc}")
        except RecursionError:
            # msgspec gives up on JSON nested this deep; no request of ours needs it.
            return error_reply(None, ErrorCode.PARSE_ERROR, "parse error: the JSON is nested too deeply")
        if isinstance(parsed, list):
            return await self._batch(parsed, call, slots)
        reply = await self._one(parsed, call)
        return None if reply is _NO_REPLY else _encoder.encode(reply)

    async def _batch(self, items: list[Any], call: Any, slots: trio.Semaphore | None) -> bytes | None:
        if not items:
            return error_reply(None, ErrorCode.INVALID_REQUEST, "invalid request: empty batch")
        replies: list[Any] = [_NO_REPLY] * len(items)
        queue = iter(enumerate(items))

        async def worker(holds_slot: bool) -> None:
            try:
                for index, item in queue:  # shared: each entry is taken by one worker
                    replies[index] = await self._one(item, call)
            finally:
                if holds_slot and slots is not None:
                    slots.release()

        # One worker on the slot the message already holds, plus one per slot free right now:
        # a 10,000-entry batch works on no more entries at once than 64 single requests would,
        # and never waits for a slot (two batches waiting on each other's slots would hang).
        async with trio.open_nursery() as nursery:
            nursery.start_soon(worker, False)
            for _ in range(len(items) - 1):
                if slots is not None:
                    try:
                        slots.acquire_nowait()
                    except trio.WouldBlock:
                        break
                nursery.start_soon(worker, True)
        answered = [r for r in replies if r is not _NO_REPLY]
        return _encoder.encode(answered) if answered else None

    async def _one(self, request: Any, call: Any) -> Any:
        if not isinstance(request, dict):
            return _error(None, ErrorCode.INVALID_REQUEST, "invalid request: not an object")
        has_id = "id" in request
        request_id = request.get("id")
        if has_id and not _valid_id(request_id):
            return _error(None, ErrorCode.INVALID_REQUEST, "invalid request: bad id type")
        problem = _envelope_problem(request)
        if problem:
            return _error(request_id, ErrorCode.INVALID_REQUEST, f"invalid request: {problem}")
        method_name: str = request["method"]
        method = METHODS.get(method_name)
        if method is None:
            if not has_id:
                return _NO_REPLY
            return _error(
                request_id,
                ErrorCode.METHOD_NOT_FOUND,
                f"method not found: {method_name!r} (rpc.discover lists the methods)",
            )
        try:
            params = _convert_params(method, request.get("params"))
            result = await self._handlers[method_name](params, call)
        except RpcFailure as exc:
            reply: Any = _error(request_id, exc.code, exc.message, exc.data)
        except Exception as exc:
            if (full := storage_error(exc)) is not None:
                failure = storage_failure(full)
                log.error("a write was refused by the disk", method=method_name, error=str(full))
                return _error(request_id, failure.code, failure.message, failure.data) if has_id else _NO_REPLY
            log.exception("handler crashed", method=method_name)
            reply = _error(
                request_id,
                ErrorCode.INTERNAL_ERROR,
                f"internal error in {method_name}; aod's log has the details",
            )
        else:
            reply = Response(id=request_id, result=result)
        return reply if has_id else _NO_REPLY


def _error(request_id: Any, code: int, message: str, data: Any = None) -> ErrorResponse:
    return ErrorResponse(id=request_id, error=ErrorObject(code=code, message=message, data=data))


def _envelope_problem(request: dict[str, Any]) -> str | None:
    if request.get("jsonrpc") != JSONRPC:
        return '"jsonrpc" must be "2.0"'
    if not isinstance(request.get("method"), str):
        return '"method" must be a string'
    if "params" in request and not isinstance(request["params"], dict | list):
        return '"params" must be an object or an array'
    extra = set(request) - {"jsonrpc", "method", "params", "id"}
    if extra:
        return f"unknown member(s) {sorted(extra)}"
    return None


def _convert_params(method: Method, params: dict[str, Any] | list[Any] | None) -> Any:
    if params is None:
        params = {}
    if isinstance(params, list):
        fields = method.params.__struct_fields__  # type: ignore[attr-defined]
        if len(params) > len(fields):
            raise RpcFailure(
                ErrorCode.INVALID_PARAMS,
                f"invalid params: {method.name} takes at most {len(fields)} positional params",
                {"path": "params", "message": f"expected at most {len(fields)} items"},
            )
        params = dict(zip(fields, params, strict=False))
    try:
        return msgspec.convert(params, method.params)
    except msgspec.ValidationError as exc:
        text = str(exc)
        match = _AT_PATH.search(text)
        path = "params" + (match.group("path") if match else "")
        message = text[: match.start()] if match else text
        raise RpcFailure(
            ErrorCode.INVALID_PARAMS,
            f"invalid params: {message} at {path}",
            {"path": path, "message": message},
        ) from None
