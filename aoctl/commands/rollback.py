"""aoctl rollback  ↔  session.rollback  ↔  aod/handlers/session.py:rollback"""

from __future__ import annotations

import click

from aoctl.context import Context, json_option
from aod.protocol import RollbackResult


@click.command("rollback")
@click.argument("session_id", metavar="ID")
@click.argument("n", type=click.IntRange(min=1), metavar="N")
@click.option("--force", is_flag=True, help="Roll back even while the agent is working.")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str, n: int, force: bool) -> None:
    """Restore session ID's worktree to checkpoint N: its files, its branch HEAD and index. The
    state from just before is checkpointed first (nothing is lost: roll back to that one to
    undo), and the agent is told."""
    with ctx.client(timeout=300) as client:
        result = client.call_as(RollbackResult, "session.rollback", {"id": session_id, "n": n, "force": force})
    ctx.emit(result, _render)


def _render(r: RollbackResult) -> str:
    return (
        f"{r.id}: rolled back to checkpoint {r.n} (HEAD {r.head[:12]}); the state before is checkpoint "
        f"{r.saved} (`aoctl rollback {r.id} {r.saved}` undoes this)"
    )
