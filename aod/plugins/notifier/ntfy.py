"""The `ntfy` notifier: a push to a phone through ntfy (https://ntfy.sh or your own server).

The body is the message; everything else travels in headers. Header values are one line (no
CR/LF, so nothing can be smuggled into another header), and text that is not plain ASCII is sent
as RFC 2047 encoded words (`=?UTF-8?B?...?=`), which ntfy decodes (server 2.4 and later), so
`Title: Café ☕` arrives as written.
"""

from __future__ import annotations

import httpx

from aod.config import NtfyNotifierConfig
from aod.plugins.notifier import Notification, cut_utf8, header_text, plain_text, post, safe_link

# ntfy's scale is 1 (min) to 5 (max); 5 is a long vibration burst and pop-over.
PRIORITY = {"urgent": "5", "action": "4", "warning": "3", "info": "2"}
# Tags that are emoji short codes show as an emoji before the title.
_EMOJI = {"urgent": "rotating_light", "action": "point_right", "warning": "warning", "info": "information_source"}
BODY_LIMIT = 4096  # bytes; ntfy turns a longer message into an attachment
_CHECK = "check the ntfy notifier's `url`, `topic` and `token`"


class NtfyNotifier:
    def __init__(self, name: str, settings: NtfyNotifierConfig, client: httpx.AsyncClient) -> None:
        self.name = name
        self.settings = settings
        self.client = client

    @property
    def url(self) -> str:
        return f"{self.settings.url.rstrip('/')}/{self.settings.topic}"

    def request(self, notification: Notification) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the POST for `notification`."""
        # An empty message would show as ntfy's "triggered"; the title says more.
        text = plain_text(notification.body).strip() or notification.title
        tags = [_EMOJI.get(notification.priority, "bell"), "aod", notification.kind]
        if notification.session:
            tags.append(notification.session)
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Title": header_text(notification.title),
            "Priority": PRIORITY.get(notification.priority, "3"),
            # Commas separate tags; none may hide inside one.
            "Tags": header_text(",".join(tag.replace(",", " ") for tag in tags)),
        }
        link = safe_link(notification.url)
        if link:
            headers["Click"] = link
        if self.settings.token is not None:
            headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"
        return cut_utf8(text, BODY_LIMIT).encode(), headers

    async def send(self, notification: Notification) -> None:
        body, headers = self.request(notification)
        await post(self.client, self.url, content=body, headers=headers, timeout=self.settings.timeout,
                   check=_CHECK)
