"""plan.*: aoctl plan apply (issue 19)."""

from __future__ import annotations

import msgspec

from aod.app import App
from aod.errors import failure
from aod.handlers import Call, handler
from aod.handlers import session as session_handlers
from aod.plans import PlanError, order, parse_plan
from aod.protocol import ErrorCode, PlanApplyParams, PlanApplyResult, PlanTaskResult, SpawnParams
from aod.spawn import already_spawned


@handler("plan.apply")
async def apply(app: App, params: PlanApplyParams, call: Call) -> PlanApplyResult:
    """Every task through `session.spawn` (one idempotency key per plan and task, so applying
    again starts nothing twice), dependencies first; everything is checked before the first."""
    try:
        plan = parse_plan(params.text, params.source)
    except PlanError as exc:
        raise failure(ErrorCode.INVALID_PARAMS, "\n".join(exc.errors)) from None
    project = await app.sessions.project(plan.project, params.cwd)
    roles = "role" in SpawnParams.__struct_fields__
    for index, task in enumerate(plan.tasks):
        if task.role is not None and not roles:
            raise failure(
                ErrorCode.INVALID_PARAMS,
                f"{params.source}: tasks[{index}].role: this aod cannot give a session a role yet; remove `role`",
            )
        app.sessions.agent(task.agent or project.agent)  # an unknown agent is refused before anything starts
    everything = await app.store.list_sessions()
    started: dict[str, str] = {}
    results: list[PlanTaskResult] = []
    for task in order(plan.tasks):
        key = f"plan:{project.name}:{plan.name}:{task.id}"
        found = already_spawned(everything, key=key, project=project.name, issue=None, agent="")
        after = [started.get(dep, dep) for dep in task.depends_on]
        kind = "stack" if task.stack else ("queue" if task.depends_on else "spawn")
        if params.dry_run:
            if found is not None:
                started[task.id] = found.id
            action = "exists" if found is not None else f"would {kind}"
            results.append(PlanTaskResult(
                id=task.id, action=action, session=found.id if found else None,
                state=found.state if found else None, depends_on=after,
            ))
            continue
        spawn: dict[str, object] = {
            "project": project.name, "issue": task.issue, "task": task.task, "agent": task.agent,
            "idempotency_key": key, "after": after, "stack": task.stack, "cwd": params.cwd,
        }
        if roles and task.role is not None:
            spawn["role"] = task.role
        info = await session_handlers.spawn(app, msgspec.convert({k: v for k, v in spawn.items() if v is not None}, SpawnParams), call)
        started[task.id] = info.id
        action = "exists" if found is not None else {"spawn": "spawned", "queue": "queued", "stack": "stacked"}[kind]
        results.append(PlanTaskResult(id=task.id, action=action, session=info.id, state=info.state, depends_on=after))
    return PlanApplyResult(name=plan.name or "plan", project=project.name, tasks=results)
