"""aoctl pr open  ↔  pr.open  ↔  aod/handlers/pr.py:open_"""

from __future__ import annotations

import os

import click

from aoctl.context import Context, json_option
from aod.protocol import PrInfo


@click.group("pr")
def command() -> None:
    """The session's pull request."""


@command.command("open")
@click.argument("session_id", metavar="[ID]", required=False)
@click.option("--title", help="Default: the issue's title, or the task's first line.")
@click.option("--body", help="Default: the task, `Closes #N` for its issue, and the session.")
@json_option
@click.pass_obj
def open_(ctx: Context, session_id: str | None, title: str | None, body: str | None) -> None:
    """Open session ID's PR (inside a session's worktree, ID is that session).

    Agents run this themselves when their work is ready for review."""
    session_id = session_id or os.environ.get("AO_SESSION_ID")
    if not session_id:
        raise click.UsageError("give the session ID (or run it inside a session, where AO_SESSION_ID is set)")
    params = {"id": session_id, "title": title, "body": body}
    with ctx.client(timeout=120) as client:
        info = client.call_as(PrInfo, "pr.open", {k: v for k, v in params.items() if v is not None})
    ctx.emit(info, render_pr)


def render_pr(p: PrInfo) -> str:
    lines = [
        f"PR #{p.number} of {p.session} [{p.state}{', draft' if p.draft else ''}] {p.url}",
        f"head {p.head_sha[:12]} → {p.base}   checks {p.checks}   review {p.review}   {p.mergeable}",
    ]
    for check in p.failing:
        lines.append(f"  failing: {check.name} ({check.conclusion}) {check.summary}".rstrip())
    if p.comments:
        lines.append(f"  {p.comments} open review comment(s)")
    return "\n".join(lines)
