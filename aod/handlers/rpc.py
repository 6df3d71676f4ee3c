"""rpc.discover: the API described by itself (OpenRPC)."""

from __future__ import annotations

from typing import Any

from aod.app import App
from aod.handlers import Call, handler
from aod.protocol import NoParams, openrpc_document

_cache: dict[str, dict[str, Any]] = {}


@handler("rpc.discover")
async def discover(app: App, _params: NoParams, _call: Call) -> dict[str, Any]:
    if app.version not in _cache:
        _cache[app.version] = openrpc_document(app.version)
    return _cache[app.version]
