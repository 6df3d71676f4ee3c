"""Small pure helpers for text aod shows or sends (no I/O)."""

from __future__ import annotations


def tail(text: str, limit: int) -> str:
    """The last `limit` characters of `text`, started at a line boundary when one is near, with
    a `[…]` line saying that the beginning was cut. Logs are read from the end: that is where
    a failure says what went wrong."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    return "[…]\n" + (cut[newline + 1 :] if 0 <= newline < 200 else cut)
