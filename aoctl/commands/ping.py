"""aoctl ping  ↔  daemon.ping  ↔  aod/handlers/daemon.py:ping"""

from __future__ import annotations

import time

import click

from aoctl.context import Context, json_option
from aod.protocol import PingResult


@click.command("ping")
@json_option
@click.pass_obj
def command(ctx: Context) -> None:
    """Check that aod answers, and how fast."""
    started = time.perf_counter()
    with ctx.client() as client:
        result = client.call_as(PingResult, "daemon.ping")
    elapsed_ms = (time.perf_counter() - started) * 1000
    ctx.emit(
        {"version": result.version, "pid": result.pid, "protocol": result.protocol,
         "round_trip_ms": round(elapsed_ms, 3)},
        lambda r: f"pong from aod {r['version']} (pid {r['pid']}) in {r['round_trip_ms']:.1f} ms",
    )
