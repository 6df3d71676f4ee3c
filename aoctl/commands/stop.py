"""aoctl stop [--all]  ↔  daemon.shutdown (with --all first session.stop_all  ↔
aod/handlers/session.py:stop_all): the mirror of `aoctl start`."""

from __future__ import annotations

import sys
import time

import click

from aoctl import exitcodes
from aoctl.client import DaemonNotRunning
from aoctl.commands.daemon import STOP_TIMEOUT, answers
from aoctl.context import Context, json_option
from aod.protocol import PingResult, StopAllResult


@click.command("stop")
@click.option("--all", "all_", is_flag=True, help="Also kill every live session's agent first (worktrees stay).")
@json_option
@click.pass_obj
def command(ctx: Context, all_: bool) -> None:
    """Stop aod. The agents keep running (aod picks them up when it starts again), unless --all.

    With --all every live session's agent is killed first; worktrees and branches stay, and
    `aoctl restore ID` brings one back."""
    killed: list[str] = []
    try:
        with ctx.client(timeout=None) as client:
            pid = client.call_as(PingResult, "daemon.ping").pid
            if all_:
                killed = client.call_as(StopAllResult, "session.stop_all").killed
            client.call("daemon.shutdown")
    except DaemonNotRunning:
        ctx.emit({"stopped": False, "pid": None, "killed": []}, lambda _r: "aod is not running: nothing to stop")
        return
    deadline = time.monotonic() + STOP_TIMEOUT
    while answers(ctx):
        if time.monotonic() > deadline:
            click.echo(f"aoctl: aod (pid {pid}) did not stop within {STOP_TIMEOUT:g}s", err=True)
            sys.exit(exitcodes.FAILED)
        time.sleep(0.05)
    ctx.emit(
        {"stopped": True, "pid": pid, "killed": killed},
        lambda r: (f"killed {len(r['killed'])} agent(s): {', '.join(r['killed'])}\n" if r["killed"] else "")
        + f"aod (pid {r['pid']}) stopped" + ("" if all_ else "; the agents keep running"),
    )
