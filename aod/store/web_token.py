"""The dashboard's token: `web-token.json` at the root, minted on first use, replaced on rotate.

It is a secret: the file is 0600 like every record (written through a 0600 temp file, never
through a link), and no operation here logs or publishes its value.

May import: aod.store.state, aod.model, the standard library.
"""

from __future__ import annotations

import secrets
from typing import Final

from aod.model import WebToken
from aod.store.state import StateDir, operation

WEB_TOKEN_FILE: Final = "web-token.json"
TOKEN_BYTES: Final = 32
"""256 bits."""


class WebTokens:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    @operation("get_web_token")
    def get(self) -> WebToken | None:
        """The token, or None before the first `mint_web_token`."""
        with self.state.lock_for("web-token"):
            return self.state.load(self.state.root / WEB_TOKEN_FILE, WebToken)

    @operation("mint_web_token")
    def mint(self, *, rotate: bool, now: str) -> tuple[WebToken, bool]:
        """The token, made now if there is none (or `rotate`); and whether it was made now."""
        path = self.state.root / WEB_TOKEN_FILE
        with self.state.lock_for("web-token"):
            current = self.state.load(path, WebToken)  # one that does not decode is quarantined
            if current is not None and not rotate:
                return current, False
            fresh = WebToken(token=secrets.token_hex(TOKEN_BYTES), created_at=now)
            expected = 0 if current is None else current.rev
            return self.state.compare_and_replace(path, fresh, "web-token", expected), True
