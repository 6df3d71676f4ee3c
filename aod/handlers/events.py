"""events.*: aoctl events --follow, aoctl status --watch, editors."""

from __future__ import annotations

from aod.app import App
from aod.errors import RpcFailure, not_found
from aod.handlers import Call, handler
from aod.protocol import (
    ErrorCode,
    RecentEventsParams,
    RecentEventsResult,
    SubscribeParams,
    SubscribeResult,
    UnsubscribeParams,
    UnsubscribeResult,
)


@handler("events.subscribe")
async def subscribe(app: App, params: SubscribeParams, call: Call) -> SubscribeResult:
    if not call.connection.can_subscribe:
        raise RpcFailure(
            ErrorCode.INVALID_REQUEST,
            "events.subscribe needs a connection that stays open to carry the notifications: "
            "use the WebSocket /rpc (or the Unix socket), not a single HTTP POST",
        )
    limit = call.connection.limits.max_subscriptions
    if len(call.connection.subscriptions) >= limit:
        # Each subscription holds a buffer of up to api.subscriber_queue events.
        raise RpcFailure(
            ErrorCode.LIMIT_EXCEEDED,
            f"this connection already has {limit} subscriptions, the most allowed "
            "(api.max_subscriptions); unsubscribe one first, or filter one subscription with `kinds`",
            {"limit": limit, "setting": "api.max_subscriptions"},
        )
    sub = app.bus.subscribe(params.kinds)
    call.connection.add_subscription(sub)
    return SubscribeResult(subscription=sub.id, seq=sub.last_delivered_seq)


@handler("events.unsubscribe")
async def unsubscribe(app: App, params: UnsubscribeParams, call: Call) -> UnsubscribeResult:
    if not call.connection.remove_subscription(params.subscription):
        raise not_found(
            "subscription on this connection",
            params.subscription,
            [str(s) for s in call.connection.subscriptions],
        )
    return UnsubscribeResult(unsubscribed=True)


@handler("events.recent")
async def recent(app: App, params: RecentEventsParams, _call: Call) -> RecentEventsResult:
    return RecentEventsResult(events=app.bus.latest(max(0, min(params.limit, 500)), params.kinds))
