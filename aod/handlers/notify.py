"""notify.*: aoctl notify test."""

from __future__ import annotations

from aod.app import App
from aod.events import utc_now_iso
from aod.handlers import Call, handler
from aod.protocol import NotifyTestParams, NotifyTestResult


@handler("notify.test")
async def test(app: App, params: NotifyTestParams, _call: Call) -> NotifyTestResult:
    from aod.plugins.notifier import Notification

    notification = Notification(
        id=f"test-{utc_now_iso()}",
        title=params.title,
        body=params.message,
        priority=params.priority,
        session=None,
        project=None,
        kind="test",
        url=None,
        time=utc_now_iso(),
    )
    return NotifyTestResult(results=await app.notifications.send_now(notification))
