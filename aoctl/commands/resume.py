"""aoctl resume  ↔  session.resume  ↔  aod/handlers/session.py:resume"""

from __future__ import annotations

import click

from aoctl.commands._render import session_detail
from aoctl.context import Context, json_option
from aod.protocol import SessionInfo


@click.command("resume")
@click.argument("session_id", metavar="ID")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str) -> None:
    """Resume session ID after a pause (yours, a budget or a usage limit); aod judges it afresh and reacts again."""
    with ctx.client(timeout=60) as client:
        info = client.call_as(SessionInfo, "session.resume", {"id": session_id})
    ctx.emit(info, session_detail)
