"""aoctl ask  ↔  human.ask  ↔  aod/handlers/human.py:ask"""

from __future__ import annotations

import os
import sys

import click

from aoctl.context import Context, json_option
from aod.protocol import ReportResult


@click.command("ask")
@click.argument("question")
@click.option("-s", "--session", "session_id", help="The session asking (default: $AO_SESSION_ID).")
@json_option
@click.pass_obj
def command(ctx: Context, question: str, session_id: str | None) -> None:
    """Ask the person supervising the fleet QUESTION (`-` reads it from stdin).

    For agents: the session shows as needing input, the question is notified and shown on the
    dashboard, and the answer arrives as a message."""
    session_id = session_id or os.environ.get("AO_SESSION_ID")
    if not session_id:
        raise click.UsageError("give --session ID (or run it inside a session, where AO_SESSION_ID is set)")
    if question == "-":
        question = sys.stdin.read()
    with ctx.client() as client:
        result = client.call_as(ReportResult, "human.ask", {"id": session_id, "question": question})
    ctx.emit(result, lambda r: f"{r.id}: asked; the answer will arrive as a message")
