"""`orchestrator` (and `projects.NAME.orchestrator`): what a project's orchestrator agent may do.

aod enforces this, not the agent's prompt: a tool call or command of the orchestrator session
that breaks it is refused with the reason (aod/orchestration.py). One job: this section's model.
May import: pydantic and this package's `fields`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aod.config.fields import AGENT_NAME, Integer, Section


class OrchestratorConfig(Section):
    """`orchestrator`: the orchestrator agent of each project (`aoctl orchestrator start`)."""

    # The agent CLI it runs; unset: the project's agent.
    agent: Annotated[str, Field(pattern=AGENT_NAME)] | None = None
    # Workers (sessions that are not orchestrators) of the project live at once, beyond which
    # the orchestrator's spawns are refused.
    max_workers: Annotated[Integer, Field(ge=1, le=1000)] = 4
    # Issues it may start workers on: those with one of these labels; empty: any issue.
    labels: list[str] = Field(default_factory=list)
    # Free-form tasks (no issue) it may start workers on.
    tasks: bool = True
    # Whether it may merge PRs (`pr.merge`); the human's approval and the forge's checks still apply.
    may_merge: bool = False
