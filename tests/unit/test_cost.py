"""aod.cost: the ledger summed once per batch, and budgets judged."""

from __future__ import annotations

from aod.cost import Budgets, budget_lines, over_budget, spent, summarize


def entry(batch: str, model: str, cost: float | None, *, session: str = "web-1", project: str = "web", time: str = "2026-12-02T10:00:00Z", agent: str = "claude-code") -> dict[str, object]:
    return {"time": time, "batch": batch, "session": session, "project": project, "agent": agent, "model": model,
            "input": 100, "output": 10, "cache_read": 1, "cache_write": 0, "cost_usd": cost}


def test_a_batch_appended_twice_counts_once_per_model() -> None:
    entries = [
        entry("web-1:7:0-100", "claude-sonnet-4-5", 0.5),
        entry("web-1:7:0-100", "claude-opus-4-1", 1.0),
        entry("web-1:7:0-100", "claude-sonnet-4-5", 0.5),  # the crash-repeat of the first line
        entry("web-2:9:0-50", "gpt-5-codex", 0.25, session="web-2", agent="codex"),
        entry("api-1:3:0-10", "mystery-model", None, session="api-1", project="api"),
    ]
    result = summarize("2026-12", entries)
    assert result.total_usd == 1.75 and result.unpriced
    assert [(p.name, p.cost_usd, p.unpriced) for p in result.projects] == [("web", 1.75, False), ("api", 0.0, True)]
    assert [(m.name, m.cost_usd) for m in result.models][:2] == [("claude-opus-4-1", 1.0), ("claude-sonnet-4-5", 0.5)]
    assert [(s.name, s.project, s.agent) for s in result.sessions] == [("web-1", "web", "claude-code"), ("web-2", "web", "codex"), ("api-1", "api", "claude-code")]
    assert result.sessions[0].input_tokens == 200
    only_api = summarize("2026-12", entries, project="api")
    assert [s.name for s in only_api.sessions] == ["api-1"] and only_api.total_usd == 0.0


def test_spent_by_day_and_month() -> None:
    entries = [entry("a", "m", 1.0, time="2026-12-01T23:59:59Z"), entry("b", "m", 2.0, time="2026-12-02T00:00:01Z")]
    assert spent(entries, project="web") == 3.0
    assert spent(entries, project="web", day="2026-12-02") == 2.0
    assert spent(entries, project="other") == 0.0


def test_the_first_budget_reached_is_named_and_a_lifted_one_is_not() -> None:
    budgets = Budgets(session=5.0, project_day=20.0, project_month=100.0)
    assert over_budget(budgets, session_usd=4.99, project_day_usd=19.0, project_month_usd=99.0) is None
    key, text = over_budget(budgets, session_usd=5.0, project_day_usd=0.0, project_month_usd=0.0)  # type: ignore[misc]
    assert key == "session" and text == "this session's budget of $5.00 is reached ($5.00 spent)"
    assert over_budget(budgets, session_usd=9.0, project_day_usd=25.0, project_month_usd=0.0, exempt=["session"]) == (
        "project_day", "the project's budget for today of $20.00 is reached ($25.00 spent)",
    )
    assert over_budget(budgets, session_usd=9.0, project_day_usd=25.0, project_month_usd=0.0,
                       exempt=["session", "project_day:2026-12-02"]) is None
    assert over_budget(Budgets(), session_usd=1e9, project_day_usd=1e9, project_month_usd=1e9) is None


# -- budget lines (cost.summary's `budgets`) --------------------------------------------------


def _budget_entries() -> list[dict[str, object]]:
    return [
        entry("w1a", "m", 3.0, session="web-1", time="2026-12-01T09:00:00Z"),
        entry("w1b", "m", 4.0, session="web-1", time="2026-12-02T09:00:00Z"),
        entry("w1b", "m", 4.0, session="web-1", time="2026-12-02T09:00:00Z"),  # a crash-repeat: counted once
        entry("w2a", "m", 2.5, session="web-2", time="2026-12-02T10:00:00Z"),
        entry("a1a", "m", 12.0, session="api-1", project="api", time="2026-12-01T08:00:00Z"),
        entry("a1b", "m", None, session="api-1", project="api", time="2026-12-02T08:00:00Z"),  # no price: nothing spent
        entry("b1a", "m", 30.0, session="big-1", project="big", time="2026-12-02T11:00:00Z"),
    ]


def test_no_budget_configured_gives_no_lines() -> None:
    assert budget_lines(_budget_entries(), Budgets(), {}) == []


def test_global_budgets_report_the_most_any_project_they_apply_to_spent() -> None:
    lines = budget_lines(_budget_entries(), Budgets(session=10.0, project_day=8.0, project_month=50.0), {"big": Budgets(session=40.0)}, day="2026-12-02")
    by_name = {line.name: line for line in lines}
    assert [line.name for line in lines] == [
        "each project, per month", "each project, per day", "each project, per session", "project big, per session",
    ]
    month = by_name["each project, per month"]
    assert (month.project, month.period, month.limit_usd, month.spent_usd, month.exceeded) == ("", "month", 50.0, 30.0, False)
    # Today: web spent 4.0 + 2.5, big 30: big has no day budget of its own, so the global one is its.
    day = by_name["each project, per day"]
    assert (day.period, day.spent_usd, day.exceeded) == ("day", 30.0, True)
    # big sets its own session budget: the global one applies to web and api only (api-1: 12).
    session = by_name["each project, per session"]
    assert (session.period, session.spent_usd, session.exceeded) == ("session", 12.0, True)
    own = by_name["project big, per session"]
    assert (own.project, own.limit_usd, own.spent_usd, own.exceeded) == ("big", 40.0, 30.0, False)


def test_a_project_budget_reports_that_projects_spending_and_reached_is_exceeded() -> None:
    lines = budget_lines(_budget_entries(), Budgets(), {"web": Budgets(project_month=9.5, project_day=6.5)}, day="2026-12-02")
    assert [(l.name, l.project, l.period, l.spent_usd, l.exceeded) for l in lines] == [
        ("project web, per month", "web", "month", 9.5, True),  # reached exactly: exceeded
        ("project web, per day", "web", "day", 6.5, True),
    ]
    # Another day: what web spent that day.
    (_, first) = budget_lines(_budget_entries(), Budgets(), {"web": Budgets(project_month=9.5, project_day=6.5)}, day="2026-12-01")
    assert (first.spent_usd, first.exceeded) == (3.0, False)


def test_without_a_day_a_day_budget_is_judged_on_the_costliest_day() -> None:
    (line,) = budget_lines(_budget_entries(), Budgets(), {"web": Budgets(project_day=100.0)})
    assert line.spent_usd == 6.5  # 2026-12-02: 4.0 + 2.5, more than the 1st's 3.0


def test_with_a_project_only_the_budgets_that_apply_to_it() -> None:
    config = (Budgets(session=10.0, project_month=50.0), {"big": Budgets(session=40.0), "web": Budgets(project_day=1.0)})
    lines = budget_lines(_budget_entries(), *config, day="2026-12-02", project="big")
    assert [(l.name, l.spent_usd) for l in lines] == [("each project, per month", 30.0), ("project big, per session", 30.0)]
    web = budget_lines(_budget_entries(), *config, day="2026-12-02", project="web")
    assert [(l.name, l.spent_usd, l.exceeded) for l in web] == [
        ("each project, per month", 9.5, False), ("each project, per session", 7.0, False), ("project web, per day", 6.5, True),
    ]
