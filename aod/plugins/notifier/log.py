"""The `log` notifier: a structlog line per notification.

Always on, so that every notification is on record (journald, or aod's log file) even when no
other notifier is configured or every one of them fails.
"""

from __future__ import annotations

import structlog

from aod.plugins.notifier import Notification

log = structlog.get_logger()


class LogNotifier:
    def __init__(self, name: str = "log") -> None:
        self.name = name

    async def send(self, notification: Notification) -> None:
        slog = log.bind(session=notification.session)
        # What wants a human soon is a warning in the log; the rest is information.
        emit = slog.warning if notification.priority in ("urgent", "action") else slog.info
        emit(
            "notification",
            notifier=self.name,
            id=notification.id,
            kind=notification.kind,
            priority=notification.priority,
            project=notification.project,
            title=notification.title,
            body=notification.body,
            url=notification.url,
        )
