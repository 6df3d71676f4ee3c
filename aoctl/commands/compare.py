"""aoctl compare  ↔  group.compare  ↔  aod/handlers/group.py:compare"""

from __future__ import annotations

import click

from aoctl.commands._render import age, group_work, table
from aoctl.context import Context, json_option
from aod.protocol import GroupCompareResult


@click.command("compare")
@click.argument("group_id", metavar="GROUP")
@json_option
@click.pass_obj
def command(ctx: Context, group_id: str) -> None:
    """Show each attempt of GROUP side by side: agent, state, diff size, CI, review, cost, age.

    The diff is each branch's committed work against its base (files, +added, -deleted lines).
    Keep the best with `aoctl pick GROUP ID`."""
    with ctx.client(timeout=120) as client:
        result = client.call_as(GroupCompareResult, "group.compare", {"id": group_id})
    ctx.emit(result, _render)


def _render(result: GroupCompareResult) -> str:
    group = result.group
    head = f"group {group.id}: {len(group.members)} attempts at {group_work(group)}"
    head += f"; picked {group.picked}" if group.picked else "; not picked yet"
    rows = [
        [
            ("* " if r.picked else "  ") + r.id,
            r.agent or "-",
            r.state,
            "-" if r.files is None else f"{r.files} files",
            "-" if r.additions is None else f"+{r.additions}",
            "-" if r.deletions is None else f"-{r.deletions}",
            f"#{r.pr_number}" if r.pr_number else "-",
            r.ci or "-",
            r.review or "-",
            "-" if r.cost_usd is None else f"${r.cost_usd:,.2f}",
            age(r.created_at) if r.created_at else "-",
        ]
        for r in result.rows
    ]
    body = table(rows, ["  ID", "AGENT", "STATE", "DIFF", "ADDED", "DELETED", "PR", "CI", "REVIEW", "COST", "AGE"])
    hint = "" if group.picked else f"\n\nkeep one: aoctl pick {group.id} ID (the others are stopped, their work saved, their PRs closed)"
    return f"{head}\n\n{body}{hint}"
