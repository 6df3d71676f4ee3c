"""web.*: aoctl dashboard."""

from __future__ import annotations

import structlog

from aod.app import App
from aod.errors import RpcFailure
from aod.events import utc_now_iso
from aod.handlers import Call, handler
from aod.protocol import ErrorCode, WebTokenParams, WebTokenResult

log = structlog.get_logger()


@handler("web.token")
async def token(app: App, params: WebTokenParams, call: Call) -> WebTokenResult:
    # The token opens the dashboard: it is handed out where the peer's uid was checked (the
    # Unix socket), never over HTTP, where the page itself could read it.
    if call.connection.transport != "unix":
        raise RpcFailure(
            ErrorCode.PERMISSION_DENIED,
            "web.token is answered on aod's Unix socket only, so the token never travels over HTTP: "
            "run `aoctl dashboard` in a terminal",
        )
    record, minted = await app.store.mint_web_token(rotate=params.rotate, now=utc_now_iso())
    rotated = minted and params.rotate
    web = app.web
    if web is not None:
        web.token_changed(record.token, rotated=rotated)
    if minted:
        log.info("dashboard token rotated: browsers signed in with the old one are signed out" if rotated
                 else "dashboard token minted")
    status = web.status() if web is not None else None
    listening = status is not None and status.state == "listening"
    return WebTokenResult(
        url=web.url(record.token) if web is not None and listening else None,
        token=record.token,
        listen=status.listen if status is not None else app.config.web.listen,
        enabled=app.config.web.enabled,
        listening=listening,
        reason=None if listening else (status.reason if status is not None else "the dashboard's listener is not running"),
        rotated=rotated,
        created_at=record.created_at,
    )
