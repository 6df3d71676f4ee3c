"""aoctl stop --all  ↔  session.stop_all  ↔  aod/handlers/session.py:stop_all"""

from __future__ import annotations

import click

from aoctl.context import Context, json_option
from aod.protocol import StopAllResult


@click.command("stop")
@click.option("--all", "all_", is_flag=True, help="Kill every live session's agent.")
@json_option
@click.pass_obj
def command(ctx: Context, all_: bool) -> None:
    """Kill every live session's agent (worktrees stay; `aoctl restore ID` brings one back)."""
    if not all_:
        raise click.UsageError("`aoctl stop` needs --all (to stop one session: aoctl kill ID)")
    with ctx.client(timeout=None) as client:
        result = client.call_as(StopAllResult, "session.stop_all")
    ctx.emit(result, lambda r: f"killed {len(r.killed)}: {', '.join(r.killed)}" if r.killed else "no live sessions")
