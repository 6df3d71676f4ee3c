"""aoctl status  ↔  session.list (and events.subscribe for --watch)  ↔  aod/handlers/session.py"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click
import msgspec

from aoctl.context import Context, json_option

if TYPE_CHECKING:
    from aod.protocol import SessionInfo, SessionListResult

# `status --json` (what scripts and editors run every few seconds) passes aod's JSON through:
# the method's result types and the table renderer are imported only by the paths that decode.


class _SessionsRaw(msgspec.Struct):
    sessions: msgspec.Raw


_Sessions = msgspec.json.Decoder(_SessionsRaw)


@click.command("status")
@click.argument("session_id", metavar="[ID]", required=False)
@click.option("-p", "--project", help="Only this project's sessions.")
@click.option("--watch", is_flag=True, help="Redraw whenever a session changes (until Ctrl-C).")
@click.option("--cost", is_flag=True, help="Add what each session spent (USD; `+`: some usage has no known price).")
@click.option("--pr", "prs", is_flag=True, help="Show each session's PR: number, URL, state, checks, review, mergeable.")
@click.option("--all", "all_", is_flag=True, help="List the orchestrator sessions with the workers (else shown apart).")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str | None, project: str | None, watch: bool, cost: bool, prs: bool, all_: bool) -> None:
    """List sessions: id, project, work, agent, state, activity, branch, PR, age.

    With --pr, each session's PR instead, as aod last saw it on the forge (no extra request).
    Orchestrator sessions are shown apart, above the table (--json: left out), unless --all.
    A `!` after an id: another live session changes some of the same files (listed below the
    table). `aoctl status ID`: one session in detail (session.get), its overlaps included."""
    if session_id is not None:
        _one(ctx, session_id)
        return
    params: dict[str, object] = {"project": project} if project else {}
    if cost:
        params["cost"] = True
    if not watch:
        with ctx.client() as client:
            if ctx.as_json:
                # aod's own JSON, re-indented: nothing decoded and encoded again (flat in sessions).
                if all_:
                    params["orchestrators"] = True
                ctx.emit_json(_Sessions.decode(client.call_raw("session.list", params)).sessions)
                return
            result = client.call_as(_result_type(), "session.list", {**params, "orchestrators": True})
        click.echo(_table(result, cost, prs, apart=not all_))
        return
    SessionListResult = _result_type()
    # --watch: one connection subscribed to session events; redraw on each, never poll.
    with ctx.client(timeout=None) as events, ctx.client() as client:
        events.call("events.subscribe", {"kinds": ["session", "project"]})
        _draw(ctx, client.call_as(SessionListResult, "session.list", params), cost, prs)
        for _notification in events.notifications():
            _draw(ctx, client.call_as(SessionListResult, "session.list", params), cost, prs)


def _one(ctx: Context, session_id: str) -> None:
    """`aoctl status ID`  ↔  session.get."""
    from aoctl.commands._render import session_detail
    from aod.protocol import SessionInfo

    with ctx.client() as client:
        info = client.call_as(SessionInfo, "session.get", {"id": session_id})
    ctx.emit(info, session_detail)


def _result_type() -> type[SessionListResult]:
    from aod.protocol import SessionListResult

    return SessionListResult


def _table(result: SessionListResult, cost: bool, prs: bool, apart: bool = False) -> str:
    from aoctl.commands._render import pr_table, sessions_table

    sessions = result.sessions
    head = ""
    if apart:
        orchestrators = [s for s in sessions if s.kind == "orchestrator"]
        sessions = [s for s in sessions if s.kind != "orchestrator"]
        head = "".join(f"orchestrator {s.id} ({s.project}): {s.state}, {s.reason}\n" for s in orchestrators)
    return head + (pr_table(sessions) if prs else sessions_table(sessions, cost=cost)) + _reviewers(sessions)


def _reviewers(sessions: list[SessionInfo]) -> str:
    """issue 19: which listed sessions are reviewer agents, and whose PR each reviews."""
    return "".join(
        f"reviewer {s.id}: reviewing {s.reviews}'s PR (round {s.review_round or 1}, read-only), {s.state}\n"
        for s in sessions if s.kind == "reviewer"
    )


def _draw(ctx: Context, result: SessionListResult, cost: bool = False, prs: bool = False) -> None:
    if ctx.as_json:
        ctx.emit(result.sessions, str)
        return
    if sys.stdout.isatty():
        click.clear()
    click.echo(_table(result, cost, prs))
    sys.stdout.flush()
