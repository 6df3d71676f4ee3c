"""aoctl hook  ↔  session.hook  ↔  aod/handlers/session.py:hook

Run by an agent's own hooks, never by hand: aod installs it per session (Claude Code's hooks via
`--settings`, Codex's `notify`). It reads the event the agent hands over (JSON on stdin, or as
the last argument), tells aod in one request, and always exits 0 quickly and silently: a hook
must never slow the agent down, and Claude Code adds a UserPromptSubmit hook's output to the
conversation.
"""

from __future__ import annotations

import json
import os
import select
import sys
from typing import Any

import click

from aoctl.context import Context

MAX_PAYLOAD = 1 << 20
STDIN_WAIT = 1.0
"""Seconds to wait for the payload on stdin (Claude writes it at once, then closes)."""
TIMEOUT = 3.0


def _payload(args: tuple[str, ...]) -> tuple[dict[str, Any], list[str]]:
    words = [a for a in args if not a.lstrip().startswith("{")]
    raw = next((a for a in reversed(args) if a.lstrip().startswith("{")), None)
    if raw is None and not sys.stdin.isatty():
        try:
            if select.select([sys.stdin], [], [], STDIN_WAIT)[0]:
                raw = sys.stdin.read(MAX_PAYLOAD)
        except (OSError, ValueError):
            raw = None
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        value = {}
    return (value if isinstance(value, dict) else {}), words


def _text(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


@click.command("hook", context_settings={"ignore_unknown_options": True})
@click.argument("agent")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def command(ctx: Context, agent: str, args: tuple[str, ...]) -> None:
    """Report an agent hook's event to aod (run by the agent's hooks; see docs/sessions.md)."""
    session = os.environ.get("AO_SESSION_ID", "")
    payload, words = _payload(args)
    event = _text(payload.get("hook_event_name") or payload.get("type"), 100) or (words[0] if words else "")
    if not session or not event:
        return
    params = {
        "id": session,
        "agent": agent,
        "event": event,
        "kind": _text(payload.get("notification_type"), 100),
        "message": _text(payload.get("message"), 300),
    }
    try:
        with ctx.client(timeout=TIMEOUT) as client:
            client.call("session.hook", params)
    except Exception:  # noqa: BLE001 - the agent must go on whatever happened to aod
        return
