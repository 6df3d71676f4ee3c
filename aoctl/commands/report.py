"""aoctl report  ↔  session.report  ↔  aod/handlers/session.py:report"""

from __future__ import annotations

import os
import sys

import click

from aoctl.context import Context, json_option
from aod.protocol import ReportResult

STATUSES = ("working", "done", "blocked", "needs_input")


@click.command("report")
@click.argument("status", type=click.Choice(STATUSES))
@click.argument("message", required=False, default="")
@click.option("-s", "--session", "session_id", help="The session (default: $AO_SESSION_ID, set inside every session).")
@json_option
@click.pass_obj
def command(ctx: Context, status: str, message: str, session_id: str | None) -> None:
    """Say where this session's work stands: STATUS and MESSAGE (why blocked, the question,
    what was done; `-` reads it from stdin).

    For agents: the most trusted signal aod has of your state. `done`, `blocked` and
    `needs_input` stand until you are sent a message."""
    session_id = session_id or os.environ.get("AO_SESSION_ID")
    if not session_id:
        raise click.UsageError("give --session ID (or run it inside a session, where AO_SESSION_ID is set)")
    if message == "-":
        message = sys.stdin.read()
    with ctx.client() as client:
        result = client.call_as(ReportResult, "session.report", {"id": session_id, "status": status, "message": message})
    ctx.emit(result, lambda r: f"{r.id}: reported {r.status} (activity {r.activity})")
