"""aoctl cost  ↔  cost.summary  ↔  aod/handlers/cost.py:summary"""

from __future__ import annotations

import click

from aoctl.commands._render import table
from aoctl.context import Context, json_option
from aod.protocol import CostLine, CostResult


@click.command("cost")
@click.option("--month", help="YYYY-MM (default: this month, UTC).")
@click.option("-p", "--project", help="Only this project.")
@json_option
@click.pass_obj
def command(ctx: Context, month: str | None, project: str | None) -> None:
    """What the agents spent: tokens and USD by project, agent, session and model."""
    params = {"month": month, "project": project}
    with ctx.client() as client:
        result = client.call_as(CostResult, "cost.summary", {k: v for k, v in params.items() if v is not None})
    ctx.emit(result, _render)


def _usd(line: CostLine) -> str:
    return f"${line.cost_usd:,.2f}" + ("+" if line.unpriced else "")


def _tokens(line: CostLine) -> str:
    total = line.input_tokens + line.output_tokens + line.cache_read_tokens + line.cache_write_tokens
    return f"{total:,}"


def _render(r: CostResult) -> str:
    if not r.sessions:
        return f"{r.month}: nothing spent yet" + _budgets(r)
    parts = [f"{r.month}: ${r.total_usd:,.2f}" + (" (+ usage with no known price)" if r.unpriced else "")]
    for title, lines in (("project", r.projects), ("agent", r.agents), ("model", r.models)):
        parts += ["", table([[l.name or "-", _usd(l), _tokens(l)] for l in lines], [title.upper(), "USD", "TOKENS"])]
    rows = [[l.name, l.project, l.agent, _usd(l), _tokens(l)] for l in r.sessions]
    parts += ["", table(rows, ["SESSION", "PROJECT", "AGENT", "USD", "TOKENS"])]
    return "\n".join(parts) + _budgets(r)


def _budgets(r: CostResult) -> str:
    if not r.budgets:
        return ""
    rows = [[b.name, f"${b.limit_usd:,.2f}", f"${b.spent_usd:,.2f}", "EXCEEDED" if b.exceeded else ""] for b in r.budgets]
    return "\n\n" + table(rows, ["BUDGET", "LIMIT", "SPENT", ""])
