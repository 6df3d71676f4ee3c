"""aoctl notify test  ↔  notify.test  ↔  aod/handlers/notify.py:test"""

from __future__ import annotations

import click

from aoctl import exitcodes
from aoctl.context import Context, json_option
from aod.protocol import NotifyTestResult


@click.group("notify")
def command() -> None:
    """Notifications: check that they reach you."""


@command.command("test")
@click.option("--priority", type=click.Choice(["urgent", "action", "warning", "info"]), default="info", show_default=True)
@click.option("--message", default="If you can read this, aod can reach you here.")
@json_option
@click.pass_obj
def test(ctx: Context, priority: str, message: str) -> None:
    """Send a test notification through every notifier routed for PRIORITY."""
    with ctx.client(timeout=120) as client:
        result = client.call_as(NotifyTestResult, "notify.test", {"priority": priority, "message": message})
    ctx.emit(result, lambda r: "\n".join(f"{name}: {outcome}" for name, outcome in sorted(r.results.items())))
    if any(outcome != "ok" for outcome in result.results.values()):
        click.get_current_context().exit(exitcodes.FAILED)
