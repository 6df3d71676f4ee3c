"""Cost: the monthly ledger's entries summed up, and budgets judged. Pure: entries and limits in,
answers out (the store reads and appends the ledger; the observer produces the entries).

A ledger entry is one priced batch of one session's usage, for one model:

    {"time", "batch", "session", "project", "agent", "model",
     "input", "output", "cache_read", "cache_write", "cost_usd"}     (cost_usd null: no price known)

`batch` names the bytes of the agent's records it came from (`<session>:<offset>-<offset>`). A
crash between appending a batch and recording that it was read makes the next aod read and
append the same bytes again, under the same batch name: summing skips repeats, so nothing is
counted twice and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aod.protocol import CostLine, CostResult

TOKEN_FIELDS = ("input", "output", "cache_read", "cache_write")


@dataclass
class _Sum:
    cost: float = 0.0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKEN_FIELDS, 0))
    unpriced: bool = False
    project: str = ""
    agent: str = ""

    def add(self, entry: Mapping[str, Any]) -> None:
        cost = entry.get("cost_usd")
        if isinstance(cost, int | float):
            self.cost += float(cost)
        else:
            self.unpriced = True
        for name in TOKEN_FIELDS:
            value = entry.get(name)
            if isinstance(value, int):
                self.tokens[name] += value

    def line(self, name: str) -> CostLine:
        return CostLine(
            name=name,
            cost_usd=round(self.cost, 6),
            input_tokens=self.tokens["input"],
            output_tokens=self.tokens["output"],
            cache_read_tokens=self.tokens["cache_read"],
            cache_write_tokens=self.tokens["cache_write"],
            unpriced=self.unpriced,
            project=self.project,
            agent=self.agent,
        )


def unique(entries: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Entries with repeats of a (batch, model) dropped: a batch appended twice counts once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for entry in entries:
        key = (str(entry.get("batch", "")), str(entry.get("model", "")))
        if key[0] and key in seen:
            continue
        seen.add(key)
        out.append(entry)
    return out


def summarize(month: str, entries: Iterable[Mapping[str, Any]], project: str | None = None) -> CostResult:
    groups: dict[str, dict[str, _Sum]] = {"projects": {}, "agents": {}, "sessions": {}, "models": {}}
    total = _Sum()
    for entry in unique(entries):
        if project is not None and entry.get("project") != project:
            continue
        total.add(entry)
        keys = {
            "projects": str(entry.get("project", "")),
            "agents": str(entry.get("agent", "")),
            "sessions": str(entry.get("session", "")),
            "models": str(entry.get("model", "")) or "(unknown model)",
        }
        for group, key in keys.items():
            bucket = groups[group].setdefault(key, _Sum())
            if group == "sessions":
                bucket.project, bucket.agent = keys["projects"], keys["agents"]
            bucket.add(entry)

    def lines(group: str) -> list[CostLine]:
        return sorted((s.line(name) for name, s in groups[group].items()), key=lambda l: (-l.cost_usd, l.name))

    return CostResult(
        month=month,
        total_usd=round(total.cost, 6),
        projects=lines("projects"),
        agents=lines("agents"),
        sessions=lines("sessions"),
        models=lines("models"),
        unpriced=total.unpriced,
    )


def spent(entries: Iterable[Mapping[str, Any]], *, project: str, day: str | None = None) -> float:
    """What `project` spent in these entries (only on `day`, YYYY-MM-DD, when given)."""
    total = 0.0
    for entry in unique(entries):
        if entry.get("project") != project:
            continue
        if day is not None and not str(entry.get("time", "")).startswith(day):
            continue
        cost = entry.get("cost_usd")
        if isinstance(cost, int | float):
            total += float(cost)
    return total


@dataclass(frozen=True)
class Budgets:
    session: float | None = None
    project_day: float | None = None
    project_month: float | None = None


def over_budget(
    budgets: Budgets, *, session_usd: float, project_day_usd: float, project_month_usd: float, exempt: Iterable[str] = ()
) -> tuple[str, str] | None:
    """(budget key, a sentence) for the first budget reached, or None. `exempt` lists keys the
    user lifted with `aoctl resume` (`session`, `project_day:<day>`, `project_month:<month>`)."""
    lifted = set(exempt)
    checks = (
        ("session", budgets.session, session_usd, "this session's budget"),
        ("project_day", budgets.project_day, project_day_usd, "the project's budget for today"),
        ("project_month", budgets.project_month, project_month_usd, "the project's budget for this month"),
    )
    for key, limit, spent_usd, what in checks:
        if limit is None or spent_usd < limit:
            continue
        if any(e == key or e.startswith(f"{key}:") for e in lifted):
            continue
        return key, f"{what} of ${limit:.2f} is reached (${spent_usd:.2f} spent)"
    return None
