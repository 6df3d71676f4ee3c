"""Starting a project's orchestrator agent (`orchestrator.start`): the live one if there is one
(never two), else a new session of kind `orchestrator` whose first prompt aod composes from the
project's open issues, its workers, the budgets and the policy (aod/orchestration.py, pure).

May import: sessions, spawn, forges (issues), orchestration, model, errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from aod.errors import RpcFailure
from aod.model import Session
from aod.orchestration import KIND, IssueLine, OrchestratorInputs, SessionLine, compose
from aod.sessions import LIVE_STATES

if TYPE_CHECKING:
    from aod.forges import ForgeService
    from aod.service import SessionService

log = structlog.get_logger()

ISSUES_READ = 200


async def start_orchestrator(
    sessions: SessionService, forges: ForgeService, *, project: str | None, agent: str | None, cwd: str | None
) -> Session:
    resolved = await sessions.project(project, cwd)
    everyone = await sessions.store.list_sessions()
    live = next((s for s in everyone if s.project == resolved.name and s.kind == KIND and s.state in LIVE_STATES), None)
    if live is not None:
        log.info("orchestrator already live", session=live.id, project=resolved.name)
        return live
    lost = max((s for s in everyone if s.project == resolved.name and s.kind == KIND and s.state == "errored"),
               key=lambda s: s.created_at, default=None)
    if lost is not None and lost.workspace:
        # Its agent is gone (a reboot, a crash): the same orchestrator again, in its own worktree,
        # rather than a second one beside it. One the user killed or finished stays ended.
        log.info("restoring the orchestrator", session=lost.id, project=resolved.name)
        return await sessions.spawner.restore(lost.id)
    settings = sessions.orchestrator_config(resolved.name)
    agent_name = agent or settings.agent or resolved.agent
    try:
        _name, issues = await forges.list_issues(resolved.name, None, state="open", labels=[], assignee=None, milestone=None, limit=ISSUES_READ)
    except RpcFailure as exc:
        log.warning("orchestrator starts without the issue list", project=resolved.name, error=exc.message)
        issues = []
    workers = [s for s in everyone if s.project == resolved.name and s.kind != KIND and s.state in LIVE_STATES]
    config = sessions.config()
    budgets = config.projects[resolved.name].budgets if resolved.name in config.projects else config.budgets
    plugin, _settings = sessions.agent(agent_name)
    # Told the MCP tools only when its plugin wires them in for this session (docs/mcp.md).
    speaks_mcp = bool(getattr(plugin, "speaks_mcp", False)) and sessions.mcp_enabled(agent_name)
    inputs_for = lambda session_id: OrchestratorInputs(  # noqa: E731 - the id is known only once reserved
        session_id=session_id,
        project=resolved.name,
        policy=sessions.orchestrator_policy(resolved.name),
        issues=[IssueLine(id=i.id, title=i.title, labels=tuple(i.labels)) for i in issues],
        sessions=[SessionLine(id=s.id, state=s.state, reason=s.reason, issue=s.issue, title=s.title or s.task) for s in workers],
        budgets=_budget_words(budgets, config.budgets),
        has_mcp=speaks_mcp,
    )
    return await sessions.spawner.spawn(
        project=resolved.name,
        issue=None,
        task=f"orchestrate project {resolved.name}",
        agent_name=agent_name,
        branch=None,
        kind=KIND,
        prompt=lambda session_id: compose(inputs_for(session_id)),
    )


async def check_merge(sessions: SessionService, by: str | None) -> None:
    """Refuse a merge an orchestrator session may not make (`orchestrator.may_merge`)."""
    from aod.errors import failure
    from aod.orchestration import merge_refusal
    from aod.protocol import ErrorCode

    if by is None:
        return
    try:
        asking = await sessions.session(by)
    except RpcFailure:
        return
    if asking.kind == KIND and (refusal := merge_refusal(sessions.orchestrator_policy(asking.project))) is not None:
        raise failure(ErrorCode.CONFLICT, refusal)


def _budget_words(project_budgets: object, global_budgets: object) -> list[str]:
    words = []
    for key, label in (("session", "each session"), ("project_day", "the project per day"), ("project_month", "the project per month")):
        value = getattr(project_budgets, key, None) or getattr(global_budgets, key, None)
        if value:
            words.append(f"{label}: ${value:.2f}")
    return words
