"""aoctl pick  ↔  group.pick  ↔  aod/handlers/group.py:pick"""

from __future__ import annotations

import click

from aoctl.context import Context, json_option
from aod.protocol import GroupPickResult


@click.command("pick")
@click.argument("group_id", metavar="GROUP")
@click.argument("session_id", metavar="ID")
@json_option
@click.pass_obj
def command(ctx: Context, group_id: str, session_id: str) -> None:
    """Keep attempt ID of GROUP. The other attempts are stopped and cleaned up, their uncommitted
    work saved to refs/ao/wip/<id> first (their branches stay), and their PRs closed. The kept
    one goes on like any session (it may now be merged)."""
    with ctx.client(timeout=300) as client:
        result = client.call_as(GroupPickResult, "group.pick", {"id": group_id, "session": session_id})
    ctx.emit(result, _render)


def _render(result: GroupPickResult) -> str:
    lines = [f"group {result.group.id}: kept {result.kept.id} ({result.kept.agent}, {result.kept.state})"]
    for d in result.discarded:
        line = f"  {d.id}: {d.action}"
        if d.wip_ref:
            line += f", work saved to {d.wip_ref}"
        if d.pr_closed:
            line += f", PR #{d.pr_closed} closed"
        if d.reason and d.action != "removed":
            line += f" ({d.reason})"
        if d.problem:
            line += f"; {d.problem}"
        lines.append(line)
    return "\n".join(lines)
