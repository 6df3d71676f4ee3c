"""aoctl restore  ↔  session.restore  ↔  aod/handlers/session.py:restore"""

from __future__ import annotations

import click

from aoctl.commands._render import session_detail
from aoctl.context import Context, json_option
from aod.protocol import SessionInfo


@click.command("restore")
@click.argument("session_id", metavar="ID")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str) -> None:
    """Relaunch session ID's agent in its existing worktree (resuming its conversation if it can)."""
    with ctx.client(timeout=120) as client:
        info = client.call_as(SessionInfo, "session.restore", {"id": session_id})
    ctx.emit(info, session_detail)
