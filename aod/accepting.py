"""The accept loop both listeners run (the Unix socket and the dashboard's TCP port).

May import: trio, structlog.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
import trio

log = structlog.get_logger()

ACCEPT_RETRY_S = 0.1


async def accept_forever(
    listener: trio.SocketListener,
    nursery: trio.Nursery,
    serve: Callable[[trio.SocketStream], Awaitable[None]],
    what: str,
) -> None:
    """Start `serve(stream)` in `nursery` for every connection until cancelled; the listener is
    closed on the way out. A failing accept (EMFILE: out of file descriptors) is logged and
    retried after a moment instead of spinning or ending the listener."""
    async with listener:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                log.error("accept failed", listener=what, error=str(exc))
                await trio.sleep(ACCEPT_RETRY_S)
                continue
            nursery.start_soon(serve, stream)
