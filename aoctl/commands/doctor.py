"""aoctl doctor  ↔  daemon.doctor  ↔  aod/handlers/daemon.py:doctor"""

from __future__ import annotations

import shutil

import click

from aoctl import exitcodes
from aoctl.client import DaemonNotRunning
from aoctl.context import Context, json_option
from aod.protocol import DoctorCheck, DoctorResult


@click.command("doctor")
@json_option
@click.pass_obj
def command(ctx: Context) -> None:
    """Check git, tmux, the agent CLIs, forge auth, aod itself; say how to fix what is missing."""
    try:
        with ctx.client(timeout=60) as client:
            result = client.call_as(DoctorResult, "daemon.doctor")
    except DaemonNotRunning as exc:
        # Without aod, check what this machine has from here, so the first run is still useful.
        checks = [
            DoctorCheck(name="aod", ok=False, detail=f"not running ({exc.path})", fix="aoctl daemon start"),
        ]
        for tool in ("git", "tmux"):
            found = shutil.which(tool)
            checks.append(DoctorCheck(name=tool, ok=bool(found), detail=found or f"{tool} is not installed", fix="" if found else f"install {tool}"))
        result = DoctorResult(ok=False, checks=checks)
    ctx.emit(result, _render)
    if not result.ok:
        click.get_current_context().exit(exitcodes.FAILED)


def _render(r: DoctorResult) -> str:
    lines = []
    for c in r.checks:
        mark = "ok " if c.ok else ("-- " if c.optional else "!! ")
        lines.append(f"{mark} {c.name}: {c.detail}")
        if not c.ok and c.fix:
            lines.append(f"     fix: {c.fix}")
    warnings = sum(1 for c in r.checks if not c.ok and c.optional)
    if not r.ok:
        lines.append("some checks failed (!!); see the fixes above")
    elif warnings:
        lines.append(f"all good; {warnings} warning{'' if warnings == 1 else 's'} (--): optional, nothing uses them yet")
    else:
        lines.append("all good")
    return "\n".join(lines)
