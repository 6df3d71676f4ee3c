"""`roles.NAME`: what a session spawned with `--role NAME` is for (issue 19). The built-ins
(`implementer`, `reviewer`, `tester`, `docs`, in aod/roles.py) can be overridden key by key by
an entry of the same name. One job: this section's model.

May import: pydantic and this package's `fields`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from aod.config.fields import AGENT_NAME, Section

ROLE_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
TOOL_NAME = r"^[A-Za-z0-9_*:.()/ -]{1,200}$"


class RoleConfig(Section):
    """`roles.NAME`: a role's agent, prompt, color and tool allow-list."""

    # The agent a session of this role runs when the spawn names none; unset: the project's.
    agent: Annotated[str, Field(pattern=AGENT_NAME)] | None = None
    # The role's text, put before the task in the first prompt.
    prompt: str | None = None
    # A file holding the role's text instead (`~` expanded; relative: to the project's repository).
    prompt_file: str | None = None
    # A name or CSS color the dashboard shows the role in.
    color: Annotated[str, Field(pattern=r"^[A-Za-z0-9#(),. %-]{1,40}$")] | None = None
    # The tools the agent may use, passed to agents whose CLI takes an allow-list.
    tools: list[Annotated[str, Field(pattern=TOOL_NAME)]] | None = None

    @model_validator(mode="after")
    def _one_prompt(self) -> RoleConfig:
        if self.prompt is not None and self.prompt_file is not None:
            raise ValueError("give `prompt` or `prompt_file`, not both")
        return self
