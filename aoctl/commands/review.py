"""aoctl review  ↔  pr.review  ↔  aod/handlers/pr.py:review"""

from __future__ import annotations

import os

import click

from aoctl.commands.pr import render_pr
from aoctl.context import Context, json_option
from aod.protocol import PrInfo


@click.command("review")
@click.argument("session_id", metavar="ID")
@click.option("--approve", "action", flag_value="approve", help="Approve the PR.")
@click.option("--request-changes", "action", flag_value="request_changes", help="Ask for changes (-m says which).")
@click.option("--comment", "action", flag_value="comment", help="Comment (-m), on a line with --file and --line.")
@click.option("-m", "--message", default="", help="The review's text.")
@click.option("--file", "path", help="The file a --comment is about (relative to the repository).")
@click.option("--line", type=int, help="The line of --file.")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str, action: str | None, message: str, path: str | None, line: int | None) -> None:
    """Review session ID's PR on the local forge. aod sends change requests and comments to the
    agent, once each. Inside a reviewer session it reviews as that reviewer agent (whose approval
    counts only with the project's `review.may_approve`; on GitHub, as a COMMENT review)."""
    if action is None:
        raise click.UsageError("say --approve, --request-changes -m TEXT or --comment -m TEXT")
    if (path is None) != (line is None):
        raise click.UsageError("--file and --line go together")
    if path is not None and action != "comment":
        raise click.UsageError("--file/--line are for --comment")
    by = os.environ.get("AO_SESSION_ID") or None  # inside a reviewer session: it reviews as itself
    params = {"id": session_id, "action": action, "message": message, "file": path, "line": line, "by": by}
    with ctx.client(timeout=60) as client:
        info = client.call_as(PrInfo, "pr.review", {k: v for k, v in params.items() if v is not None})
    ctx.emit(info, render_pr)
