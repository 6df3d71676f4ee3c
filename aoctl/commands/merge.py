"""aoctl merge  ↔  pr.merge  ↔  aod/handlers/pr.py:merge"""

from __future__ import annotations

import os

import click

from aoctl.context import Context, json_option
from aod.protocol import MergeResult


@click.command("merge")
@click.argument("session_id", metavar="ID")
@click.option("--squash", "method", flag_value="squash", help="One commit on the base.")
@click.option("--merge", "method", flag_value="merge", help="A merge commit.")
@click.option("--rebase", "method", flag_value="rebase", help="The PR's commits replayed on the base.")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str, method: str | None) -> None:
    """Merge session ID's PR: only if approved, green and mergeable, at the head aod judged.
    Default method: the project's `merge_method`."""
    # Inside a session (an orchestrator's worktree): that session asks, and its policy applies.
    params = {"id": session_id, "method": method, "by": os.environ.get("AO_SESSION_ID") or None}
    with ctx.client(timeout=300) as client:
        result = client.call_as(MergeResult, "pr.merge", {k: v for k, v in params.items() if v is not None})
    ctx.emit(result, lambda r: f"merged PR #{r.number} of {r.id} ({r.method}) as {r.sha[:12]}")
