"""aoctl issue add|list|show|close  ↔  issue.*  ↔  aod/handlers/issue.py"""

from __future__ import annotations

import os

import click

from aoctl.commands._render import table
from aoctl.context import Context, json_option
from aod.protocol import IssueInfo, IssueListResult

_PROJECT = click.option("-p", "--project", help="Project name (default: the one you are in, or the only one).")


@click.group("issue")
def command() -> None:
    """A project's issues: the local forge's own, or GitHub's (read only)."""


@command.command("add")
@_PROJECT
@click.option("--title", "-t", required=True, help="One line that says what is wrong or wanted.")
@click.option("--body", "-b", default=None, help="The details.")
@click.option("--file", "-f", "body_file", type=click.File("r", encoding="utf-8"), help="Read the body from a file (- for stdin).")
@click.option("--label", "-l", "labels", multiple=True, help="A label (repeatable).")
@click.option("--depends-on", "depends_on", multiple=True, metavar="ISSUE",
              help="An issue whose PR must merge before this one's session starts (repeatable).")
@json_option
@click.pass_obj
def add(
    ctx: Context, project: str | None, title: str, body: str | None, body_file: object, labels: tuple[str, ...],
    depends_on: tuple[str, ...] = (),
) -> None:
    """Add an issue to the project's local forge; `aoctl spawn N` then works on it."""
    if body is not None and body_file is not None:
        raise click.UsageError("give --body or --file, not both")
    text = body if body is not None else (body_file.read() if body_file is not None else "")  # type: ignore[attr-defined]
    params = {"project": project, "title": title, "body": text, "labels": list(labels), "cwd": os.getcwd(),
              "depends_on": list(depends_on) or None}
    with ctx.client() as client:
        info = client.call_as(IssueInfo, "issue.add", {k: v for k, v in params.items() if v is not None})
    ctx.emit(info, lambda i: f"added issue #{i.id} to {i.project}: {_line(i.title)}\nwork on it: aoctl spawn {i.id} -p {i.project}")


@command.command("list")
@_PROJECT
@click.option("--state", type=click.Choice(["open", "closed", "all"]), default="open", show_default=True)
@click.option("--label", "-l", "labels", multiple=True, help="Only issues with this label (repeatable: all of them).")
@click.option("--assignee", help="Only issues assigned to this user (GitHub).")
@click.option("--milestone", help="Only issues in this milestone (GitHub).")
@click.option("-n", "--limit", default=100, show_default=True)
@json_option
@click.pass_obj
def list_(ctx: Context, project: str | None, state: str, labels: tuple[str, ...], assignee: str | None, milestone: str | None, limit: int) -> None:
    """List a project's issues."""
    params = {"project": project, "state": state, "labels": list(labels), "assignee": assignee, "milestone": milestone, "limit": limit, "cwd": os.getcwd()}
    with ctx.client(timeout=60) as client:
        result = client.call_as(IssueListResult, "issue.list", {k: v for k, v in params.items() if v is not None})
    ctx.emit(result, _render_list)


@command.command("show")
@click.argument("issue_id", metavar="ID")
@_PROJECT
@json_option
@click.pass_obj
def show(ctx: Context, issue_id: str, project: str | None) -> None:
    """Show issue ID with its body and comments."""
    params = {"id": issue_id, "project": project, "cwd": os.getcwd()}
    with ctx.client(timeout=60) as client:
        info = client.call_as(IssueInfo, "issue.show", {k: v for k, v in params.items() if v is not None})
    ctx.emit(info, _render_one)


@command.command("close")
@click.argument("issue_id", metavar="ID")
@_PROJECT
@json_option
@click.pass_obj
def close(ctx: Context, issue_id: str, project: str | None) -> None:
    """Close issue ID of the project's local forge."""
    params = {"id": issue_id, "project": project, "cwd": os.getcwd()}
    with ctx.client() as client:
        info = client.call_as(IssueInfo, "issue.close", {k: v for k, v in params.items() if v is not None})
    ctx.emit(info, lambda i: f"closed issue {_ref(i.id)} of {i.project}")


def _line(text: str) -> str:
    shown = " ".join(text.split())
    return "".join(c if c.isprintable() else "?" for c in shown)


def _render_list(r: IssueListResult) -> str:
    if not r.issues:
        return f"{r.project}: no issues"
    rows = [[_ref(i.id), i.state, _line(i.title)[:70], ",".join(i.labels)] for i in r.issues]
    return table(rows, ["id", "state", "title", "labels"])


def _render_one(i: IssueInfo) -> str:
    parts = [f"{_ref(i.id)} [{i.state}] {_line(i.title)}", f"project {i.project}" + (f"  labels {', '.join(i.labels)}" if i.labels else "")]
    if i.body.strip():
        parts += ["", _printable(i.body.strip())]
    for comment in i.comments:
        parts += ["", f"— {_line(comment.author)} {comment.at}".rstrip(), _printable(comment.body.strip())]
    return "\n".join(parts)


def _printable(text: str) -> str:
    # An issue body is someone else's text: no terminal escape sequences reach the screen.
    return "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)


def _ref(issue_id: str) -> str:
    """`#42` for a numbered issue (local, GitHub, GitLab); Linear's and Jira's keys as they are."""
    return f"#{issue_id}" if issue_id.isdecimal() else issue_id
