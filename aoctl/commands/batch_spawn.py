"""aoctl batch-spawn  ↔  session.batch_spawn  ↔  aod/handlers/session.py:batch_spawn"""

from __future__ import annotations

import os

import click

from aoctl import exitcodes
from aoctl.context import Context, json_option
from aod.protocol import BatchSpawnResult


@click.command("batch-spawn")
@click.argument("issues", nargs=-1, required=True)
@click.option("-p", "--project", help="Project name.")
@click.option("--agent", help="Agent to run (default: the project's).")
@json_option
@click.pass_obj
def command(ctx: Context, issues: tuple[str, ...], project: str | None, agent: str | None) -> None:
    """Spawn one session per ISSUE; issues that already have a live session are skipped."""
    params = {"issues": list(issues), "project": project, "agent": agent, "cwd": os.getcwd()}
    with ctx.client(timeout=None) as client:
        result = client.call_as(BatchSpawnResult, "session.batch_spawn", {k: v for k, v in params.items() if v is not None})
    ctx.emit(result, _render)
    if result.failed:
        click.get_current_context().exit(exitcodes.FAILED)


def _render(r: BatchSpawnResult) -> str:
    lines = [f"spawned {len(r.spawned)}, skipped {len(r.skipped)}, failed {len(r.failed)}"]
    lines += [f"  + #{s.issue} → {s.id} ({s.branch})" for s in r.spawned]
    lines += [f"  = #{s.issue}: {s.reason}" + (f" ({s.session})" if s.session else "") for s in r.skipped]
    lines += [f"  ! #{s.issue}: {s.reason}" for s in r.failed]
    return "\n".join(lines)
