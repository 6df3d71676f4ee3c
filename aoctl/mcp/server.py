"""The MCP server's messages: one JSON-RPC 2.0 message in, at most one out, over aod's API.

Both eras of MCP are served (a "dual-era" server):

- legacy (2024-11-05 up to 2025-11-25): the client opens with `initialize`, the server answers
  with the version it will speak, then `notifications/initialized`; `ping` is answered.
- modern (2026-07-28): no handshake. Each request names its version in
  `params._meta["io.modelcontextprotocol/protocolVersion"]`; `server/discover` says what this
  server is; results carry `resultType: "complete"`; an unknown version is refused with -32022
  and the versions this server speaks.

Tool calls go to aod through `call(method, params)` (aoctl's client). What aod refuses comes
back as a tool result with `isError: true` and aod's message, so the model can read it and act;
protocol mistakes (an unknown tool, arguments that are not an object) are JSON-RPC errors.

May import: aoctl.mcp.tools, aoctl.client (errors), aod.protocol, msgspec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from aoctl.client import DaemonNotRunning, NotYourDaemon, ProtocolError, RpcError, UntrustedSocket
from aoctl.mcp import tools as tool_table
from aod import protocol

MODERN_VERSIONS: Final = ("2026-07-28",)
LEGACY_VERSIONS: Final = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
VERSION_KEY: Final = "io.modelcontextprotocol/protocolVersion"

PARSE_ERROR: Final = -32700
INVALID_REQUEST: Final = -32600
METHOD_NOT_FOUND: Final = -32601
INVALID_PARAMS: Final = -32602
UNSUPPORTED_VERSION: Final = -32022

TOOLS_TTL_MS: Final = 3_600_000
"""How long a modern client may keep the tool list: it changes only with aoctl's version."""

INSTRUCTIONS: Final = (
    "aod runs AI coding agents in parallel, each in its own git worktree, branch and tmux session, "
    "and carries each from issue to merged pull request. Use sessions_list and issues_list to see "
    "the fleet and the backlog, session_spawn (with an idempotency_key) to start a worker, "
    "session_send to talk to one, pr_readiness to see what blocks its merge, human_ask when only "
    "a person can decide, and session_report to say where your own work stands."
)

Call = Callable[[str, dict[str, Any]], Any]


