"""aoctl pr open  ↔  pr.open  ↔  aod/handlers/pr.py:open_
aoctl pr show  ↔  pr.show  ↔  aod/handlers/pr.py:show"""

from __future__ import annotations

import os

import click

from aoctl.context import Context, json_option
from aod.protocol import PrInfo, PrShowResult

EXCERPT_LINES = 20
"""A failing check's excerpt is shown by its last lines (where its error is); --json has it whole."""
COMMENT_LINES = 4
STEP_HEADER = "Failing step: "
"""How an excerpt names the step that failed (aod/ci_logs.py; not imported: aoctl stays light)."""


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


@command.command("show")
@click.argument("session_id", metavar="ID")
@json_option
@click.pass_obj
def show(ctx: Context, session_id: str) -> None:
    """Session ID's PR as aod last saw it: checks, failing checks' logs, unresolved review
    comments, and what keeps it from being merged. Asks aod only, never the forge."""
    with ctx.client() as client:
        result = client.call_as(PrShowResult, "pr.show", {"id": session_id})
    ctx.emit(result, render_show)


def render_show(r: PrShowResult) -> str:
    if r.pr is None:
        return f"{r.session} has no PR yet"
    p = r.pr
    lines = [
        f"PR #{p.number} of {p.session} [{p.state}{', draft' if p.draft else ''}] {_line(p.url)}",
        f"checks {p.checks}   review {p.review}   {p.mergeable}" + (f"   head {p.head_sha[:12]} → {p.base}" if p.head_sha else ""),
    ]
    for check in p.failing:
        lines.append(f"failing: {_line(check.name)} ({check.conclusion}) {_line(check.summary)}".rstrip())
        if check.url:
            lines.append(f"  {_line(check.url)}")
        lines += _indented(check.log_excerpt, EXCERPT_LINES, keep="last")
    if p.review_comments:
        lines.append(f"unresolved review comments ({len(p.review_comments)}):")
        for c in p.review_comments:
            where = f" on {_line(c.path)}" + (f":{c.line}" if c.line is not None else "") if c.path else ""
            lines.append(f"  {_line(c.author)}{where}" + (f"  {c.created_at}" if c.created_at else ""))
            lines += _indented(c.body, COMMENT_LINES, keep="first", indent="    ")
    if p.blockers:
        lines.append("not ready to merge: " + "; ".join(_line(b) for b in p.blockers))
    else:
        lines.append("ready to merge")
    return "\n".join(lines)


def _line(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in " ".join(text.split()))


def _indented(text: str, most: int, *, keep: str, indent: str = "    ") -> list[str]:
    """`text`'s lines (at most `most`, the first or the last ones), indented, unprintable
    characters shown as `?` so nothing from a log or a comment can drive the terminal."""
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    if not lines:
        return []
    head: list[str] = []
    if keep == "last" and lines[0].startswith(STEP_HEADER):
        head, lines = lines[:1], lines[1:]  # which step failed: worth its line whatever is cut
    left_out = max(0, len(lines) - most)
    if left_out:
        lines = lines[-most:] if keep == "last" else lines[:most]
    shown = [indent + "".join(c if c.isprintable() else "?" for c in line.expandtabs(4)) for line in [*head, *lines]]
    if left_out:
        gap = f"{indent}… ({left_out} more line(s){'; --json has them' if keep == 'last' else ''})"
        shown = [*shown[: len(head)], gap, *shown[len(head) :]] if keep == "last" else [*shown, gap]
    return shown


def render_pr(p: PrInfo) -> str:
    lines = [
        f"PR #{p.number} of {p.session} [{p.state}{', draft' if p.draft else ''}] {p.url}",
        f"head {p.head_sha[:12]} → {p.base}   checks {p.checks}   review {p.review}   {p.mergeable}",
    ]
    for check in p.failing:
        lines.append(f"  failing: {check.name} ({check.conclusion}) {check.summary}".rstrip())
    if p.comments:
        lines.append(f"  {p.comments} open review comment(s)")
    lines.append("  not ready to merge: " + "; ".join(p.blockers) if p.blockers else "  ready to merge")
    return "\n".join(lines)
