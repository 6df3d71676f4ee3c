"""The `webhook` notifier: the notification as JSON, POSTed to a URL of the user's.

The receiver can rely on:
- `X-AO-Delivery`: the notification's id, the same on every retry and on a re-send after aod
  restarted, so a repeat can be dropped;
- `X-AO-Event`: its kind (`ci-failed`, `test`, ...), to route without parsing the body;
- `X-AO-Signature: sha256=<hex>`, when `secret` is set: HMAC-SHA256 of the exact body bytes
  under the secret, so a receiver can tell the POST came from aod.
"""

from __future__ import annotations

import hashlib
import hmac

import httpx
import msgspec

from aod import __version__
from aod.config import WebhookNotifierConfig
from aod.plugins.notifier import Notification, post, token_header

_CHECK = "check the webhook notifier's `url` (and `headers`, if the receiver wants a token)"


def signature(secret: bytes, body: bytes) -> str:
    """The X-AO-Signature value for `body`."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    def __init__(self, name: str, settings: WebhookNotifierConfig, client: httpx.AsyncClient) -> None:
        self.name = name
        self.settings = settings
        self.client = client

    def request(self, notification: Notification) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the POST for `notification`."""
        body = msgspec.json.encode(notification)
        # The user's headers first, so that ours win (the config refuses clashes anyway).
        headers = dict(self.settings.headers)
        headers.update({
            "Content-Type": "application/json",
            "User-Agent": f"aod/{__version__}",
            "X-AO-Delivery": token_header(notification.id),
            "X-AO-Event": token_header(notification.kind),
        })
        if self.settings.secret is not None:
            headers["X-AO-Signature"] = signature(self.settings.secret.get_secret_value().encode(), body)
        return body, headers

    async def send(self, notification: Notification) -> None:
        body, headers = self.request(notification)
        await post(self.client, self.settings.url, content=body, headers=headers,
                   timeout=self.settings.timeout, check=_CHECK)
