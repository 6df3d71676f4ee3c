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

from aod.protocol import BudgetLine, CostLine, CostResult

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


# Budget kinds (the fields of Budgets), the period each is judged over, and how a line names it.
_KINDS = (("project_month", "month", "per month"), ("project_day", "day", "per day"), ("session", "session", "per session"))


def budget_lines(
    entries: Iterable[Mapping[str, Any]],
    global_budgets: Budgets,
    project_budgets: Mapping[str, Budgets],
    *,
    day: str | None = None,
    project: str | None = None,
) -> list[BudgetLine]:
    """Every configured budget against a month's ledger `entries`.

    `global_budgets` are the `budgets` section, which applies to each project; `project_budgets`
    each project's own `projects.NAME.budgets` (only the fields it sets), which replace the
    global ones field by field. A day budget is judged on `day` (YYYY-MM-DD), or, without one,
    on the month's costliest day. A session budget: on the costliest session of the month. A
    global budget reports the most that any project (or session) it applies to spent. With
    `project`, only the budgets that apply to that project, judged on its spending alone."""
    kept = [e for e in unique(entries) if project is None or e.get("project") == project]
    month_of: dict[str, float] = {}
    days_of: dict[str, dict[str, float]] = {}
    sessions_of: dict[str, dict[str, float]] = {}
    for entry in kept:
        cost = entry.get("cost_usd")
        if not isinstance(cost, int | float):
            continue
        name = str(entry.get("project", ""))
        month_of[name] = month_of.get(name, 0.0) + float(cost)
        on = str(entry.get("time", ""))[:10]
        by_day = days_of.setdefault(name, {})
        by_day[on] = by_day.get(on, 0.0) + float(cost)
        by_session = sessions_of.setdefault(name, {})
        sid = str(entry.get("session", ""))
        by_session[sid] = by_session.get(sid, 0.0) + float(cost)

    def spent_by(name: str, period: str) -> float:
        if period == "month":
            return month_of.get(name, 0.0)
        if period == "day":
            by_day = days_of.get(name, {})
            return by_day.get(day, 0.0) if day is not None else max(by_day.values(), default=0.0)
        return max(sessions_of.get(name, {}).values(), default=0.0)

    def line(name: str, owner: str, period: str, limit: float, spent_usd: float) -> BudgetLine:
        spent_usd = round(spent_usd, 6)
        return BudgetLine(name=name, project=owner, period=period, limit_usd=limit, spent_usd=spent_usd, exceeded=spent_usd >= limit)  # type: ignore[arg-type]

    lines: list[BudgetLine] = []
    for field_name, period, words in _KINDS:
        limit = getattr(global_budgets, field_name)
        if limit is None:
            continue
        # The projects this global budget applies to: those that do not set their own.
        governed = [n for n in month_of if getattr(project_budgets.get(n, Budgets()), field_name) is None]
        if project is not None and getattr(project_budgets.get(project, Budgets()), field_name) is not None:
            continue  # the project's own budget replaces it: that line says it
        lines.append(line(f"each project, {words}", "", period, limit, max((spent_by(n, period) for n in governed), default=0.0)))
    for name in sorted(project_budgets):
        if project is not None and name != project:
            continue
        for field_name, period, words in _KINDS:
            limit = getattr(project_budgets[name], field_name)
            if limit is not None:
                lines.append(line(f"project {name}, {words}", name, period, limit, spent_by(name, period)))
    return lines


def configured_budgets(config: Any) -> tuple[Budgets, dict[str, Budgets]]:
    """The `budgets` section and each project's own (only the fields it sets), as `budget_lines`
    takes them."""
    own = {
        name: Budgets(**{k: v for k, v in settings.budgets.model_dump().items() if v is not None})
        for name, settings in config.projects.items()
    }
    return Budgets(**config.budgets.model_dump()), {name: b for name, b in own.items() if b != Budgets()}
