"""`projects.NAME.intake`: new issues that match are given a worker by aod itself.

One job: this section's model. May import: pydantic and this package's `fields`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aod.config.fields import AGENT_NAME, HOUR, PositiveDuration, Section, at_most


class IntakeConfig(Section):
    """`projects.NAME.intake`: issue intake. An open issue with one of `labels` (and `assignee`,
    when set) gets a worker, once: a restart, a relabel or a reopened issue never starts a
    second one. Within the orchestrator's `max_workers`."""

    labels: Annotated[list[str], Field(min_length=1)]
    assignee: str | None = None
    # The agent its workers run; unset: the project's agent.
    agent: Annotated[str, Field(pattern=AGENT_NAME)] | None = None
    # How often the tracker is asked for matching issues (one request per project each time).
    every: Annotated[PositiveDuration, at_most(HOUR)] = 60.0
