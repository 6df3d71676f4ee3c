"""The contract between aod and its clients (aoctl, editors, scripts).

Everything that crosses the socket is declared here as a msgspec Struct: the JSON-RPC 2.0
envelopes, every method's params and result, the events pushed to subscribers, the error codes,
and where the socket lives. This module imports only the standard library and msgspec, so a client
can depend on it without pulling in the daemon (trio, pydantic, yaml, structlog).

Wire format (see docs/protocol.md): one UTF-8 JSON text per line, or LSP-style
`Content-Length:` framing when a connection starts with that header.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Final

import msgspec

PROTOCOL_VERSION: Final = 1
JSONRPC: Final = "2.0"
DEFAULT_MAX_MESSAGE_BYTES: Final = 1024 * 1024

# ---------------------------------------------------------------------------------------------
# Where the socket is. Part of the contract: every client must find the same socket as aod.
# ---------------------------------------------------------------------------------------------

SOCKET_ENV: Final = "AOD_SOCKET"
SOCKET_NAME: Final = "aod.sock"


def default_socket_path(environ: dict[str, str] | None = None) -> Path:
    """`$AOD_SOCKET`, else `$XDG_RUNTIME_DIR/ao/aod.sock`, else a per-uid dir under the temp dir.

    The temp-dir fallback is named by uid and must be owned by that uid with mode 0700; aod
    checks that before it binds, so another user cannot plant a socket there.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(SOCKET_ENV)
    if explicit:
        return Path(explicit).expanduser()
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_absolute():
        return Path(runtime) / "ao" / SOCKET_NAME
    return Path(tempfile.gettempdir()) / f"ao-{os.getuid()}" / SOCKET_NAME


# ---------------------------------------------------------------------------------------------
# Error codes. Standard JSON-RPC codes, then aod's own in -32000..-32099.
# ---------------------------------------------------------------------------------------------


class ErrorCode:
    PARSE_ERROR: Final = -32700
    INVALID_REQUEST: Final = -32600
    METHOD_NOT_FOUND: Final = -32601
    INVALID_PARAMS: Final = -32602
    INTERNAL_ERROR: Final = -32603
    # aod's application errors.
    PERMISSION_DENIED: Final = -32001
    MESSAGE_TOO_LARGE: Final = -32002
    CONFIG_INVALID: Final = -32010
    NOT_FOUND: Final = -32020
    CONFLICT: Final = -32021
    UNAVAILABLE: Final = -32030


ERROR_DOCS: Final[dict[int, tuple[str, str]]] = {
    ErrorCode.PARSE_ERROR: ("parse_error", "The message is not valid JSON or not UTF-8."),
    ErrorCode.INVALID_REQUEST: (
        "invalid_request",
        "The JSON is not a JSON-RPC 2.0 request (or is an empty batch).",
    ),
    ErrorCode.METHOD_NOT_FOUND: ("method_not_found", "No method of that name; see rpc.discover."),
    ErrorCode.INVALID_PARAMS: (
        "invalid_params",
        "The params do not match the method; `data.path` names the offending field.",
    ),
    ErrorCode.INTERNAL_ERROR: ("internal_error", "A bug in aod; the daemon log has the details."),
    ErrorCode.PERMISSION_DENIED: (
        "permission_denied",
        "The connecting process runs as another user; the socket serves its owner only.",
    ),
    ErrorCode.MESSAGE_TOO_LARGE: (
        "message_too_large",
        "The message exceeds the size limit (`data.limit` bytes); the connection is closed.",
    ),
    ErrorCode.CONFIG_INVALID: (
        "config_invalid",
        "The config file has errors (`data.errors`, one `file:line: key: message` each); "
        "the previous config stays in force.",
    ),
    ErrorCode.NOT_FOUND: ("not_found", "The named project, session or object does not exist."),
    ErrorCode.CONFLICT: (
        "conflict",
        "The object changed underneath the request (or already exists); retry after reading it.",
    ),
    ErrorCode.UNAVAILABLE: (
        "unavailable",
        "A tool or service aod needs is missing or unreachable; `message` says which.",
    ),
}


# ---------------------------------------------------------------------------------------------
# JSON-RPC 2.0 envelopes.
# ---------------------------------------------------------------------------------------------

RequestId = str | int | None


class ErrorObject(msgspec.Struct, omit_defaults=True):
    code: int
    message: str
    data: Any = None


class Request(msgspec.Struct):
    """A request (with `id`) or a notification (without). Unset members are left out."""

    method: str
    params: dict[str, Any] | list[Any] | msgspec.UnsetType = msgspec.UNSET
    id: RequestId | msgspec.UnsetType = msgspec.UNSET
    jsonrpc: str = JSONRPC


class Response(msgspec.Struct):
    id: RequestId
    result: Any
    jsonrpc: str = JSONRPC


class ErrorResponse(msgspec.Struct):
    id: RequestId
    error: ErrorObject
    jsonrpc: str = JSONRPC


class Notification(msgspec.Struct):
    method: str
    params: Any
    jsonrpc: str = JSONRPC


# ---------------------------------------------------------------------------------------------
# Params and results, one pair per method.
# ---------------------------------------------------------------------------------------------


