"""aoctl done  ↔  session.done  ↔  aod/handlers/session.py:done"""

from __future__ import annotations

import click

from aoctl.commands._render import session_detail
from aoctl.context import Context, json_option
from aod.protocol import SessionInfo


@click.command("done")
@click.argument("session_id", metavar="ID")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str) -> None:
    """Mark session ID's work finished: it becomes `done` and aod stops reacting to it. The
    worktree and branch stay; `aoctl cleanup` stops the agent and archives the session."""
    with ctx.client(timeout=60) as client:
        info = client.call_as(SessionInfo, "session.done", {"id": session_id})
    ctx.emit(info, session_detail)
