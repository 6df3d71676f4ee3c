"""The first prompt an agent gets: the task, the project's rules, and how to work here. Pure."""

from __future__ import annotations

from dataclasses import dataclass

RULES_FILES = ("AGENTS.md", "CLAUDE.md", ".ao/rules.md")
MAX_RULES_CHARS = 20_000


@dataclass(frozen=True)
class PromptInputs:
    session_id: str
    project: str
    branch: str
    base_branch: str
    issue: str | None
    title: str | None
    body: str | None
    task: str | None
    rules: str | None
    """The project's rules file content, if it has one that the agent does not read itself."""
    forge: str = "local"


def compose(inputs: PromptInputs) -> str:
    parts: list[str] = []
    if inputs.issue is not None:
        heading = f"Resolve issue {inputs.issue}"
        if inputs.title:
            heading += f": {inputs.title}"
        parts.append(heading + ".")
        if inputs.body:
            parts.append(inputs.body.strip())
    if inputs.task:
        parts.append(inputs.task.strip() if inputs.issue is None else f"Also: {inputs.task.strip()}")
    if inputs.rules:
        rules = inputs.rules.strip()
        if len(rules) > MAX_RULES_CHARS:
            rules = rules[:MAX_RULES_CHARS] + "\n[... rules truncated]"
        parts.append("Project rules:\n" + rules)
    parts.append(
        f"You are working in session {inputs.session_id} of project {inputs.project}, on branch "
        f"{inputs.branch} (created from {inputs.base_branch}) in your own git worktree. Commit "
        "your work on this branch as you go. When you are done, stop and say so with "
        "`aoctl report done \"SUMMARY\"`; messages about CI and review will reach you here. If you "
        "are blocked or need a person to decide, ask with `aoctl ask \"QUESTION\"` and wait: the "
        "answer comes here as a message. (With aod's MCP tools: session_report and human_ask.)"
    )
    if inputs.forge == "github":
        parts.append("When the work is ready for review, push the branch and open a pull request (`gh pr create --fill`).")
    elif inputs.forge == "gitlab":
        parts.append("When the work is ready for review, push the branch and run `aoctl pr open` to open the merge request.")
    else:
        parts.append("When the work is ready for review, commit it and run `aoctl pr open` to open the pull request.")
    return "\n\n".join(parts)
