"""The `discord` notifier: a message through a Discord channel webhook.

`allowed_mentions: {parse: []}` tells Discord to ping nobody, whatever the text says, so a
title like "@everyone deploy now" from a hostile issue shows as text and alerts no one.
"""

from __future__ import annotations

import httpx
import msgspec

from aod.config import DiscordNotifierConfig
from aod.plugins.notifier import Notification, cut, cut_utf16, one_line, plain_text, post, safe_link

CONTENT_LIMIT = 2000  # Discord refuses longer content (400), counting UTF-16 code units
_CHECK = "check the discord notifier's `url` (Server Settings → Integrations → Webhooks)"


def content_for(notification: Notification) -> str:
    """The title in bold, the body, and the link, cut to Discord's limit."""
    head = f"**{cut(one_line(notification.title), 250)}**"
    link = safe_link(notification.url)
    tail = f"\n{link}" if link else ""
    body = plain_text(notification.body).strip()
    # The link is the most useful part of a cut message: the body gives way first.
    room = CONTENT_LIMIT - len((head + tail).encode("utf-16-le")) // 2 - 1
    text = head + (f"\n{cut_utf16(body, room)}" if body and room > 1 else "") + tail
    return cut_utf16(text, CONTENT_LIMIT)


class DiscordNotifier:
    def __init__(self, name: str, settings: DiscordNotifierConfig, client: httpx.AsyncClient) -> None:
        self.name = name
        self.settings = settings
        self.client = client

    def payload(self, notification: Notification) -> bytes:
        return msgspec.json.encode({
            "content": content_for(notification),
            "username": "aod",
            "allowed_mentions": {"parse": []},
        })

    async def send(self, notification: Notification) -> None:
        await post(self.client, self.settings.url.get_secret_value(), content=self.payload(notification),
                   headers={"Content-Type": "application/json"}, timeout=self.settings.timeout, check=_CHECK)
