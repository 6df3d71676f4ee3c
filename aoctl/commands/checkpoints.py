"""aoctl checkpoints  ↔  session.checkpoints  ↔  aod/handlers/session.py:checkpoints"""

from __future__ import annotations

import click

from aoctl.context import Context, json_option
from aod.protocol import CheckpointsResult


@click.command("checkpoints")
@click.argument("session_id", metavar="ID")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str) -> None:
    """List session ID's per-turn checkpoints: n, when, the HEAD it was on, and what changed
    since the checkpoint before (the first: since its HEAD). `aoctl rollback ID N` restores one."""
    with ctx.client() as client:
        result = client.call_as(CheckpointsResult, "session.checkpoints", {"id": session_id})
    ctx.emit(result, _render)


def _render(r: CheckpointsResult) -> str:
    if not r.checkpoints:
        return f"{r.id}: no checkpoints yet (one is taken each time the agent finishes a turn)"
    lines = [f"{'N':>4}  {'TIME':25}  {'HEAD':12}  {'REASON':8}  CHANGES"]
    for c in r.checkpoints:
        changes = f"{c.files_changed} file(s), +{c.insertions} -{c.deletions}" if c.files_changed else "no change"
        lines.append(f"{c.n:>4}  {c.at:25}  {c.head[:12]:12}  {c.reason:8}  {changes}")
    lines.append(f"git show --stat refs/ao/checkpoints/{r.id}/N shows one; aoctl rollback {r.id} N restores it")
    return "\n".join(lines)
