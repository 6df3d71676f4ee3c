"""aoctl spawn  ↔  session.spawn  ↔  aod/handlers/session.py:spawn"""

from __future__ import annotations

import os

import click

from aoctl import exitcodes
from aoctl.commands._render import session_detail
from aoctl.context import Context, json_option
from aod.protocol import SessionInfo


@click.command("spawn")
@click.argument("issue", required=False)
@click.option("--task", help="What to do, in words (instead of, or on top of, an issue).")
@click.option("-p", "--project", help="Project name (default: the one you are in, or the only one).")
@click.option("--agent", help="Agent to run (default: the project's).")
@click.option("--branch", help="Branch name (default: from the project's template, ao/<id>).")
@click.option("--key", "idempotency_key", help="A key unique to this request: run again with it, get the same session.")
@click.option("--reuse-live", is_flag=True, help="If ISSUE already has a live session of this agent, show it instead.")
@click.option("--after", "after", multiple=True, metavar="ID",
              help="Wait (queued) until this session's PR, or this issue's session's PR, merged; repeatable.")
@click.option("--stack", is_flag=True, help="With one --after SESSION: start now on its branch, the PR based on it.")
@json_option
@click.pass_obj
def command(
    ctx: Context, issue: str | None, task: str | None, project: str | None, agent: str | None, branch: str | None,
    idempotency_key: str | None, reuse_live: bool, after: tuple[str, ...] = (), stack: bool = False,
) -> None:
    """Start an agent on ISSUE (or --task) in its own worktree, branch and tmux session."""
    if issue is None and task is None:
        raise click.UsageError("give an ISSUE or --task TEXT")
    params = {
        "issue": issue, "task": task, "project": project, "agent": agent, "branch": branch, "cwd": os.getcwd(),
        "idempotency_key": idempotency_key, "reuse_live": reuse_live or None,
        # Inside a session (an orchestrator's worktree): that session asks, and its policy applies.
        "by": os.environ.get("AO_SESSION_ID") or None,
        "after": list(after) or None,
        "stack": stack or None,
    }
    # Creating a worktree and running the setup hook can take minutes: no client timeout.
    with ctx.client(timeout=None) as client:
        info = client.call_as(SessionInfo, "session.spawn", {k: v for k, v in params.items() if v is not None})
    ctx.emit(info, _render)
    if info.state == "errored":
        ctx_exit(exitcodes.FAILED)


def _render(s: SessionInfo) -> str:
    if s.state == "errored":
        return f"spawn failed: {s.id}: {s.reason}"
    if s.state == "queued":
        return session_detail(s) + f"\n\nqueued: it starts when {', '.join(s.depends_on)} merged (aoctl status shows it)"
    return session_detail(s) + f"\n\nwatch it: aoctl attach {s.id}   talk to it: aoctl send {s.id} TEXT"


def ctx_exit(code: int) -> None:
    click.get_current_context().exit(code)
