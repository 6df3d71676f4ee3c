"""aod.cost: the ledger summed once per batch, and budgets judged."""

from __future__ import annotations

from aod.cost import Budgets, over_budget, spent, summarize


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
