"""A plan file (`aoctl plan apply plan.yaml`, issue 19): tasks with dependencies, read and checked.

```yaml
name: auth              # names the plan's sessions' idempotency keys (default: the file's stem)
project: demo           # default: as `aoctl spawn` picks it (the cwd's, or the only one)
tasks:
  - id: api
    issue: 11           # or `task: TEXT` (or both)
  - id: ui
    task: Build the login form on the new API
    depends_on: [api]   # queued until api's PR merged
    agent: codex
  - id: docs
    task: Document the login flow
    depends_on: [ui]
    stack: true         # starts at once on ui's branch, its PR based on it
```

`parse_plan` reads the text (the daemon's: aoctl sends the file as it is) into `Plan`, every
problem as `file:line: key: message`; `problems` adds the checks across tasks (unknown
dependencies, a stack on more than one task, a cycle — named `a → b → a`); `order` gives the
tasks dependencies first. Pure: no I/O (the text arrives as an argument).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from aod.config.fields import Section
from aod.config.loader import ConfigError, parse_config

TaskId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")]


class PlanTask(Section):
    id: TaskId
    issue: str | None = None
    task: str | None = None
    depends_on: list[TaskId] = []
    agent: str | None = None
    role: str | None = None
    stack: bool = False

    @model_validator(mode="after")
    def _work_given(self) -> PlanTask:
        if self.issue is None and not self.task:
            raise ValueError("give `issue` or `task` (or both)")
        if self.stack and len(self.depends_on) != 1:
            raise ValueError("`stack: true` needs exactly one `depends_on` (the task it stacks on)")
        return self


class Plan(Section):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None = None
    project: str | None = None
    tasks: list[PlanTask] = Field(min_length=1)


class PlanError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def parse_plan(text: str, source: str) -> Plan:
    """The plan in `text` (`source` names the file in messages); PlanError lists every problem."""
    try:
        plan = parse_config(text, source, Plan, environ={})
    except ConfigError as exc:
        raise PlanError(exc.errors) from None
    found = problems(plan.tasks)
    if found:
        raise PlanError([f"{source}: {p}" for p in found])
    if plan.name is None:
        stem = PurePath(source).stem or "plan"
        plan = plan.model_copy(update={"name": stem})
    return plan


def problems(tasks: Sequence[PlanTask]) -> list[str]:
    """Checks across tasks: ids unique, dependencies known, no cycle (named)."""
    out: list[str] = []
    ids = [t.id for t in tasks]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        out.append(f"tasks: the id {dup!r} is used twice")
    known = set(ids)
    for task in tasks:
        for dep in task.depends_on:
            if dep not in known:
                out.append(f"tasks[{task.id}].depends_on: no task {dep!r} in this plan")
            elif dep == task.id:
                out.append(f"tasks[{task.id}].depends_on: a task cannot depend on itself")
    if not out:
        cycle = find_cycle(tasks)
        if cycle is not None:
            out.append("tasks: a cycle, nothing can start: " + " → ".join(cycle))
    return out


def find_cycle(tasks: Sequence[PlanTask]) -> list[str] | None:
    """One cycle among the tasks' dependencies, as the ids around it with the first repeated
    at the end (`["a", "b", "a"]`: a depends on b, b on a); None when there is none."""
    deps = {t.id: list(t.depends_on) for t in tasks}
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(deps, WHITE)
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        colour[node] = GREY
        path.append(node)
        for nxt in deps.get(node, []):
            if nxt not in colour:
                continue
            if colour[nxt] == GREY:
                return [*path[path.index(nxt):], nxt]
            if colour[nxt] == WHITE and (found := visit(nxt)) is not None:
                return found
        path.pop()
        colour[node] = BLACK
        return None

    for task in tasks:
        if colour[task.id] == WHITE and (found := visit(task.id)) is not None:
            return found
    return None


def order(tasks: Sequence[PlanTask]) -> list[PlanTask]:
    """The tasks with every dependency before its dependents, otherwise in the file's order.
    Assumes `problems` found nothing (no cycle)."""
    by_id = {t.id: t for t in tasks}
    done: set[str] = set()
    out: list[PlanTask] = []

    def place(task: PlanTask) -> None:
        if task.id in done:
            return
        done.add(task.id)
        for dep in task.depends_on:
            place(by_id[dep])
        out.append(task)

    for task in tasks:
        place(task)
    return out
