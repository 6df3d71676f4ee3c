"""aoctl history  ↔  session.history  ↔  aod/handlers/session.py:history"""

from __future__ import annotations

import click

from aoctl.context import Context, json_option
from aod.protocol import HistoryResult

_SHOWN_FIELDS = ("from", "to", "reason", "key", "action", "state", "outcome", "seq", "submitted", "source")


@click.command("history")
@click.argument("session_id", metavar="ID")
@click.option("-n", "--lines", default=50, show_default=True, help="How many entries.")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str, lines: int) -> None:
    """What happened to session ID: state changes, reactions, deliveries."""
    with ctx.client() as client:
        result = client.call_as(HistoryResult, "session.history", {"id": session_id, "lines": lines})
    ctx.emit(result, _render)


def _render(r: HistoryResult) -> str:
    if not r.entries:
        return f"{r.id}: no history yet"
    lines = [f"{r.id} is archived; its history:"] if r.archived else []
    for entry in r.entries:
        details = " ".join(
            f"{k}={_short(entry[k])}" for k in _SHOWN_FIELDS if k in entry and entry[k] not in (None, "")
        )
        lines.append(f"{entry.get('time', '?')}  {entry.get('kind', '?'):18} {details}".rstrip())
    return "\n".join(lines)


def _short(value: object) -> str:
    text = " ".join(str(value).split())
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 80 else text[:79] + "…"
