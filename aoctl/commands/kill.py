"""aoctl kill  ↔  session.kill  ↔  aod/handlers/session.py:kill"""

from __future__ import annotations

import click

from aoctl.commands._render import session_detail
from aoctl.context import Context, json_option
from aod.protocol import SessionInfo


@click.command("kill")
@click.argument("session_id", metavar="ID")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str) -> None:
    """Stop session ID's agent. The worktree and branch stay; `aoctl restore ID` brings it back."""
    with ctx.client(timeout=120) as client:
        info = client.call_as(SessionInfo, "session.kill", {"id": session_id})
    ctx.emit(info, session_detail)
