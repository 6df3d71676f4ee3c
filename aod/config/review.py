"""`projects.NAME.review`: a reviewer agent on every PR of the project (issue 19).

One job: this section's model. May import: pydantic and this package's `fields`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from aod.config.fields import AGENT_NAME, HOUR, MINUTE, Integer, PositiveDuration, Section, at_most


class ReviewConfig(Section):
    """`projects.NAME.review`: when a worker's PR opens (or its checks go green), aod starts one
    read-only reviewer session on its head; its comments reach the worker as review comments."""

    # The reviewer's agent (a built-in or an `agents.NAME`).
    agent: Annotated[str, Field(pattern=AGENT_NAME)]
    # `pr_opened`: review each new head of an open PR; `ci_green`: only once its checks pass.
    when: Literal["pr_opened", "ci_green"] = "pr_opened"
    # Reviews of one worker, at most; the next head is left to a person (told once).
    rounds: Annotated[Integer, Field(ge=1, le=20)] = 2
    # `false`: a reviewer's `--approve` is recorded as a comment ("no changes requested"), so only
    # a person's approval counts; `true`: it counts as an approval (auto_merge then decides).
    may_approve: bool = False
    # A reviewer still running after this long is ended, and a person told.
    timeout: Annotated[PositiveDuration, at_most(24 * HOUR)] = 30 * MINUTE
    # Added to the reviewer's first prompt (what to look for); `{worker}` and `{round}` are filled in.
    instructions: str | None = None
    # The most of the diff (base...head) put in the reviewer's first prompt, in characters.
    max_diff_chars: Annotated[Integer, Field(ge=1000, le=1_000_000)] = 60_000
