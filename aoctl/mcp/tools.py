"""Which of aod's methods an MCP client may call, under which tool names, with which schemas.

The schemas are made from the method's params and result types in aod/protocol.py, the same
types OpenRPC is generated from, so a tool can never take arguments the method would refuse.

Tool names use `_`, not `.`: the model APIs behind most MCP clients accept tool names matching
`[A-Za-z0-9_-]{1,64}` only (Claude Code calls this server's tools `mcp__aod__session_spawn`).

May import: aod.protocol, msgspec.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import msgspec

from aod import protocol

BRIDGE_FILLED: Final = frozenset({"cwd", "by"})
"""Params the bridge fills itself: `cwd` is the directory `aoctl mcp` runs in (the agent's
worktree), which picks the project as it does for aoctl; `by` is the session it serves
($AO_SESSION_ID), whose policy applies when it is an orchestrator."""


class Tool(NamedTuple):
    name: str
    method: str
    title: str
    description: str
    read_only: bool = False
    destructive: bool = False
    idempotent: bool = False
    own_session: bool = False
    """`id` may be left out: it is then the session this server runs in ($AO_SESSION_ID)."""


TOOLS: Final[tuple[Tool, ...]] = (
    Tool("sessions_list", "session.list", "List sessions",
         "Every live session (newest last) with its state, activity, branch and PR status. "
         "`project` narrows it to one project; `cost: true` adds each session's spending.",
         read_only=True, idempotent=True),
    Tool("session_get", "session.get", "Get a session",
         "One session: state and why, activity, branch, worktree, PR number/checks/review.",
         read_only=True, idempotent=True),
    Tool("session_history", "session.history", "A session's history",
         "A session's journal, oldest first: state changes, reactions, messages sent and when.",
         read_only=True, idempotent=True),
    Tool("session_logs", "session.logs", "A session's screen",
         "The last `lines` lines of the agent's terminal.", read_only=True, idempotent=True),
    Tool("session_diff", "session.diff", "A session's diff",
         "The session's branch against its base: files changed and the unified diff.",
         read_only=True, idempotent=True),
    Tool("session_spawn", "session.spawn", "Start a worker",
         "Start an agent on an issue (`issue`) or a free-form task (`task`) in its own worktree and "
         "branch. Give `idempotency_key` (any string unique to this request): calling again with "
         "the same key returns the session the first call started instead of a second one. With "
         "`reuse_live: true`, an issue that already has a live session of that agent returns it.",
         idempotent=True),
    Tool("session_send", "session.send", "Message a worker",
         "Send a message to a session's agent, exactly as written; aod delivers it when the "
         "agent is ready and checks that it arrived (`session_history` shows when)."),
    Tool("session_pause", "session.pause", "Pause a session",
         "Stop reacting to a session (no messages sent to it) until it is resumed.", idempotent=True),
    Tool("session_resume", "session.resume", "Resume a session",
         "Resume a paused session; it is judged afresh.", idempotent=True),
    Tool("session_kill", "session.kill", "Stop a session",
         "Stop a session's agent. Its worktree and branch stay (nothing is lost); "
         "`restore` starts it again.", destructive=True, idempotent=True),
    Tool("issues_list", "issue.list", "List issues",
         "A project's issues (open ones by default) from its tracker.", read_only=True, idempotent=True),
    Tool("issue_show", "issue.show", "Show an issue",
         "One issue with its body and comments.", read_only=True, idempotent=True),
    Tool("issue_add", "issue.add", "Add an issue",
         "Add an issue to a project's local tracker."),
    Tool("pr_readiness", "pr.show", "A session's PR readiness",
         "What aod last saw of the session's PR: checks (failing ones with their log excerpt), "
         "review, unresolved comments, mergeability, and what blocks the merge.",
         read_only=True, idempotent=True),
    Tool("pr_merge", "pr.merge", "Merge a session's PR",
         "Merge the session's PR if it is approved, green and mergeable at the head aod judged.",
         destructive=True),
    Tool("cost_summary", "cost.summary", "Spending",
         "This month's spending by project, agent, session and model, and the budgets.",
         read_only=True, idempotent=True),
    Tool("daemon_status", "daemon.status", "aod's status",
         "aod's version, uptime, session counts and last tick.", read_only=True, idempotent=True),
    Tool("group_compare", "group.compare", "Compare attempts",
         "A group of attempts at one task (`aoctl spawn --attempts`) side by side: each attempt's "
         "agent, state, diff size, CI, review and cost.", read_only=True, idempotent=True),
    Tool("group_pick", "group.pick", "Keep one attempt",
         "Keep attempt `session` of group `id`; the others are stopped with their work saved and "
         "their PRs closed.", destructive=True),
    Tool("plan_apply", "plan.apply", "Apply a plan",
         "Start a plan's tasks (YAML text in `text`: tasks with `depends_on`, `agent`, `role`, "
         "`stack`): dependents wait until what they depend on merged; a cycle is refused before "
         "anything starts; applying again starts nothing twice.", idempotent=True),
    Tool("session_checkpoints", "session.checkpoints", "A session's checkpoints",
         "The checkpoints aod took at the end of each of the agent's turns: time, HEAD, diffstat.",
         read_only=True, idempotent=True),
    Tool("human_ask", "human.ask", "Ask the human",
         "Ask the person supervising the fleet a question. It is shown on the dashboard and sent as "
         "a notification; the answer arrives as a message to this session.", own_session=True),
    Tool("session_report", "session.report", "Report progress",
         "Say where this session stands: `done`, `blocked` (with why) or `needs_input` (with the "
         "question). The most trusted signal aod has of an agent's state.", own_session=True),
)


def available_tools() -> list[Tool]:
    """The tools whose method this aod's protocol has (a newer aoctl never offers a missing one)."""
    return [tool for tool in TOOLS if tool.method in protocol.METHODS]


