"""The `slack` notifier: a message through a Slack incoming webhook.

Text goes in Slack's `mrkdwn`, where `&`, `<` and `>` are control characters: `<!channel>` pings
everyone and `<https://x|y>` is a disguised link. They are escaped, so a title from an issue or
a PR shows as written and can ping nobody.
"""

from __future__ import annotations

import httpx
import msgspec

from aod.config import SlackNotifierConfig
from aod.plugins.notifier import Notification, cut, one_line, plain_text, post, safe_link

# Slack takes up to 40,000 characters but shows long messages collapsed; a notification is a
# pointer to something, and the rest is in aod.
TITLE_LIMIT = 300
BODY_LIMIT = 3000
_CHECK = "check the slack notifier's `url` (Slack → your app → Incoming Webhooks)"


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def text_for(notification: Notification) -> str:
    """The message text: the title in bold, the body, and the link when there is one."""
    # Bold spans one line in mrkdwn: the title stays on one.
    lines = [f"*{_escaped(cut(one_line(notification.title), TITLE_LIMIT))}*"]
    body = plain_text(notification.body).strip()
    if body:
        lines.append(_escaped(cut(body, BODY_LIMIT)))
    link = safe_link(notification.url)
    if link and not any(c in link for c in "<>|"):  # they would end the link early
        lines.append(f"<{link.replace('&', '&amp;')}>")
    return "\n".join(lines)


class SlackNotifier:
    def __init__(self, name: str, settings: SlackNotifierConfig, client: httpx.AsyncClient) -> None:
        self.name = name
        self.settings = settings
        self.client = client

    def payload(self, notification: Notification) -> bytes:
        return msgspec.json.encode({"text": text_for(notification)})

    async def send(self, notification: Notification) -> None:
        await post(self.client, self.settings.url.get_secret_value(), content=self.payload(notification),
                   headers={"Content-Type": "application/json"}, timeout=self.settings.timeout, check=_CHECK)