class McpServer:
    def __init__(self, call: Call, *, version: str, cwd: str, session_id: str | None) -> None:
        self._call = call
        self._version = version
        self._cwd = cwd
        self._session_id = session_id
        self._tools = tool_table.by_name()
        self._described: list[dict[str, Any]] | None = None
        self.legacy_version: str | None = None
        """The version agreed by `initialize`, for a legacy client."""

    # -- one message ------------------------------------------------------------------------

    def handle_line(self, line: bytes) -> bytes | None:
        """The answer to one line of input (None for a notification or a blank line)."""
        if not line.strip():
            return None
        try:
            message = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            return _encode(_error(None, PARSE_ERROR, f"not valid JSON: {exc}"))
        if isinstance(message, list):
            # Batches were part of 2025-03-26 only; each part is answered as if sent alone.
            answers = [a for a in (self.handle(m) for m in message) if a is not None]
            if not message:
                return _encode(_error(None, INVALID_REQUEST, "an empty batch"))
            return _encode(answers) if answers else None
        answer = self.handle(message)
        return None if answer is None else _encode(answer)

    def handle(self, message: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return _error(_id_of(message), INVALID_REQUEST, "not a JSON-RPC 2.0 message")
        method = message.get("method")
        if not isinstance(method, str):
            return None  # a response to something we never ask: servers on stdio may ignore it
        is_notification = "id" not in message
        request_id = message.get("id")
        params = message.get("params", {})
        if not isinstance(params, dict):
            return None if is_notification else _error(request_id, INVALID_PARAMS, "params must be an object")
        if is_notification:
            return None  # notifications/initialized, notifications/cancelled, ...: nothing to say
        meta = params.get("_meta")
        requested = meta.get(VERSION_KEY) if isinstance(meta, dict) else None
        modern = requested is not None
        if modern and requested not in MODERN_VERSIONS:
            return _error(
                request_id, UNSUPPORTED_VERSION, f"protocol version {requested!r} is not supported",
                {"requested": requested, "supported": [*MODERN_VERSIONS, *LEGACY_VERSIONS]},
            )
        try:
            result = self._answer(method, params, modern)
        except _Refusal as refusal:
            return _error(request_id, refusal.code, refusal.message)
        if modern:
            result = {"resultType": "complete", **result}
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _answer(self, method: str, params: dict[str, Any], modern: bool) -> dict[str, Any]:
        if method == "initialize" and not modern:
            return self._initialize(params)
        if method == "server/discover":
            return {
                "supportedVersions": [*MODERN_VERSIONS, *LEGACY_VERSIONS],
                "capabilities": {"tools": {}},
                "serverInfo": self._server_info(),
                "instructions": INSTRUCTIONS,
                "ttlMs": TOOLS_TTL_MS,
                "cacheScope": "private",
            }
        if method == "ping" and not modern:
            return {}
        if method == "tools/list":
            listed: dict[str, Any] = {"tools": self._tool_list()}
            if modern:
                listed |= {"ttlMs": TOOLS_TTL_MS, "cacheScope": "private"}
            return listed
        if method == "tools/call":
            return self._tool_call(params)
        raise _Refusal(METHOD_NOT_FOUND, f"no such method: {method}")

    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        asked = params.get("protocolVersion")
        agreed = asked if asked in LEGACY_VERSIONS else LEGACY_VERSIONS[0]
        self.legacy_version = agreed
        return {
            "protocolVersion": agreed,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": self._server_info(),
            "instructions": INSTRUCTIONS,
        }

    def _server_info(self) -> dict[str, Any]:
        return {"name": "aod", "title": "aod: a fleet of coding agents", "version": self._version}

    def _tool_list(self) -> list[dict[str, Any]]:
        if self._described is None:
            self._described = tool_table.describe(list(self._tools.values()))
        return self._described

    # -- tools/call -------------------------------------------------------------------------

    def _tool_call(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        tool = self._tools.get(name) if isinstance(name, str) else None
        if tool is None:
            raise _Refusal(INVALID_PARAMS, f"unknown tool: {name!r} (tools/list names them)")
        arguments = params.get("arguments", {})
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise _Refusal(INVALID_PARAMS, "arguments must be an object")
        call_params = self._params_for(tool, arguments)
        if isinstance(call_params, str):
            return _tool_error(call_params)
        try:
            result = self._call(tool.method, call_params)
        except RpcError as exc:
            return _tool_error(_rpc_error_text(exc))
        except DaemonNotRunning as exc:
            return _tool_error(f"aod is not running (no answer at {exc.path}); start it with `aoctl daemon start`")
        except (NotYourDaemon, UntrustedSocket) as exc:
            return _tool_error(f"not talking to aod's socket: {exc}")
        except ProtocolError as exc:
            return _tool_error(f"lost aod while calling {tool.method}: {exc}; call again to retry")
        text = msgspec.json.encode(result).decode()
        answer: dict[str, Any] = {"content": [{"type": "text", "text": text}], "isError": False}
        if isinstance(result, dict):
            answer["structuredContent"] = result
        return answer

    def _params_for(self, tool: tool_table.Tool, arguments: dict[str, Any]) -> dict[str, Any] | str:
        """The method's params: the model's arguments, plus what the bridge fills. A string: why not."""
        hidden = sorted(set(arguments) & tool_table.BRIDGE_FILLED)
        if hidden:
            return f"{', '.join(hidden)} {'is' if len(hidden) == 1 else 'are'} filled in by aoctl mcp; leave {'it' if len(hidden) == 1 else 'them'} out"
        fields = _fields_of(tool.method)
        call_params = dict(arguments)
        if "cwd" in fields:
            call_params["cwd"] = self._cwd
        if "by" in fields and self._session_id is not None:
            call_params["by"] = self._session_id
        if tool.own_session and "id" not in call_params:
            if self._session_id is None:
                return "`id` is needed: this MCP server does not run inside an aod session (no AO_SESSION_ID)"
            call_params["id"] = self._session_id
        return call_params


class _Refusal(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _fields_of(method: str) -> set[str]:
    params = protocol.METHODS[method].params
    return set(getattr(params, "__struct_fields__", ()))


def _rpc_error_text(exc: RpcError) -> str:
    text = f"aod refused: {exc.message}"
    data = exc.data
    if isinstance(data, dict):
        if isinstance(data.get("errors"), list):
            text += "\n" + "\n".join(f"- {e}" for e in data["errors"])
        elif isinstance(data.get("valid"), list):
            text += f"\nvalid: {', '.join(map(str, data['valid']))}"
        elif isinstance(data.get("session"), str):
            text += f"\nsession: {data['session']}"
    return text


def _tool_error(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": True}


def _error(request_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _id_of(message: Any) -> Any:
    if isinstance(message, dict):
        value = message.get("id")
        if isinstance(value, str | int) and not isinstance(value, bool):
            return value
    return None


def _encode(value: Any) -> bytes:
    return msgspec.json.encode(value) + b"\n"