class Params(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Base of every params type: unknown fields are an error, not silently ignored."""


class NoParams(Params):
    pass


class PingResult(msgspec.Struct, kw_only=True):
    version: str
    pid: int
    protocol: int = PROTOCOL_VERSION


class TickInfo(msgspec.Struct, kw_only=True):
    count: int
    """Ticks completed since aod started."""
    started_at: str
    """ISO 8601 UTC time at which the last completed tick started."""
    duration_ms: float
    skipped: int
    """Ticks skipped because an earlier one overran its interval."""


class StatusResult(msgspec.Struct, kw_only=True):
    version: str
    pid: int
    started_at: str
    uptime_s: float
    sessions: int
    poll_interval_s: float
    last_tick: TickInfo | None
    config_path: str
    config_loaded: bool
    """False when no config file exists and the built-in defaults are in force."""
    state_dir: str
    socket_path: str
    socket_activated: bool
    subscribers: int
    protocol: int = PROTOCOL_VERSION


class ShutdownResult(msgspec.Struct, kw_only=True):
    stopping: bool = True


class ReloadResult(msgspec.Struct, kw_only=True):
    config_path: str
    config_loaded: bool
    changed: list[str]
    """Top-level config keys whose value changed."""


class SubscribeParams(Params):
    kinds: list[str] | None = None
    """Only events whose kind equals, or starts with `<prefix>.` for, one of these; all if null."""


class SubscribeResult(msgspec.Struct, kw_only=True):
    subscription: int
    seq: int
    """The seq of the newest event published before the subscription started."""


class UnsubscribeParams(Params):
    subscription: int


class UnsubscribeResult(msgspec.Struct, kw_only=True):
    unsubscribed: bool


# ---------------------------------------------------------------------------------------------
# Events, pushed as `event` notifications on a subscribed connection.
# ---------------------------------------------------------------------------------------------

EVENT_NOTIFICATION: Final = "event"
DROPPED_NOTIFICATION: Final = "events.dropped"


class Event(msgspec.Struct, kw_only=True, omit_defaults=True):
    seq: int
    """Increases by one with every event aod publishes; a gap means events were missed."""
    time: str
    kind: str
    session: str | None = None
    data: dict[str, Any] = {}


class DroppedParams(msgspec.Struct, kw_only=True):
    """Sent once to a subscriber that fell too far behind; its subscription is then ended."""

    subscription: int
    last_seq: int
    reason: str


# ---------------------------------------------------------------------------------------------
# The method table: the single list of what aod answers.
# ---------------------------------------------------------------------------------------------


class Method(msgspec.Struct, frozen=True):
    name: str
    params: type
    result: type
    summary: str
    errors: tuple[int, ...] = ()


_METHOD_LIST: Final = (
    Method("daemon.ping", NoParams, PingResult, "Check that aod answers; cheap."),
    Method("daemon.status", NoParams, StatusResult, "Version, uptime, sessions, last tick, paths."),
    Method("daemon.shutdown", NoParams, ShutdownResult, "Stop aod gracefully; replies first."),
    Method(
        "daemon.reload",
        NoParams,
        ReloadResult,
        "Re-read the config file; on errors the old config stays in force.",
        (ErrorCode.CONFIG_INVALID,),
    ),
    Method("rpc.discover", NoParams, dict, "This API as an OpenRPC 1.3 document."),
    Method(
        "events.subscribe",
        SubscribeParams,
        SubscribeResult,
        "Receive `event` notifications on this connection from now on.",
    ),
    Method(
        "events.unsubscribe",
        UnsubscribeParams,
        UnsubscribeResult,
        "End a subscription made on this connection.",
        (ErrorCode.NOT_FOUND,),
    ),
)

METHODS: Final[dict[str, Method]] = {m.name: m for m in _METHOD_LIST}


# ---------------------------------------------------------------------------------------------
# OpenRPC, generated from the table above (served by rpc.discover, shipped in docs/).
# ---------------------------------------------------------------------------------------------


def openrpc_document(version: str) -> dict[str, Any]:
    types: list[Any] = []
    for m in METHODS.values():
        types += [m.params, m.result]
    types += [Event, DroppedParams, ErrorObject]
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    by_type = dict(zip(types, schemas, strict=True))

    def params_of(t: type) -> list[dict[str, Any]]:
        if t is NoParams:
            return []
        info = msgspec.inspect.type_info(t)
        assert isinstance(info, msgspec.inspect.StructType)
        return [
            {
                "name": f.encode_name,
                "required": f.required,
                "schema": components[t.__name__]["properties"][f.encode_name],
            }
            for f in info.fields
        ]

    methods = [
        {
            "name": m.name,
            "summary": m.summary,
            "paramStructure": "by-name",
            "params": params_of(m.params),
            "result": {"name": "result", "schema": by_type[m.result]},
            "errors": [{"code": c, "message": ERROR_DOCS[c][0]} for c in m.errors],
        }
        for m in METHODS.values()
    ]
    return {
        "openrpc": "1.3.2",
        "info": {
            "title": "aod",
            "version": version,
            "description": "aod's JSON-RPC 2.0 API over a Unix socket. Notifications pushed to "
            f"subscribers: `{EVENT_NOTIFICATION}` (params: Event) and "
            f"`{DROPPED_NOTIFICATION}` (params: DroppedParams).",
        },
        "methods": methods,
        "components": {
            "schemas": components,
            "errors": {
                name: {"code": code, "message": text}
                for code, (name, text) in sorted(ERROR_DOCS.items(), reverse=True)
            },
        },
    }
