"""aoctl plugins  ↔  plugins.list  (↔ aod/handlers/plugins.py; issue 22, docs/plugins.md)."""

from __future__ import annotations

import click

from aoctl.context import Context, json_option
from aod.protocol import PluginListResult


@click.command("plugins")
@json_option
@click.pass_obj
def command(ctx: Context) -> None:
    """Every slot's plugins, built-in and installed: where each came from, ok or why not."""
    with ctx.client() as client:
        result = client.call_as(PluginListResult, "plugins.list")
    ctx.emit(result.plugins, _render)


def _render(plugins: list) -> str:  # type: ignore[type-arg]
    from aoctl.commands._render import table

    rows = [
        [p.slot, p.name, p.distribution, p.version or "-", p.module or "-", p.status]
        for p in plugins
    ]
    text = table(rows, ["SLOT", "NAME", "DISTRIBUTION", "VERSION", "MODULE", "STATUS"])
    errors = [f"{p.slot} {p.name}: {p.error}" for p in plugins if p.error]
    failed = [f"{p.slot} {p.name}: {p.failures} call(s) raised, the last: {p.last_failure}" for p in plugins if p.failures]
    return text + "".join(f"\nerror: {e}" for e in errors) + "".join(f"\nfailing: {f}" for f in failed)
