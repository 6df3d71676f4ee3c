"""aod.plans: a plan file read and checked before anything spawns (issue 19)."""

from __future__ import annotations

import pytest

from aod.plans import PlanError, PlanTask, find_cycle, order, parse_plan


def t(id: str, *deps: str) -> PlanTask:
    return PlanTask(id=id, task=f"do {id}", depends_on=list(deps))


CYCLES = [
    ("none", [t("a"), t("b", "a")], None),
    ("two", [t("a", "b"), t("b", "a")], ["a", "b", "a"]),
    ("three", [t("a", "c"), t("b", "a"), t("c", "b")], ["a", "c", "b", "a"]),
    ("behind-a-chain", [t("x"), t("a", "x"), t("b", "a", "c"), t("c", "b")], ["b", "c", "b"]),
    ("diamond-is-no-cycle", [t("a"), t("b", "a"), t("c", "a"), t("d", "b", "c")], None),
]


@pytest.mark.parametrize(("case", "tasks", "cycle"), CYCLES, ids=[c[0] for c in CYCLES])
def test_find_cycle(case: str, tasks: list[PlanTask], cycle: list[str] | None) -> None:
    assert find_cycle(tasks) == cycle


def test_order_puts_dependencies_first_and_keeps_the_files_order_otherwise() -> None:
    tasks = [t("ui", "api"), t("docs"), t("api"), t("e2e", "ui", "api")]
    assert [x.id for x in order(tasks)] == ["api", "ui", "docs", "e2e"]


def test_a_plan_with_a_cycle_is_refused_with_the_cycle_named() -> None:
    text = "tasks:\n  - {id: a, task: A, depends_on: [b]}\n  - {id: b, task: B, depends_on: [a]}\n"
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "plan.yaml")
    assert caught.value.errors == ["plan.yaml: tasks: a cycle, nothing can start: a → b → a"]


ERRORS = [
    ("unknown-key", "tasks:\n  - id: a\n    task: A\n    colour: red\n", "plan.yaml:4: tasks[0].colour:"),
    ("no-work", "tasks:\n  - id: a\n", "plan.yaml:2: tasks[0]:"),
    ("unknown-dependency", "tasks:\n  - {id: a, task: A, depends_on: [zz]}\n",
     "plan.yaml: tasks[a].depends_on: no task 'zz' in this plan"),
    ("duplicate-id", "tasks:\n  - {id: a, task: A}\n  - {id: a, task: B}\n", "plan.yaml: tasks: the id 'a' is used twice"),
    ("stack-needs-one-parent", "tasks:\n  - {id: a, task: A}\n  - {id: b, task: B, stack: true}\n", "plan.yaml:3: tasks[1]:"),
    ("no-tasks", "name: x\n", "plan.yaml"),
    ("not-yaml", "tasks: [\n", "plan.yaml:"),
]


@pytest.mark.parametrize(("case", "text", "start"), ERRORS, ids=[e[0] for e in ERRORS])
def test_problems_say_file_line_and_key(case: str, text: str, start: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "plan.yaml")
    assert any(e.startswith(start) for e in caught.value.errors), caught.value.errors


def test_the_plan_is_named_after_its_file_unless_it_says() -> None:
    assert parse_plan("tasks: [{id: a, task: A}]\n", "/x/auth-plan.yaml").name == "auth-plan"
    assert parse_plan("name: mine\ntasks: [{id: a, issue: '3'}]\n", "/x/p.yaml").name == "mine"
