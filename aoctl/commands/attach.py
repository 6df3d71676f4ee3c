"""aoctl attach  ↔  session.attach  ↔  aod/handlers/session.py:attach"""

from __future__ import annotations

import os
import sys

import click

from aoctl.context import Context
from aoctl import exitcodes
from aod.protocol import AttachResult, attach_argv_problem


@click.command("attach")
@click.argument("session_id", metavar="ID")
@click.pass_obj
def command(ctx: Context, session_id: str) -> None:
    """Attach this terminal to session ID's agent (tmux: detach with Ctrl-b d)."""
    with ctx.client() as client:
        result = client.call_as(AttachResult, "session.attach", {"id": session_id})
    problem = attach_argv_problem(result.argv)
    if problem:
        # Only aod's own runtimes' commands are run in this terminal, whoever answered.
        click.echo(f"aoctl: not running the attach command aod sent: {problem}", err=True)
        sys.exit(exitcodes.PROTOCOL)
    try:
        os.execvp(result.argv[0], result.argv)
    except OSError as exc:
        raise click.ClickException(f"cannot run {result.argv[0]}: {exc.strerror}") from None
