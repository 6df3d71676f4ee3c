"""The session core every part of aod shares: the live objects (store, bus, config, plugins) and
the lookups and writes each operation and the tick start from.

- lookups: `session`, `project` (a name, or the cwd's innermost repository; its remote detected
  and cached), `agent` and its settings and launch context, `runtime_for`, `workspace_for`;
- writes: `update` (read-modify-write with compare-and-set on `rev`, retried) and `set_state`;
- the outbox's front door: `enqueue` puts a message on disk and kicks its delivery worker
  (aod/outbox.py, which needs only this core, through its small `Sessions` protocol).

The operations live beside it, one job each: aod/projects_service.py, aod/spawn.py,
aod/teardown.py, aod/running.py; aod/service.py puts them together.

May import: store, config, model, events, errors, projects, protocol, redact, board, outbox, plugins.
Never the operations or anything of the tick above it.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from types import MappingProxyType
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import trio

from aod import board, redact
from aod.config import Config, OrchestratorConfig
from aod.errors import failure, not_found
from aod.events import EventBus, utc_now_iso
from aod.model import Project, Session
from aod.outbox import Outbox
from aod.plugins.agent import Agent, AgentSettings, LaunchContext, ScreenPatterns
from aod.plugins.agent.patterns import with_patterns
from aod.plugins.agent.registry import UnknownAgent, available_agent_names, get_agent
from aod.plugins.runtime import Runtime
from aod.plugins.workspace import Workspace, WorkspaceError
from aod.projects import ProjectProblem, ResolvedProject, all_names, resolve
from aod.orchestration import Policy
from aod.protocol import ErrorCode, OverlapInfo, ReportInfo, RuntimeInfo, SessionInfo
from aod.redact import Redactor
from aod.store import StaleRevision, Store

# Sessions in these states have no running agent that aod looks after; cleanup may remove them
# (an `archived` one still here is an archive a crash interrupted: cleanup finishes it).
ENDED_STATES = frozenset({"killed", "errored", "done", "merged", "closed", "archived"})
# Sessions in these states are still someone's work in progress (batch-spawn skips their issue).
LIVE_STATES = frozenset(
    {
        "spawning", "working", "needs_input", "stuck", "paused", "pr_open", "ci_failed",
        "review_pending", "changes_requested", "approved", "mergeable", "merge_failed",
        "queued",  # issue 19: waits for its dependencies (aod/dependencies.py)
    }
)
MAX_MESSAGE_BYTES = 1024 * 1024
REMOTE_RECHECK = 60.0
"""Seconds a detected remote (or its absence) is trusted before git is asked again."""


def session_info(session: Session, pending: int = 0, *, ci_escalated: bool = False) -> SessionInfo:
    """The session as the API shows it; `ci_escalated` (from its reaction ledger, see
    aod/board.py) is needed only for a session in `ci_failed`."""
    runtime = None
    if session.runtime is not None:
        runtime = RuntimeInfo(
            kind=session.runtime.kind,
            name=session.runtime.name,
            pane_id=session.runtime.pane_id,
            pid=session.runtime.pid,
        )
    return SessionInfo(
        id=session.id,
        project=session.project,
        state=session.state,
        lane=board.lane(session.state, ci_escalated=ci_escalated),
        reason=session.reason,
        activity=session.activity,
        agent=session.agent,
        issue=session.issue,
        task=session.task,
        title=session.title,
        branch=session.branch,
        workspace=session.workspace,
        runtime=runtime,
        created_at=session.created_at,
        updated_at=session.updated_at,
        since=session.since,
        wip_ref=session.wip_ref,
        pending_messages=pending,
        pr_number=session.pr_number,
        pr_url=session.pr_url,
        pr_state=session.pr.state if session.pr else None,
        pr_checks=session.pr.checks if session.pr else None,
        pr_review=session.pr.review if session.pr else None,
        pr_mergeable=session.pr.mergeable if session.pr else None,
        kind=session.kind,
        reviews=session.reviews or None,
        review_round=session.review_round or None,
        report=ReportInfo(status=session.report.status, message=session.report.message, at=session.report.at)
        if session.report is not None else None,
        group=session.group,
        group_picked=session.group_picked,
        role=session.role,
        role_color=session.role_color,
        role_note=session.role_note,
        overlaps=[OverlapInfo(session=o.session, files=list(o.files), file_count=o.file_count, since=o.since) for o in session.overlaps],
        depends_on=list(session.depends_on),
        stack_parent=session.stack_parent,
    )


@dataclass
class Plugins:
    """Factories for the plugin instances a config asks for (swapped only by config reload)."""

    runtimes: dict[str, Runtime]
    workspaces: dict[str, Workspace]


@dataclass(eq=False)
class _AgentTables:
    """What one config says of agents, worked out once (see `Sessions._agents_table`)."""

    config: Config
    settings: Mapping[str, AgentSettings]
    agents: dict[str, tuple[Agent, AgentSettings]] = field(default_factory=dict)
    """Name -> (plugin with its screen patterns, settings)."""
    contexts: dict[tuple[str, str, str], LaunchContext] = field(default_factory=dict)
    """(session id, workspace, agent) -> the context the tick reads the agent's files with."""


