"""Starting agents: a new session (`session.spawn`, `session.batch_spawn`, all or nothing) and an
ended one again in its workspace (`session.restore`, the reactions' restart).

Order of a spawn (each step recorded before the next, so an interruption leaves a record that
says how far it got, and `cleanup` can remove the rest):
  issue looked up → base fetched → reserve id → ports → record (spawning) → workspace →
  bootstrap (`.worktreeinclude`, the setup hook) → agent prepare → runtime → record (working,
  runtime handle) → first prompt queued (paste-mode agents).
A failure stops the agent it started and undoes the workspace (and the branch it made), and the
record says why (`errored`); a full disk is -32040 with nothing half-done.

Both a spawn and a restore start the agent the same way: the first prompt composed (aod/prompt.py),
the session's environment, and a prompt too long for the command line pasted instead.

May import: sessions, plugins (agent, runtime, workspace), projects, prompt, roles, model, proc, store,
errors, protocol.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import structlog
import trio

from aod.errors import RpcFailure, failure, first_line, storage_error, storage_failure
from aod.events import utc_now_iso
from aod.model import RuntimeHandle, Session
from aod.plugins.agent import Agent, AgentSettings, LaunchCommand, LaunchContext
from aod.plugins.runtime import CommandTooLong, LaunchSpec, Runtime, RuntimeError_
from aod.plugins.workspace import Workspace, WorkspaceError, WorkspaceSpec
from aod.proc import ToolMissing, ToolTimeout
from aod.projects import ResolvedProject
from aod.prompt import PromptInputs, compose
from aod.roles import Role
from aod.protocol import ErrorCode
from aod.sessions import LIVE_STATES, Sessions
from aod.store import NoFreePorts

log = structlog.get_logger()

SETUP_OUTPUT_JOURNAL_BYTES = 16 * 1024


@dataclass(eq=False)
class Spawner:
    sessions: Sessions
    # (project, issue id) -> the issue, from the project's forge (set by the app; None: no lookup).
    issue_lookup: Callable[[ResolvedProject, str], Awaitable[Any]] | None = None
    # Called after each successful spawn (set by the app: the tracker is told, issue 20).
    on_spawned: Callable[[Session, ResolvedProject], None] | None = None
    # Claims (an idempotency key, or a project's issue and agent) of the spawns under way; the
    # event is set when that spawn has ended, so a second request waits and then finds its session.
    in_flight: dict[str, trio.Event] = field(default_factory=dict)

    async def spawn_once(
        self,
        *,
        idempotency_key: str | None,
        reuse_live: bool,
        project: str | None,
        issue: str | None,
        task: str | None,
        agent_name: str | None,
        branch: str | None,
        cwd: str | None = None,
        by: str | None = None,
        role: str | None = None,
        group: str | None = None,
    ) -> Session:
        """`spawn`, unless the same request was made before (`idempotency_key`) or, with
        `reuse_live`, the issue has a live session of this agent: then that session. Asked by an
        orchestrator session (`by`), its policy decides first (aod/orchestration.py)."""
        if by is not None:
            await self._check_orchestrator_policy(by, project, cwd, issue)
        if idempotency_key is None and not (reuse_live and issue is not None):
            return await self.spawn(
                project=project, issue=issue, task=task, agent_name=agent_name, branch=branch, cwd=cwd, role=role, group=group,
            )
        resolved = await self.sessions.project(project, cwd)
        agent_name = agent_name or self.role_agent(role, resolved) or resolved.agent
        live_issue = issue if reuse_live else None
        claims = [
            *([f"key\0{idempotency_key}"] if idempotency_key is not None else []),
            *([f"issue\0{resolved.name}\0{live_issue}\0{agent_name}"] if live_issue is not None else []),
        ]
        while True:
            found = already_spawned(
                await self.sessions.store.list_sessions(),
                key=idempotency_key, project=resolved.name, issue=live_issue, agent=agent_name,
            )
            if found is not None:
                log.info("spawn answered by an existing session", session=found.id, key=idempotency_key is not None)
                return found
            under_way = next((self.in_flight[c] for c in claims if c in self.in_flight), None)
            if under_way is None:
                break
            await under_way.wait()
        ended = trio.Event()
        for claim in claims:
            self.in_flight[claim] = ended
        try:
            return await self.spawn(
                project=resolved.name, issue=issue, task=task, agent_name=agent_name, branch=branch,
                idempotency_key=idempotency_key, role=role, group=group,
            )
        finally:
            for claim in claims:
                del self.in_flight[claim]
            ended.set()

    async def _check_orchestrator_policy(self, by: str, project: str | None, cwd: str | None, issue: str | None) -> None:
        """Refuse a spawn an orchestrator session may not make; anyone else's passes unchanged.
        A reused live session is refused too when the fleet is full: the check comes first, so
        the answer never depends on timing."""
        from aod.orchestration import spawn_refusal

        try:
            asking = await self.sessions.session(by)
        except RpcFailure:
            return  # not a session of ours (a person's shell with a stale AO_SESSION_ID): no policy
        if asking.kind != "orchestrator":
            return
        resolved = await self.sessions.project(project or asking.project, cwd)
        live = [
            s for s in await self.sessions.store.list_sessions()
            if s.project == resolved.name and s.kind != "orchestrator" and s.state in LIVE_STATES
        ]
        if issue is not None and any(s.issue == issue for s in live):
            return  # asking for a worker it already has: reuse_live answers it, nothing new starts
        labels: list[str] | None = None
        if issue is not None and self.issue_lookup is not None:
            try:
                labels = list((await self.issue_lookup(resolved, issue)).labels)
            except RpcFailure:
                labels = None
        refusal = spawn_refusal(
            self.sessions.orchestrator_policy(resolved.name), live_workers=len(live), issue=issue, issue_labels=labels,
            spent=await self._budget_reached(resolved.name),
        )
        if refusal is not None:
            log.info("orchestrator spawn refused", session=by, issue=issue, reason=refusal)
            raise failure(ErrorCode.CONFLICT, refusal)

    async def _budget_reached(self, project: str) -> str | None:
        """The project's daily or monthly budget, in words, when today's or this month's
        spending has reached it (the orchestrator's cap: it starts nobody then)."""
        import time

        from aod.cost import budget_lines, configured_budgets

        month = time.strftime("%Y-%m", time.gmtime())
        everyone, own = configured_budgets(self.sessions.config())
        lines = budget_lines(await self.sessions.store.read_cost(month), everyone, own,
                             day=time.strftime("%Y-%m-%d", time.gmtime()), project=project)
        reached = next((line for line in lines if line.period in ("day", "month") and line.exceeded), None)
        if reached is None:
            return None
        return f"the budget {reached.name} is spent (${reached.spent_usd:.2f} of ${reached.limit_usd:.2f})"

    async def spawn(
        self,
        *,
        project: str | None,
        issue: str | None,
        task: str | None,
        agent_name: str | None,
        branch: str | None,
        cwd: str | None = None,
        base: str | None = None,
        idempotency_key: str | None = None,
        kind: str = "worker",
        prompt: Callable[[str], str] | None = None,
        role: str | None = None,
        group: str | None = None,
    ) -> Session:
        """`base`: the ref to branch from, when the caller fetched it already (a batch fetches
        once); by default the project's base branch is fetched now."""
        if issue is None and not task:
            raise failure(ErrorCode.INVALID_PARAMS, "give an ISSUE or --task TEXT (or both)")
        if issue is not None and not _clean_label(issue):
            raise failure(
                ErrorCode.INVALID_PARAMS,
                f"invalid issue {issue!r}: use a number or id like 42, GH-12 or PROJ-7",
            )
        if task is not None and "\x00" in task:
            raise failure(ErrorCode.INVALID_PARAMS, "the task text contains a NUL byte")
        if branch is not None:
            from aod.plugins.workspace.git import valid_branch_name

            if not valid_branch_name(branch):
                raise failure(
                    ErrorCode.INVALID_PARAMS,
                    f"invalid branch name {branch!r}: see `git check-ref-format --branch`",
                )
        resolved = await self.sessions.project(project, cwd)
        chosen_role = self.role_for(role, resolved)
        agent_name = agent_name or (chosen_role.agent if chosen_role else None) or resolved.agent
        plugin, settings = self.sessions.agent(agent_name)
        extra = self._role_and_group_fields(chosen_role, group, plugin, agent_name)
        runtime = self.sessions.runtime_for(resolved.runtime)
        workspace = self.sessions.workspace_for(resolved.workspace)
        if not resolved.path.is_dir():
            raise failure(
                ErrorCode.UNAVAILABLE,
                f"project {resolved.name}'s repository {resolved.path} is gone; "
                "fix `path` or re-add the project",
            )

        title = body = None
        if issue is not None and self.issue_lookup is not None:
            # Before anything is created: an unknown issue or an unreachable forge leaves nothing.
            found = await self.issue_lookup(resolved, issue)
            title, body = found.title, _issue_text(found)
        base = base or await self.fresh_base(resolved)
        session_id = await self.sessions.store.reserve_session_id(resolved.session_prefix)
        self.sessions.spawning.add(session_id)
        try:
            return await self._spawn(
                session_id, resolved, plugin, settings, runtime, workspace, agent_name, issue, task, branch, title, body,
                base, idempotency_key, kind, prompt, extra,
            )
        finally:
            self.sessions.spawning.discard(session_id)

    async def _spawn(
        self,
        session_id: str,
        resolved: ResolvedProject,
        plugin: Agent,
        settings: AgentSettings,
        runtime: Runtime,
        workspace: Workspace,
        agent_name: str,
        issue: str | None,
        task: str | None,
        branch: str | None,
        title: str | None = None,
        issue_body: str | None = None,
        base: str | None = None,
        idempotency_key: str | None = None,
        kind: str = "worker",
        prompt_for: Callable[[str], str] | None = None,
        session_fields: dict[str, Any] | None = None,
        queued: Session | None = None,
    ) -> Session:
        """`queued`: the record of a queued session (issue 19) this spawn starts; it becomes
        `spawning` compare-and-set on its `rev`, so it is started once (StaleRevision: not)."""
        slog = log.bind(session=session_id, project=resolved.name)
        now = utc_now_iso()
        branch_name = branch or _render_branch(resolved.branch_template, session_id, issue, resolved.name)
        path = self.sessions.workspace_root() / resolved.name / session_id
        defaults = self.sessions.config().defaults
        try:
            port_base = await self.sessions.store.allocate_ports(session_id, defaults.port_base, defaults.port_block)
        except BaseException as exc:
            await self.sessions.store.release_session_id(session_id)
            if isinstance(exc, NoFreePorts):
                raise failure(ErrorCode.UNAVAILABLE, str(exc)) from None
            raise
        session = Session(
            id=session_id,
            project=resolved.name,
            state="spawning",
            reason="creating the workspace",
            since=now,
            created_at=now,
            updated_at=now,
            issue=issue,
            task=task,
            title=title,
            issue_body=issue_body,
            agent=agent_name,
            branch=branch_name,
            base_branch=resolved.default_branch,
            workspace=str(path),
            workspace_kind=resolved.workspace,
            port_base=port_base,
            idempotency_key=idempotency_key,
            kind=kind,
            **(session_fields or {}),
        )
        if queued is not None:
            session = msgspec.structs.replace(
                queued, state=session.state, reason=session.reason, since=now, updated_at=now, branch=branch_name,
                base_branch=queued.base_branch or session.base_branch, workspace=session.workspace,
                workspace_kind=session.workspace_kind, port_base=port_base,
            )
        try:
            session = await self.sessions.store.put_session(session, queued.rev if queued is not None else 0)
        except BaseException:
            await self.sessions.store.release_session_id(session_id)
            raise
        self.sessions.bus.publish("session.spawning", session=session_id, project=resolved.name)
        slog.info("spawning", agent=agent_name, branch=branch_name, issue=issue)

        command = plugin.launch(settings, self.sessions.agent_context(session))
        executable = command.argv[0]
        # A runtime whose agent runs elsewhere (issue 21: inside a container's image) finds it there.
        on_host = getattr(runtime, "agent_on_host", True)
        if on_host and shutil.which(executable) is None and not Path(executable).is_file():
            reason = (
                f"agent {agent_name!r} needs {executable!r}, which is not installed or not on "
                "aod's PATH; install it (see `aoctl doctor`) and spawn again"
            )
            slog.warning("spawn failed", reason=reason)
            return await self.sessions.set_state(session_id, "errored", reason, workspace="")

        created_branch_at: str | None = None
        started: RuntimeHandle | None = None
        try:
            from aod.plugins.workspace import bootstrap
            from aod.plugins.workspace import git as gitplug

            if not await gitplug.valid_branch(resolved.path, branch_name):
                raise WorkspaceError(
                    f"{branch_name!r} is not a valid branch name; pass another --branch"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            branch_existed = await gitplug.branch_exists(resolved.path, branch_name)
            await workspace.create(
                WorkspaceSpec(repo=resolved.path, path=path, branch=branch_name, base=base or resolved.default_branch)
            )
            if not branch_existed:
                # Where this spawn made the branch: undoing it deletes the branch only from there.
                created_branch_at = await gitplug.rev_parse(path, "HEAD")
            copied = await trio.to_thread.run_sync(bootstrap.copy_worktreeinclude, resolved.path, path)
            if copied:
                await self.sessions.store.append_journal(session_id, {"time": utc_now_iso(), "kind": "bootstrap.copied", "files": copied})
            env = self._session_env(session)
            if resolved.setup:
                await self.sessions.set_state(session_id, "spawning", "running the setup hook")
                result = await bootstrap.run_setup_hook(
                    list(resolved.setup), path, env, resolved.setup_timeout
                )
                await self.sessions.store.append_journal(
                    session_id,
                    {
                        "time": utc_now_iso(),
                        "kind": "setup",
                        "ok": result.ok,
                        "returncode": result.returncode,
                        "timed_out": result.timed_out,
                        "output": result.output[-SETUP_OUTPUT_JOURNAL_BYTES:],
                    },
                )
                if not result.ok:
                    why = "timed out" if result.timed_out else f"failed (exit {result.returncode})"
                    raise WorkspaceError(
                        f"the setup hook {resolved.setup[0]!r} {why}; its output is in "
                        f"the session journal. Fix it and spawn again"
                    )
            # The first prompt: made by the caller from the session's id (the orchestrator's), else composed here.
            prompt = prompt_for(session_id) if prompt_for is not None else self._compose_prompt(session, resolved)
            launch_ctx = self.sessions.agent_context(session, prompt)
            await trio.to_thread.run_sync(plugin.prepare, launch_ctx, settings)
            await self.sessions.set_state(session_id, "spawning", "starting the agent")
            handle, command = await self._start_agent(runtime, plugin, settings, launch_ctx, env)
            started = handle
            # Recorded, and its first prompt queued, or undone: an agent must not run on a record
            # that says `spawning` (a full disk), nor wait forever for a prompt never queued.
            session = await self.sessions.set_state(session_id, "working", "", runtime=handle)
            if command.prompt_mode == "paste":
                await self.sessions.enqueue(session_id, prompt, source="prompt")
        except Exception as exc:
            # Expected failures (git, the setup hook, a missing tool) carry their own message;
            # anything else is a bug, logged with its traceback, and still undone.
            full = storage_error(exc)
            expected = full is not None or isinstance(exc, (WorkspaceError, ToolMissing, ToolTimeout, OSError, RuntimeError_))
            reason = first_line(exc)
            slog.warning("spawn failed", reason=reason, exc_info=not expected)
            if started is not None:
                with trio.CancelScope(shield=True):
                    await self._stop_quietly(runtime, started)
            await self._undo_workspace(session, resolved, workspace, created_branch_at)
            if full is None:
                return await self.sessions.set_state(session_id, "errored", f"spawn failed: {reason}", workspace="")
            # The disk is full: say so (-32040). Record the failure if the disk lets us; if not,
            # the next tick finds an interrupted spawn and `aoctl cleanup` clears it.
            try:
                await self.sessions.set_state(session_id, "errored", f"spawn failed: {reason}", workspace="")
            except Exception:  # noqa: BLE001 - the same full disk
                pass
            raise storage_failure(full) from None

        slog.info("spawned", runtime=handle.kind, target=handle.pane_id or handle.name)
        try:
            await self.sessions.store.append_journal(
                session_id, {"time": utc_now_iso(), "kind": "spawned", "argv0": command.argv[0], "prompt_mode": command.prompt_mode}
            )
        except OSError as exc:
            if storage_error(exc) is None:
                raise
            # The session runs and its record says so; telling the caller "failed" would only
            # make them spawn it twice.
            slog.warning("the disk is full; the spawn's journal entry is missing", error=str(exc))
        self.sessions.bus.publish("session.spawned", session=session_id, project=resolved.name)
        if self.on_spawned is not None:
            self.on_spawned(session, resolved)
        return session

    async def batch_spawn(
        self, issues: list[str], project: str | None, agent_name: str | None, cwd: str | None
    ) -> tuple[list[Session], list[tuple[str, str, str | None]], list[tuple[str, str]]]:
        resolved = await self.sessions.project(project, cwd)
        agent_name = agent_name or resolved.agent
        self.sessions.agent(agent_name)
        existing = {
            (s.issue, s.agent): s.id
            for s in await self.sessions.store.list_sessions()
            if s.project == resolved.name and s.state in LIVE_STATES and s.issue is not None
        }
        spawned: list[Session] = []
        skipped: list[tuple[str, str, str | None]] = []
        failed: list[tuple[str, str]] = []
        seen: set[str] = set()
        base: str | None = None  # fetched once for the whole batch, before its first spawn
        for issue in issues:
            if issue in seen:
                skipped.append((issue, "listed twice in this batch", None))
                continue
            seen.add(issue)
            if (issue, agent_name) in existing:
                skipped.append((issue, "already has a live session", existing[(issue, agent_name)]))
                continue
            if base is None:
                base = await self.fresh_base(resolved)
            try:
                session = await self.spawn(
                    project=resolved.name, issue=issue, task=None, agent_name=agent_name, branch=None, base=base
                )
            except RpcFailure as exc:
                failed.append((issue, exc.message))
                continue
            if session.state == "errored":
                failed.append((issue, session.reason))
            else:
                spawned.append(session)
        return spawned, skipped, failed

    async def restore(self, session_id: str) -> Session:
        """The agent again in the session's workspace: its conversation resumed where the agent
        can, else the first prompt again. Refused while the agent still runs."""
        session = await self.sessions.session(session_id)
        if session.runtime is not None:
            runtime = self.sessions.runtime_for(session.runtime.kind)
            if runtime.liveness(session.runtime, await runtime.snapshot(runtime.server_of(session.runtime))) == "alive":
                raise failure(
                    ErrorCode.CONFLICT,
                    f"session {session_id}'s agent is still running; `aoctl attach {session_id}` "
                    f"to see it, or `aoctl kill {session_id}` first",
                )
        path = Path(session.workspace) if session.workspace else None
        if path is None or not path.is_dir():
            raise failure(
                ErrorCode.CONFLICT,
                f"session {session_id} has no workspace to restore into"
                + (f" ({session.reason})" if session.reason else "")
                + "; spawn a new session instead",
            )
        resolved = await self.sessions.project(session.project)
        plugin, settings = self.sessions.agent(session.agent)
        runtime = self.sessions.runtime_for(session.runtime.kind if session.runtime else resolved.runtime)
        resume = session.agent_session
        if resume is None and plugin.supports_resume:
            finder = getattr(plugin, "resume_id", None)
            if finder is not None:
                resume = await trio.to_thread.run_sync(finder, self.sessions.agent_context(session))
        prompt = "" if resume else self._compose_prompt(session, resolved)
        ctx = self.sessions.agent_context(session, prompt, resume)
        await trio.to_thread.run_sync(plugin.prepare, ctx, settings)
        if session.runtime is not None:
            await runtime.kill(session.runtime)  # a dead pane kept for its output goes now
        try:
            handle, command = await self._start_agent(runtime, plugin, settings, ctx, self._session_env(session))
        except (ToolMissing, ToolTimeout, Exception) as exc:  # noqa: BLE001
            raise failure(ErrorCode.UNAVAILABLE, f"cannot restart the agent: {first_line(exc)}") from None
        restored = await self.sessions.set_state(
            session_id, "working", "restored", runtime=handle, activity="unknown", agent_session=resume
        )
        if command.prompt_mode == "paste" and prompt:
            await self.sessions.enqueue(session_id, prompt, source="prompt")
        else:
            self.sessions.kick_delivery(session_id)
        await self.sessions.store.append_journal(session_id, {"time": utc_now_iso(), "kind": "restored", "resume": resume})
        self.sessions.bus.publish("session.restored", session=session_id)
        return restored

    async def fresh_base(self, project: ResolvedProject) -> str:
        """The ref new sessions of `project` branch from: its default branch fetched from its
        remote just now, so work merged on the forge is in it. Without a remote: the local
        branch; when the fetch fails (offline), the local branch and one warning."""
        from aod.plugins.workspace import git as gitplug

        if not project.remote:
            return project.default_branch
        try:
            return await gitplug.fetch_branch(project.path, project.remote, project.default_branch)
        except WorkspaceError as exc:
            log.warning(
                "could not fetch the base branch; new sessions start from the local one",
                project=project.name, remote=project.remote, branch=project.default_branch, error=first_line(exc),
            )
            return project.default_branch

    async def _start_agent(
        self, runtime: Runtime, plugin: Agent, settings: AgentSettings, ctx: LaunchContext, env: dict[str, str]
    ) -> tuple[RuntimeHandle, LaunchCommand]:
        """Start the agent in its runtime. A first prompt too long for the command line (tmux
        takes about 16 KB per command) is pasted once the agent is ready instead: the same
        words reach the agent either way, and a long task must not fail the spawn."""
        command = plugin.launch(settings, ctx)
        try:
            return await runtime.create(self._launch_spec(ctx, command, env)), command
        except CommandTooLong as exc:
            if command.prompt_mode != "argv" or not ctx.prompt:
                raise
            log.info("first prompt too long for the command line; pasting it instead", session=ctx.session_id, detail=str(exc))
            command = plugin.launch(dataclasses.replace(settings, prompt="paste"), ctx)
            return await runtime.create(self._launch_spec(ctx, command, env)), command

    @staticmethod
    async def _stop_quietly(runtime: Runtime, handle: RuntimeHandle) -> None:
        try:
            await runtime.kill(handle)
        except Exception as exc:  # noqa: BLE001 - best effort: the failure being undone is what counts
            log.warning("could not stop the agent of a failed spawn", target=handle.pane_id or handle.name, error=str(exc))

    def _launch_spec(self, ctx: LaunchContext, command: LaunchCommand, env: dict[str, str]) -> LaunchSpec:
        return LaunchSpec(
            name=ctx.session_id,
            argv=command.argv,
            cwd=ctx.workspace,
            env={**command.env, **env},
            log_path=self.sessions.store.session_dir(ctx.session_id) / "output.log",
        )

    def _session_env(self, session: Session) -> dict[str, str]:
        return {
            "AO_SESSION_ID": session.id,
            "AO_PROJECT": session.project,
            "AO_BRANCH": session.branch,
            "AO_PORT_BASE": str(session.port_base),
            "AO_SOCKET": str(self.sessions.socket_path),
            # aoctl inside the session (`aoctl pr open`) finds this aod whatever its socket path.
            "AOD_SOCKET": str(self.sessions.socket_path),
        }

    def _compose_prompt(self, session: Session, project: ResolvedProject) -> str:
        if session.kind == "orchestrator":
            from aod.orchestration import resume_prompt

            return resume_prompt(session.id, session.project)
        rules = None
        if project.rules_file:
            candidate = (project.path / project.rules_file).resolve()
            if project.path.resolve() in candidate.parents and candidate.is_file():
                rules = candidate.read_text("utf-8", "replace")
        return self._with_role(session, project, compose(
            PromptInputs(
                session_id=session.id,
                project=session.project,
                branch=session.branch,
                base_branch=session.base_branch,
                issue=session.issue,
                title=session.title,
                body=session.issue_body,
                task=session.task,
                rules=rules,
                forge=project.forge,
            )
        ))

    # -- issue 19, roles (and the group a session is an attempt of) ------------------------------

    def role_for(self, name: str | None, project: ResolvedProject) -> Role | None:
        """The role `name` as the config and the built-ins define it, its prompt_file read
        (relative to the project's repository); an unknown name is an error listing the known."""
        if name is None:
            return None
        from aod.roles import UnknownRole, entries_of, resolve_role

        configured = self.sessions.config().roles

        def read(path: str) -> str:
            where = Path(path).expanduser()
            where = where if where.is_absolute() else project.path / where
            try:
                return where.read_text("utf-8", "replace")
            except OSError as exc:
                raise failure(
                    ErrorCode.INVALID_PARAMS,
                    f"role {name}'s prompt_file {str(where)!r} cannot be read ({exc.strerror or exc}); fix roles.{name}.prompt_file",
                ) from None

        entries = entries_of({k: v for k, v in configured.items() if k != name})
        entries.update(entries_of({k: v for k, v in configured.items() if k == name}, read))
        try:
            return resolve_role(name, entries)
        except UnknownRole as exc:
            raise failure(ErrorCode.INVALID_PARAMS, str(exc), valid=exc.known) from None

    def role_agent(self, name: str | None, project: ResolvedProject) -> str | None:
        role = self.role_for(name, project)
        return role.agent if role is not None else None

    @staticmethod
    def _role_and_group_fields(role: Role | None, group: str | None, plugin: Agent, agent_name: str) -> dict[str, Any]:
        fields: dict[str, Any] = {"group": group} if group is not None else {}
        if role is None:
            return fields
        fields.update(role=role.name, role_color=role.color)
        if role.tools and not getattr(plugin, "takes_tool_allowlist", False):
            # Said, not silently dropped: the agent runs with every tool its CLI has.
            fields["role_note"] = (
                f"role {role.name}'s tool allow-list ({', '.join(role.tools)}) is not enforced: "
                f"agent {agent_name}'s CLI takes none"
            )
            log.warning("tool allow-list not enforced", role=role.name, agent=agent_name)
        return fields

    def _with_role(self, session: Session, project: ResolvedProject, task_prompt: str) -> str:
        """The task prompt with the session's role text before it (aod/roles.py layer_prompt)."""
        if not session.role:
            return task_prompt
        from aod.roles import layer_prompt

        try:
            role = self.role_for(session.role, project)
        except RpcFailure as exc:
            # Checked at spawn; gone from the config since (a restore): the task alone, said once.
            log.warning("the session's role is not known any more; its prompt is left out", session=session.id, error=exc.message)
            return task_prompt
        return layer_prompt(role, task_prompt)

    async def _undo_workspace(
        self, session: Session, project: ResolvedProject, workspace: Workspace, created_branch_at: str | None
    ) -> None:
        """Take back a failed spawn: its workspace, and the branch if this spawn created it and
        it still points where it was made (a branch that existed before, or holds a commit made
        since, is kept)."""
        from aod.plugins.workspace import git as gitplug

        path = Path(session.workspace)
        try:
            if await workspace.exists(project.path, path):
                await workspace.remove(project.path, path, force=True)
            if created_branch_at is not None:
                await gitplug.delete_branch_at(project.path, session.branch, created_branch_at)
        except Exception as exc:  # noqa: BLE001 - best effort; cleanup reports what is left
            log.warning("could not undo a failed spawn's workspace", session=session.id, error=str(exc))


def _issue_text(issue: Any) -> str:
    """The issue's body and its comments, as the first prompt shows them (bounded)."""
    parts = [issue.body.strip()] if issue.body.strip() else []
    for comment in issue.comments[-20:]:
        parts.append(f"Comment by {comment.author}:\n{comment.body.strip()}")
    if issue.labels:
        parts.append("Labels: " + ", ".join(issue.labels))
    text = "\n\n".join(parts)
    return text if len(text) <= 50_000 else text[:50_000] + "\n[... truncated]"


def _clean_label(value: str) -> bool:
    return 0 < len(value) <= 64 and all(c.isalnum() or c in "-_#." for c in value) and value.isascii()


def _render_branch(template: str, session_id: str, issue: str | None, project: str) -> str:
    issue_part = (issue or "task").lstrip("#")
    return template.replace("{id}", session_id).replace("{issue}", issue_part).replace("{project}", project)


def already_spawned(
    sessions: list[Session], *, key: str | None, project: str, issue: str | None, agent: str
) -> Session | None:
    """The session that answers a spawn request: the one made with the same idempotency key (in
    any state: the first request's outcome is the answer), else, when `issue` is given, a live
    session of that project, issue and agent."""
    if key is not None:
        for session in sessions:
            if session.idempotency_key == key:
                return session
    if issue is not None:
        for session in sessions:
            if session.project == project and session.issue == issue and session.agent == agent and session.state in LIVE_STATES:
                return session
    return None
