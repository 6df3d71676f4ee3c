"""aoctl pause  ↔  session.pause  ↔  aod/handlers/session.py:pause"""

from __future__ import annotations

import click

from aoctl.commands._render import session_detail
from aoctl.context import Context, json_option
from aod.protocol import SessionInfo


@click.command("pause")
@click.argument("session_id", metavar="ID")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str) -> None:
    """Stop reacting to session ID: no messages to its agent, no notifications, until `aoctl resume ID`. The agent itself keeps running."""
    with ctx.client(timeout=60) as client:
        info = client.call_as(SessionInfo, "session.pause", {"id": session_id})
    ctx.emit(info, session_detail)