def by_name() -> dict[str, Tool]:
    return {tool.name: tool for tool in available_tools()}


def describe(tools: list[Tool]) -> list[dict[str, Any]]:
    """The `tools/list` entries: name, title, description, inputSchema, outputSchema, annotations."""
    types: list[Any] = []
    for tool in tools:
        method = protocol.METHODS[tool.method]
        types += [method.params, method.result]
    _, components = msgspec.json.schema_components(types, ref_template="#/$defs/{name}")
    described = []
    for tool in tools:
        method = protocol.METHODS[tool.method]
        entry: dict[str, Any] = {
            "name": tool.name,
            "title": tool.title,
            "description": tool.description,
            "inputSchema": _object_schema(method.params, components, hide=BRIDGE_FILLED, optional={"id"} if tool.own_session else set()),
            "annotations": {
                "title": tool.title,
                "readOnlyHint": tool.read_only,
                "destructiveHint": tool.destructive,
                "idempotentHint": tool.idempotent,
                "openWorldHint": False,
            },
        }
        if isinstance(method.result, type) and issubclass(method.result, msgspec.Struct):
            entry["outputSchema"] = _object_schema(method.result, components)
        described.append(entry)
    return described


def _object_schema(
    struct: type, components: dict[str, Any], hide: frozenset[str] = frozenset(), optional: set[str] | None = None
) -> dict[str, Any]:
    """The struct's schema as one self-contained object schema (its references in `$defs`)."""
    own = dict(components[struct.__name__])
    own.pop("title", None)
    properties = {k: v for k, v in own.get("properties", {}).items() if k not in hide}
    required = [k for k in own.get("required", []) if k not in hide and k not in (optional or set())]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if "additionalProperties" in own:
        schema["additionalProperties"] = own["additionalProperties"]
    if "description" in own:
        schema["description"] = own["description"]
    needed = _references(properties, components)
    if needed:
        schema["$defs"] = {name: components[name] for name in sorted(needed)}
    return schema


def _references(value: Any, components: dict[str, Any], found: set[str] | None = None) -> set[str]:
    found = set() if found is None else found
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/"):]
            if name not in found:
                found.add(name)
                _references(components.get(name, {}), components, found)
        for item in value.values():
            _references(item, components, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, components, found)
    return found
