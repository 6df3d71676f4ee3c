"""RPC handlers, one module per method namespace (`daemon.*` → handlers/daemon.py, ...).

A handler is `async def (app, params, call) -> result`: `params` is the method's Params struct
from aod/protocol.py, already validated; `call` holds the connection it came on
(`call.connection.transport`: `unix`, `websocket` or `http`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aod.app import App
from aod.lanes import in_request_lane
from aod.protocol import METHODS
from aod.subscriptions import Peer

HandlerFn = Callable[[App, Any, "Call"], Awaitable[Any]]
_REGISTRY: dict[str, HandlerFn] = {}


@dataclass
class Call:
    app: App
    connection: Peer
    """The socket's connection, or the dashboard's WebSocket or HTTP request (aod/web/)."""


def handler(method: str) -> Callable[[HandlerFn], HandlerFn]:
    if method not in METHODS:
        raise ValueError(f"{method} is not declared in aod/protocol.py METHODS")

    def register(fn: HandlerFn) -> HandlerFn:
        _REGISTRY[method] = fn
        return fn

    return register


def all_handlers() -> dict[str, Callable[[Any, Call], Awaitable[Any]]]:
    """Every handler, keyed by method name, adapted to the dispatcher's (params, call) shape."""
    from aod.handlers import cost, daemon, events, human, issue, notify, orchestrator, pr, project, rpc, session, web  # noqa: F401
    from aod.handlers import group  # noqa: F401
    from aod.handlers import plan  # noqa: F401  (issue 19)
    from aod.handlers import hosts  # noqa: F401  (issue 21)
    from aod.handlers import plugins  # noqa: F401  (issue 22)
    from aod.federation.hosts import federate  # issue 21: NAME/ID forwarded to host NAME

    def bind(fn: HandlerFn) -> Callable[[Any, Call], Awaitable[Any]]:
        async def call(params: Any, c: Call) -> Any:
            with in_request_lane():  # its file work never queues the tick's (aod/lanes.py)
                return await fn(c.app, params, c)

        return call

    return federate({name: bind(fn) for name, fn in _REGISTRY.items()})
