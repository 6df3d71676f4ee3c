"""aoctl logs  ↔  session.logs  ↔  aod/handlers/session.py:logs"""

from __future__ import annotations

import time

import click

from aoctl.context import Context, json_option
from aod.protocol import LogsResult


@click.command("logs")
@click.argument("session_id", metavar="ID")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new output (until Ctrl-C).")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str, lines: int, follow: bool) -> None:
    """Show the recent output of session ID's agent."""
    with ctx.client() as client:
        result = client.call_as(LogsResult, "session.logs", {"id": session_id, "lines": lines})
        ctx.emit(result, lambda r: r.text)
        if not follow:
            return
        previous = result.text.splitlines()
        while result.alive != "dead":
            time.sleep(1.0)  # a screen has no event stream; once a second is what a human reads
            result = client.call_as(LogsResult, "session.logs", {"id": session_id, "lines": max(lines, 200)})
            current = result.text.splitlines()
            for line in new_lines(previous, current):
                click.echo(line)
            previous = current


def new_lines(previous: list[str], current: list[str]) -> list[str]:
    """The lines of `current` after the longest overlap of `previous`'s end with its start."""
    for overlap in range(min(len(previous), len(current)), 0, -1):
        if previous[-overlap:] == current[:overlap]:
            return current[overlap:]
    return current if current != previous else []
