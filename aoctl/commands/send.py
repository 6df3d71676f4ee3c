"""aoctl send  ↔  session.send  ↔  aod/handlers/session.py:send"""

from __future__ import annotations

import sys

import click

from aoctl.context import Context, json_option
from aod.protocol import SendResult


@click.command("send")
@click.argument("session_id", metavar="ID")
@click.argument("message", required=False)
@click.option("--file", "file", type=click.File("r", encoding="utf-8"), help="Read the message from a file ('-' for stdin).")
@json_option
@click.pass_obj
def command(ctx: Context, session_id: str, message: str | None, file: click.utils.LazyFile | None) -> None:
    """Send MESSAGE to session ID's agent ('-' reads stdin). Queued, delivered in order, verified."""
    if file is not None and message is not None:
        raise click.UsageError("give MESSAGE or --file, not both")
    if file is not None:
        text = file.read()
    elif message == "-":
        text = sys.stdin.read()
    elif message is not None:
        text = message
    else:
        raise click.UsageError("give MESSAGE, '-' for stdin, or --file F")
    with ctx.client() as client:
        result = client.call_as(SendResult, "session.send", {"id": session_id, "message": text})
    ctx.emit(
        result,
        lambda r: f"queued for {r.id} (message {r.seq}"
        + (f", {r.queued - 1} ahead of it)" if r.queued > 1 else ")"),
    )
