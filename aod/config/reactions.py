"""`reactions.KEY` (and `projects.NAME.reactions.KEY`): what aod does when a trigger fires,
deep-merged over the built-in defaults (aod/reactions.py holds those and decides).

One job: the reaction keys and the model of one reaction's overrides. May import: pydantic and
this package's `fields`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from aod.config.fields import Duration, Integer, Priority, Section, parse_duration


REACTION_KEYS = (
    "ci-failed", "changes-requested", "merge-conflicts", "approved-and-green", "agent-stuck",
    "agent-needs-input", "agent-exited", "usage-limited", "pr-closed", "pr-merged", "budget-exceeded",
    "review-pending",
    "delivery-failed",
    "agent-review",
    "dependency-blocked",
)
ReactionKey = Literal[
    "ci-failed", "changes-requested", "merge-conflicts", "approved-and-green", "agent-stuck",
    "agent-needs-input", "agent-exited", "usage-limited", "pr-closed", "pr-merged", "budget-exceeded",
    "review-pending",
    "delivery-failed",
    "agent-review",
    "dependency-blocked",
]


def _count_or_duration(value: Any) -> Any:
    # `escalate_after: 3` is a count of attempts; `escalate_after: 30m` is a time.
    if isinstance(value, bool):
        raise ValueError("must be a count like 3 or a duration like 30m")
    if isinstance(value, int):
        return value
    return parse_duration(value)


class ReactionConfig(Section):
    """`reactions.KEY` (and `projects.NAME.reactions.KEY`): deep-merged over the defaults."""

    action: Literal["send-to-agent", "notify", "auto-merge", "restart", "pause", "cleanup", "none"] | None = None
    retries: Annotated[Integer, Field(ge=0, le=100)] | None = None
    escalate_after: Annotated[int | float, BeforeValidator(_count_or_duration)] | None = None
    priority: Priority | None = None
    threshold: Duration | None = None
    message: str | None = None
    notify_too: bool | None = None
    comment: bool | None = None

    def overrides(self) -> dict[str, Any]:
        """The fields the user set, as ReactionPolicy fields (a count in escalate_after is retries)."""
        out: dict[str, Any] = {}
        for name in ("action", "retries", "priority", "threshold", "message", "notify_too", "comment"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if isinstance(self.escalate_after, int) and not isinstance(self.escalate_after, bool):
            out["retries"] = self.escalate_after
        elif self.escalate_after is not None:
            out["escalate_after"] = float(self.escalate_after)
        return out
