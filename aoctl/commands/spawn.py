"""aoctl spawn  ↔  session.spawn  ↔  aod/handlers/session.py:spawn (several attempts, --attempts N or
--agent twice: group.spawn  ↔  aod/handlers/group.py:spawn)"""

from __future__ import annotations

import os

import click

from aoctl import exitcodes
from aoctl.commands._render import session_detail
from aoctl.context import Context, json_option
from aod.protocol import GroupInfo, SessionInfo


@click.command("spawn")
@click.argument("issue", required=False)
@click.option("--task", help="What to do, in words (instead of, or on top of, an issue).")
@click.option("-p", "--project", help="Project name (default: the one you are in, or the only one).")
@click.option("--agent", "agents", multiple=True, help="Agent to run (default: the role's, else the project's); give it again for one attempt per agent.")
@click.option("--branch", help="Branch name (default: from the project's template, ao/<id>).")
@click.option("--key", "idempotency_key", help="A key unique to this request: run again with it, get the same session.")
@click.option("--reuse-live", is_flag=True, help="If ISSUE already has a live session of this agent, show it instead.")
@click.option("--attempts", type=click.IntRange(1, 10), help="Start N attempts (per --agent), grouped; compare them and `aoctl pick` one.")
@click.option("--role", help="A role (implementer, reviewer, tester, docs, or `roles` in the config): its prompt goes first.")
@click.option("--after", "after", multiple=True, metavar="ID",
              help="Wait (queued) until this session's PR, or this issue's session's PR, merged; repeatable.")
@click.option("--stack", is_flag=True, help="With one --after SESSION: start now on its branch, the PR based on it.")
@click.option("--host", help="Start it on this host (`hosts` in the config; `local`: here). Default: `placement` decides.")
@json_option
@click.pass_obj
def command(
    ctx: Context, issue: str | None, task: str | None, project: str | None, agents: tuple[str, ...], branch: str | None,
    idempotency_key: str | None, reuse_live: bool, attempts: int | None = None, role: str | None = None,
    after: tuple[str, ...] = (), stack: bool = False, host: str | None = None,
) -> None:
    """Start an agent on ISSUE (or --task) in its own worktree, branch and tmux session.

    With --attempts N, or --agent given more than once, start several attempts at it (N per
    agent), grouped: `aoctl compare GROUP` shows them side by side and `aoctl pick GROUP ID`
    keeps one. No attempt is merged before the pick."""
    if issue is None and task is None:
        raise click.UsageError("give an ISSUE or --task TEXT")
    if (attempts or 1) * max(len(set(agents)), 1) > 1:
        if host:
            raise click.UsageError("--host is for one session; attempts start on this machine")
        if after or stack:
            raise click.UsageError("--after and --stack are for one session; not with --attempts or several --agent")
        _spawn_group(ctx, issue, task, project, agents, branch, idempotency_key, reuse_live, attempts, role)
        return
    agent = agents[0] if agents else None
    params = {
        "issue": issue, "task": task, "project": project, "agent": agent, "branch": branch, "cwd": os.getcwd(),
        "idempotency_key": idempotency_key, "reuse_live": reuse_live or None,
        # Inside a session (an orchestrator's worktree): that session asks, and its policy applies.
        "by": os.environ.get("AO_SESSION_ID") or None,
        "role": role,
        "after": list(after) or None,
        "stack": stack or None,
        "host": host,
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


# -- issue 19: several attempts (group.spawn) ----------------------------------------------------


def _spawn_group(
    ctx: Context, issue: str | None, task: str | None, project: str | None, agents: tuple[str, ...], branch: str | None,
    idempotency_key: str | None, reuse_live: bool, attempts: int | None, role: str | None,
) -> None:
    if branch is not None:
        raise click.UsageError("--branch names one branch; attempts each get their own (leave --branch out)")
    if reuse_live:
        raise click.UsageError("--reuse-live does not go with several attempts")
    params = {
        "issue": issue, "task": task, "project": project, "agents": list(agents), "attempts": attempts,
        "cwd": os.getcwd(), "idempotency_key": idempotency_key, "role": role,
        "by": os.environ.get("AO_SESSION_ID") or None,
    }
    with ctx.client(timeout=None) as client:
        group = client.call_as(GroupInfo, "group.spawn", {k: v for k, v in params.items() if v is not None and v != []})
    ctx.emit(group, _render_group)
    if group.sessions and all(s.state == "errored" for s in group.sessions):
        ctx_exit(exitcodes.FAILED)


def _render_group(group: GroupInfo) -> str:
    from aoctl.commands._render import group_work, sessions_table

    lines = [f"group {group.id}: {len(group.members)} attempts at {group_work(group)}", ""]
    lines.append(sessions_table(group.sessions))
    lines += ["", f"compare them: aoctl compare {group.id}   keep one: aoctl pick {group.id} ID"]
    return "\n".join(lines)
