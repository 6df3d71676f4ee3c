"""aod/orchestration.py: the orchestrator's policy and prompt (pure)."""

from __future__ import annotations

from aod.facts import Observation, SessionView
from aod.lifecycle import step
from aod.orchestration import IssueLine, OrchestratorInputs, Policy, SessionLine, compose, merge_refusal, spawn_refusal


def test_the_policy_refuses_with_a_reason_the_orchestrator_can_act_on() -> None:
    policy = Policy(max_workers=2, labels=("ao",), tasks=False)
    assert spawn_refusal(policy, live_workers=0, issue="7", issue_labels=["ao", "bug"]) is None
    full = spawn_refusal(policy, live_workers=2, issue="7", issue_labels=["ao"])
    assert full is not None and "at most 2 workers at once and 2 are live" in full
    assert "none of the labels" in (spawn_refusal(policy, live_workers=0, issue="7", issue_labels=["bug"]) or "")
    assert "could not be read" in (spawn_refusal(policy, live_workers=0, issue="7", issue_labels=None) or "")
    assert "issues only" in (spawn_refusal(policy, live_workers=0, issue=None, issue_labels=None) or "")
    anything = Policy()
    assert spawn_refusal(anything, live_workers=3, issue=None, issue_labels=None) is None
    assert spawn_refusal(anything, live_workers=0, issue="7", issue_labels=None) is None  # no label rule: no need to read them
    assert merge_refusal(anything) is not None and merge_refusal(Policy(may_merge=True)) is None


def test_the_prompt_carries_the_backlog_the_fleet_the_rules_and_how_to_act() -> None:
    issues = [IssueLine(id=str(n), title=f"issue {n}\nwith a second line", labels=("ao",)) for n in range(1, 61)]
    text = compose(OrchestratorInputs(
        session_id="web-9", project="web", policy=Policy(max_workers=3), issues=issues,
        sessions=[SessionLine(id="web-2", state="ci_failed", reason="checks failing: test", issue="4")],
        budgets=["each session: $5.00"],
    ))
    assert "orchestrator of project web (session web-9)" in text
    assert "- 1: issue 1 with a second line [ao]" in text and "(and 10 more: issues_list)" in text
    assert "- web-2 (issue 4): ci_failed, checks failing: test" in text
    assert "at most 3 workers at once; any open issue" in text and "each session: $5.00" in text
    assert "session_spawn" in text and "human_ask" in text
    plain = compose(OrchestratorInputs(session_id="web-9", project="web", policy=Policy(), has_mcp=False))
    assert "aoctl --json spawn ISSUE --reuse-live" in plain and "session_spawn" not in plain
    assert "There are no open issues now." in plain and "No workers are running now." in plain


def test_an_orchestrator_waiting_is_never_stuck() -> None:
    busy = Observation(liveness="alive", activity="active", last_progress=0.0)
    assert step(SessionView(id="w", state="working"), busy, 10_000.0).state == "stuck"
    assert step(SessionView(id="o", state="working", kind="orchestrator"), busy, 10_000.0).state == "working"


def test_intake_takes_each_issue_once_and_only_as_many_as_there_is_room_for() -> None:
    from aod.orchestration import intake_choice

    fresh = intake_choice(["1", "2", "3"], {}, live_workers=0, max_workers=2)
    assert (fresh.start, fresh.resume) == (("1", "2"), ())
    later = intake_choice(["1", "2", "3"], {"1": "web-1", "2": "web-2"}, live_workers=1, max_workers=2)
    assert later.start == ("3",)  # issue 1's worker ended, but it was taken: never again
    crashed = intake_choice(["1", "2"], {"1": "spawning:intake:local:web:1"}, live_workers=2, max_workers=2)
    assert crashed.resume == ("1",) and crashed.start == ()  # finished with its key, room or not
    assert intake_choice(["5"], {}, live_workers=3, max_workers=2).start == ()


def test_a_spent_budget_refuses_first() -> None:
    refusal = spawn_refusal(Policy(), live_workers=0, issue="1", issue_labels=None, spent="the budget each project, per day is spent ($5.10 of $5.00)")
    assert refusal == "policy: the budget each project, per day is spent ($5.10 of $5.00); no new workers until it resets or the human raises it"
