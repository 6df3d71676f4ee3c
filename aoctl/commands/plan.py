"""aoctl plan apply  ↔  plan.apply  ↔  aod/handlers/plan.py:apply"""

from __future__ import annotations

import os

import click

from aoctl.commands._render import table
from aoctl.context import Context, json_option
from aod.protocol import PlanApplyResult


@click.group("plan")
def command() -> None:
    """Plans: several tasks at once, with dependencies and stacks (a YAML file; docs/workflows.md)."""


@command.command("apply")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("--dry-run", is_flag=True, help="Check the plan and say what would start; start nothing.")
@json_option
@click.pass_obj
def apply(ctx: Context, file: str, dry_run: bool) -> None:
    """Start FILE's tasks, dependencies first: a task with `depends_on` is queued until those
    merged (`stack: true`: at once, on its dependency's branch). A cycle or any problem is refused
    before anything starts; applying the same plan again starts nothing twice."""
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.UsageError(f"cannot read {file}: {exc}") from None
    params = {"text": text, "source": file, "dry_run": dry_run, "cwd": os.getcwd()}
    # Tasks without dependencies start now (worktrees, setup hooks): no client timeout.
    with ctx.client(timeout=None) as client:
        result = client.call_as(PlanApplyResult, "plan.apply", params)
    ctx.emit(result, _render)


def _render(result: PlanApplyResult) -> str:
    rows = [
        [t.id, t.action, t.session or "-", t.state or "-", ", ".join(t.depends_on) or "-"]
        for t in result.tasks
    ]
    head = f"plan {result.name} ({result.project})\n"
    return head + table(rows, ["TASK", "ACTION", "SESSION", "STATE", "AFTER"])