@dataclass(eq=False)
class Sessions:
    """The live objects and the lookups every operation and the tick share (one per daemon)."""

    store: Store
    bus: EventBus
    config: Callable[[], Config]
    plugins: Plugins
    data_dir: Path
    socket_path: Path
    home: Path = field(default_factory=Path.home)
    # Delivery workers: at most one per session (one message in flight), started on demand.
    nursery: trio.Nursery | None = None
    # Sessions whose spawn is running in this process; the tick leaves them alone.
    spawning: set[str] = field(default_factory=set)
    # The agent plugin instances, by name: some keep incremental read offsets (transcripts).
    _agents: dict[str, Agent] = field(default_factory=dict)
    # Repository path -> (when detected, remote, url): remotes of projects whose record has none.
    _remotes: dict[Path, tuple[float, str | None, str | None]] = field(default_factory=dict)
    outbox: Outbox = field(init=False)
    # What takes secrets out of text aod shows (the app sets the config's).
    redactor: Callable[[], Redactor] = lambda: redact.DEFAULT
    # The agents table and each name's (plugin, settings), made once per config object: the tick
    # asks for every session's agent several times (a reload makes a new config, so a new table).
    _agents_for: _AgentTables | None = None

    def __post_init__(self) -> None:
        self.outbox = Outbox(self)

    # -- agents ----------------------------------------------------------------------------------

    def agent_settings(self) -> Mapping[str, AgentSettings]:
        return self._agents_table().settings

    def _agents_table(self) -> _AgentTables:
        config = self.config()
        if self._agents_for is None or self._agents_for.config is not config:
            self._agents_for = _AgentTables(config, MappingProxyType(self._settings_of(config)))
        return self._agents_for

    @staticmethod
    def _settings_of(config: Config) -> dict[str, AgentSettings]:
        table = {}
        for name, cfg in config.agents.items():
            table[name] = AgentSettings(
                name=name,
                command=list(cfg.command) if cfg.command else None,
                args=list(cfg.args),
                env=dict(cfg.env),
                prompt=cfg.prompt,
                model=cfg.model,
                permissions=cfg.permissions,
                screen=ScreenPatterns(
                    idle=tuple(cfg.screen.idle),
                    working=tuple(cfg.screen.working),
                    waiting=tuple(cfg.screen.waiting),
                    input=cfg.screen.input,
                ),
            )
        return table

    def agent(self, name: str) -> tuple[Agent, AgentSettings]:
        tables = self._agents_table()
        table, resolved = tables.settings, tables.agents
        known = resolved.get(name)
        if known is not None:
            return known
        try:
            plugin, settings = get_agent(name, table)
        except UnknownAgent as exc:
            raise failure(ErrorCode.INVALID_PARAMS, str(exc), valid=available_agent_names(table)) from None
        # Keep one instance per name so its caches (transcript offsets) live across ticks.
        cached = self._agents.get(name)
        if cached is None or type(cached) is not type(plugin):
            self._agents[name] = plugin
            cached = plugin
        known = resolved[name] = (with_patterns(cached, settings.screen), settings)
        return known

    def agent_env(self, agent_name: str) -> dict[str, str]:
        """The agent's own environment settings (`agents.NAME.env`)."""
        settings = self.agent_settings().get(agent_name)
        return dict(settings.env) if settings is not None else {}

    def agent_context(self, session: Session, prompt: str = "", resume: str | None = None) -> LaunchContext:
        """What the agent plugin needs to know of a session: where it works, with which
        environment, and (for a launch) its prompt, conversation to resume and hook."""
        if not prompt and resume is None:
            # What the tick asks for every session: the same until the config or the session's
            # workspace or agent changes (frozen, so one object serves every tick).
            contexts = self._agents_table().contexts
            key = (session.id, session.workspace, session.agent)
            known = contexts.get(key)
            if known is None:
                if len(contexts) > 20_000:  # sessions come and go over a config's life
                    contexts.clear()
                known = contexts[key] = self._context(session, "", None)
            return known
        return self._context(session, prompt, resume)

    def _context(self, session: Session, prompt: str, resume: str | None) -> LaunchContext:
        return LaunchContext(
            session_id=session.id,
            workspace=Path(session.workspace),
            prompt=prompt,
            resume=resume,
            home=self.home,
            hook=self._hook_argv(session.agent),
            mcp=self._mcp_argv(session.agent),
            mcp_env={"AO_SESSION_ID": session.id, "AOD_SOCKET": str(self.socket_path)},
            env=self.agent_env(session.agent),
            tools=self.role_tools(session),
        )

    def role_tools(self, session: Session) -> tuple[str, ...]:
        """The tool allow-list of the session's role (issue 19, roles); empty: none."""
        if not session.role:
            return ()
        from aod.roles import entries_of, known_roles

        role = known_roles(entries_of(self.config().roles)).get(session.role)
        return role.tools if role is not None else ()

    def _hook_argv(self, agent_name: str) -> list[str]:
        """`aoctl hook AGENT`, run with this interpreter (the agent's PATH may have no aoctl);
        empty when the user turned hooks off for the agent."""
        cfg = self.config().agents.get(agent_name)
        if cfg is not None and not cfg.hooks:
            return []
        return [sys.executable, "-I", "-m", "aoctl", "hook", agent_name]

    def orchestrator_policy(self, project: str) -> Policy:
        """What the project's orchestrator may do: its own `orchestrator` section, else the global one."""
        section = self.orchestrator_config(project)
        return Policy(max_workers=section.max_workers, labels=tuple(section.labels), tasks=section.tasks, may_merge=section.may_merge)

    def orchestrator_config(self, project: str) -> OrchestratorConfig:
        config = self.config()
        settings = config.projects.get(project)
        return settings.orchestrator if settings is not None and settings.orchestrator is not None else config.orchestrator

    def mcp_enabled(self, agent_name: str) -> bool:
        """Whether sessions of this agent get `aoctl mcp` (`agents.NAME.mcp`, default on)."""
        cfg = self.config().agents.get(agent_name)
        return cfg is None or cfg.mcp

    def _mcp_argv(self, agent_name: str) -> list[str]:
        """`aoctl mcp`, run with this interpreter; empty when the user turned it off for the agent."""
        return [sys.executable, "-I", "-m", "aoctl", "mcp"] if self.mcp_enabled(agent_name) else []

    # -- projects --------------------------------------------------------------------------------

    async def project(self, name: str | None, cwd: str | None = None) -> ResolvedProject:
        records = await self.store.list_projects()
        config = self.config()
        names = all_names(records, config)
        if name is None:
            name = self._guess_project(records, config, names, cwd)
        if name not in names:
            raise not_found("project", name, names)
        record = next((r for r in records if r.name == name), None)
        try:
            return await self.with_remote(resolve(name, record, config))
        except ProjectProblem as exc:
            raise failure(ErrorCode.INVALID_PARAMS, str(exc)) from None

    async def with_remote(self, project: ResolvedProject) -> ResolvedProject:
        """The project with its repository's remote when its record names none: a project only
        in config.yaml (never `project add`ed), or one whose remote was added after. Detected
        once and cached, so the tick does not run git for it each time."""
        if project.remote_url is not None:
            return project
        from aod.plugins.workspace import git as gitplug

        now = time.monotonic()
        cached = self._remotes.get(project.path)
        if cached is None or now - cached[0] > REMOTE_RECHECK:
            try:
                remote, url = await gitplug.default_remote(project.path)
            except WorkspaceError:
                remote, url = None, None
            self._remotes[project.path] = cached = (now, remote, url)
        _, remote, url = cached
        return dataclasses.replace(project, remote=remote, remote_url=url) if url else project

    def _guess_project(
        self, records: list[Project], config: Config, names: list[str], cwd: str | None
    ) -> str:
        if cwd:
            here = Path(cwd)
            containing: dict[Path, list[str]] = {}
            for name in names:
                record = next((r for r in records if r.name == name), None)
                try:
                    path = resolve(name, record, config).path
                except ProjectProblem:
                    continue
                if here == path or path in here.parents:
                    containing.setdefault(path, []).append(name)
            if containing:
                # The innermost repository wins (a project inside another); one path shared by
                # several projects is ambiguous, and guessing would put work in the wrong one.
                innermost = containing[max(containing, key=lambda p: len(p.parts))]
                if len(innermost) == 1:
                    return innermost[0]
                raise failure(
                    ErrorCode.INVALID_PARAMS,
                    f"{here} belongs to {len(innermost)} projects ({', '.join(innermost)}); "
                    f"say which with -p NAME (e.g. -p {innermost[0]})",
                    valid=innermost,
                )
        if len(names) == 1:
            return names[0]
        if not names:
            raise failure(
                ErrorCode.NOT_FOUND, "no projects yet: add one with `aoctl project add PATH`"
            )
        raise failure(
            ErrorCode.INVALID_PARAMS,
            f"which project? use -p NAME (one of: {', '.join(names)})",
            valid=names,
        )

    # -- sessions and where they run ------------------------------------------------------------

    async def session(self, session_id: str) -> Session:
        try:
            session = await self.store.get_session(session_id)
        except ValueError:
            session = None
        if session is None:
            known = [s.id for s in await self.store.list_sessions()]
            raise not_found("session", session_id, known[-20:])
        return session

    def runtime_for(self, kind: str) -> Runtime:
        try:
            return self.plugins.runtimes[kind]
        except KeyError:
            from aod.plugins.external import unavailable_reason  # a plugin from another package

            raise failure(ErrorCode.UNAVAILABLE, unavailable_reason("runtime", kind) or f"runtime {kind!r} is not available") from None

    def workspace_for(self, kind: str) -> Workspace:
        try:
            return self.plugins.workspaces[kind]
        except KeyError:
            from aod.plugins.external import unavailable_reason

            raise failure(ErrorCode.UNAVAILABLE, unavailable_reason("workspace", kind) or f"workspace kind {kind!r} is not available") from None

    def workspace_root(self) -> Path:
        configured = self.config().workspace.root
        return Path(configured).expanduser() if configured else self.data_dir / "worktrees"

    async def update(self, session_id: str, change: Callable[[Session], Session | None]) -> Session:
        """Read-modify-write with compare-and-set, retried when another writer got there first.
        `change` returns the new record, or None to leave it as it is."""
        for _ in range(20):
            current = await self.session(session_id)
            new = change(current)
            if new is None:
                return current
            new = msgspec.structs.replace(new, updated_at=utc_now_iso())
            try:
                return await self.store.put_session(new, current.rev)
            except StaleRevision:
                await trio.sleep(0)
                continue
        raise failure(ErrorCode.CONFLICT, f"session {session_id} is changing too fast; try again")

    async def set_state(self, session_id: str, state: str, reason: str = "", **changes: Any) -> Session:
        def change(s: Session) -> Session:
            since = utc_now_iso() if s.state != state else s.since
            return msgspec.structs.replace(s, state=state, reason=reason, since=since, **changes)

        session = await self.update(session_id, change)
        self.bus.publish("session.updated", session=session_id, state=state, reason=reason)
        return session

    # -- the outbox's front door ----------------------------------------------------------------

    async def enqueue(
        self, session_id: str, text: str, source: str = "user", *, fingerprint: str = "", marker: str = ""
    ) -> tuple[int, int]:
        if "\x00" in text:
            raise failure(ErrorCode.INVALID_PARAMS, "the message contains a NUL byte, which a terminal cannot carry")
        if not text.strip():
            raise failure(ErrorCode.INVALID_PARAMS, "the message is empty")
        if len(text.encode()) > MAX_MESSAGE_BYTES:
            raise failure(ErrorCode.INVALID_PARAMS, f"the message is larger than {MAX_MESSAGE_BYTES} bytes")
        session = await self.session(session_id)
        if session.state in ENDED_STATES or session.state == "archived":
            raise failure(
                ErrorCode.CONFLICT,
                f"session {session_id} is {session.state}; `aoctl restore {session_id}` first",
            )
        delivery = await self.store.enqueue(session_id, text, source, utc_now_iso(), fingerprint, marker)
        pending = await self.store.pending_deliveries(session_id)
        self.bus.publish("session.queued", session=session_id, seq=delivery.seq, source=source)
        self.kick_delivery(session_id)
        return delivery.seq, len(pending)

    def kick_delivery(self, session_id: str) -> None:
        """Make sure a delivery worker drains this session's outbox (aod/outbox.py)."""
        self.outbox.kick(session_id)

    def ready_timeout(self, agent_name: str) -> float:
        cfg = self.config().agents.get(agent_name)
        return cfg.ready_timeout if cfg else 60.0
