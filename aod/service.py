"""The operations behind the session API: projects, spawn, send, kill, restore, cleanup.

This is the imperative shell around the plugins, on the session core (aod/sessions.py: the
lookups, `update` with compare-and-set, the outbox's front door). Each operation reads what it
needs from disk, calls plugins, and writes the outcome back with compare-and-set, so a
concurrent tick never loses a user's kill and vice versa.

Order of a spawn (each step recorded before the next, so an interruption leaves a record that
says how far it got, and `cleanup` can remove the rest):
  reserve id → record (spawning) → workspace → bootstrap → agent prepare → runtime → record
  (working, runtime handle) → first prompt queued (paste-mode agents).
"""

from __future__ import annotations

import dataclasses
import filecmp
import os
import shutil
import stat
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
from aod.plugins.runtime import CommandTooLong, LaunchSpec, Runtime
from aod.plugins.workspace import DirtyWorkspace, Workspace, WorkspaceError, WorkspaceSpec
from aod.proc import ToolMissing, ToolTimeout
from aod.projects import ResolvedProject
from aod.prompt import PromptInputs, compose
from aod.protocol import CleanupItem, ErrorCode
from aod.projects_service import ProjectRegistry
from aod.sessions import ENDED_STATES, LIVE_STATES, MAX_MESSAGE_BYTES, Plugins, Sessions, session_info
from aod.store import NoFreePorts
from aod.workfiles import MAX_SAVED_BYTES, is_disposable, work_left

__all__ = ["ENDED_STATES", "LIVE_STATES", "MAX_MESSAGE_BYTES", "Plugins", "SessionService", "Sessions", "session_info"]

log = structlog.get_logger()

SETUP_OUTPUT_JOURNAL_BYTES = 16 * 1024


@dataclass(eq=False)
class SessionService(Sessions):
    # (project, issue id) -> the issue, from the project's forge (set by the app; None: no lookup).
    issue_lookup: Callable[[ResolvedProject, str], Awaitable[Any]] | None = None
    projects: ProjectRegistry = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.projects = ProjectRegistry(self)

    # -- spawn -----------------------------------------------------------------------------------

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
        resolved = await self.project(project, cwd)
        agent_name = agent_name or resolved.agent
        plugin, settings = self.agent(agent_name)
        runtime = self.runtime_for(resolved.runtime)
        workspace = self.workspace_for(resolved.workspace)
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
        session_id = await self.store.reserve_session_id(resolved.session_prefix)
        self.spawning.add(session_id)
        try:
            return await self._spawn(
                session_id, resolved, plugin, settings, runtime, workspace, agent_name, issue, task, branch, title, body,
                base,
            )
        finally:
            self.spawning.discard(session_id)

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
    ) -> Session:
        slog = log.bind(session=session_id, project=resolved.name)
        now = utc_now_iso()
        branch_name = branch or _render_branch(resolved.branch_template, session_id, issue, resolved.name)
        path = self.workspace_root() / resolved.name / session_id
        defaults = self.config().defaults
        try:
            port_base = await self.store.allocate_ports(session_id, defaults.port_base, defaults.port_block)
        except BaseException as exc:
            await self.store.release_session_id(session_id)
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
        )
        try:
            session = await self.store.put_session(session, 0)
        except BaseException:
            await self.store.release_session_id(session_id)
            raise
        self.bus.publish("session.spawning", session=session_id, project=resolved.name)
        slog.info("spawning", agent=agent_name, branch=branch_name, issue=issue)

        command = plugin.launch(settings, self.agent_context(session))
        executable = command.argv[0]
        if shutil.which(executable) is None and not Path(executable).is_file():
            reason = (
                f"agent {agent_name!r} needs {executable!r}, which is not installed or not on "
                "aod's PATH; install it (see `aoctl doctor`) and spawn again"
            )
            slog.warning("spawn failed", reason=reason)
            return await self.set_state(session_id, "errored", reason, workspace="")

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
                await self.store.append_journal(session_id, {"time": utc_now_iso(), "kind": "bootstrap.copied", "files": copied})
            env = self._session_env(session)
            if resolved.setup:
                await self.set_state(session_id, "spawning", "running the setup hook")
                result = await bootstrap.run_setup_hook(
                    list(resolved.setup), path, env, resolved.setup_timeout
                )
                await self.store.append_journal(
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
            prompt = self._compose_prompt(session, resolved)
            launch_ctx = self.agent_context(session, prompt)
            await trio.to_thread.run_sync(plugin.prepare, launch_ctx, settings)
            await self.set_state(session_id, "spawning", "starting the agent")
            handle, command = await self._start_agent(runtime, plugin, settings, launch_ctx, env)
            started = handle
            # Recorded, and its first prompt queued, or undone: an agent must not run on a record
            # that says `spawning` (a full disk), nor wait forever for a prompt never queued.
            session = await self.set_state(session_id, "working", "", runtime=handle)
            if command.prompt_mode == "paste":
                await self.enqueue(session_id, prompt, source="prompt")
        except Exception as exc:
            # Expected failures (git, the setup hook, a missing tool) carry their own message;
            # anything else is a bug, logged with its traceback, and still undone.
            full = storage_error(exc)
            expected = full is not None or isinstance(exc, (WorkspaceError, ToolMissing, ToolTimeout, OSError))
            reason = first_line(exc)
            slog.warning("spawn failed", reason=reason, exc_info=not expected)
            if started is not None:
                with trio.CancelScope(shield=True):
                    await self._stop_quietly(runtime, started)
            await self._undo_workspace(session, resolved, workspace, created_branch_at)
            if full is None:
                return await self.set_state(session_id, "errored", f"spawn failed: {reason}", workspace="")
            # The disk is full: say so (-32040). Record the failure if the disk lets us; if not,
            # the next tick finds an interrupted spawn and `aoctl cleanup` clears it.
            try:
                await self.set_state(session_id, "errored", f"spawn failed: {reason}", workspace="")
            except Exception:  # noqa: BLE001 - the same full disk
                pass
            raise storage_failure(full) from None

        slog.info("spawned", runtime=handle.kind, target=handle.pane_id or handle.name)
        try:
            await self.store.append_journal(
                session_id, {"time": utc_now_iso(), "kind": "spawned", "argv0": command.argv[0], "prompt_mode": command.prompt_mode}
            )
        except OSError as exc:
            if storage_error(exc) is None:
                raise
            # The session runs and its record says so; telling the caller "failed" would only
            # make them spawn it twice.
            slog.warning("the disk is full; the spawn's journal entry is missing", error=str(exc))
        self.bus.publish("session.spawned", session=session_id, project=resolved.name)
        return session

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
            log_path=self.store.session_dir(ctx.session_id) / "output.log",
        )

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

    def _session_env(self, session: Session) -> dict[str, str]:
        return {
            "AO_SESSION_ID": session.id,
            "AO_PROJECT": session.project,
            "AO_BRANCH": session.branch,
            "AO_PORT_BASE": str(session.port_base),
            "AO_SOCKET": str(self.socket_path),
            # aoctl inside the session (`aoctl pr open`) finds this aod whatever its socket path.
            "AOD_SOCKET": str(self.socket_path),
        }

    def _compose_prompt(self, session: Session, project: ResolvedProject) -> str:
        rules = None
        if project.rules_file:
            candidate = (project.path / project.rules_file).resolve()
            if project.path.resolve() in candidate.parents and candidate.is_file():
                rules = candidate.read_text("utf-8", "replace")
        return compose(
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
        )

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

    async def batch_spawn(
        self, issues: list[str], project: str | None, agent_name: str | None, cwd: str | None
    ) -> tuple[list[Session], list[tuple[str, str, str | None]], list[tuple[str, str]]]:
        resolved = await self.project(project, cwd)
        agent_name = agent_name or resolved.agent
        self.agent(agent_name)
        existing = {
            (s.issue, s.agent): s.id
            for s in await self.store.list_sessions()
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

    # -- talking to agents -----------------------------------------------------------------------

    async def hook_reported(self, session_id: str, agent: str, event: str, kind: str, message: str) -> str:
        """An agent's hook (`aoctl hook`) said what it is doing: kept on the record, where the
        tick weighs it against the other signals while it is fresh (aod/activity.py)."""
        session = await self.session(session_id)
        if session.state in ENDED_STATES or agent != session.agent:
            return ""
        plugin, _settings = self.agent(session.agent)
        reader = getattr(plugin, "read_hook", None)
        reading = reader(event, kind, message[:300]) if reader is not None else None
        if reading is None:
            return ""
        now = utc_now_iso()

        def change(current: Session) -> Session:
            return msgspec.structs.replace(current, hook_activity=reading.activity, hook_detail=reading.detail, hook_at=now)

        await self.update(session_id, change)
        log.debug("hook", session=session_id, hook_event=event, activity=reading.activity)
        return reading.activity

    # -- seeing ----------------------------------------------------------------------------------

    async def logs(self, session_id: str, lines: int) -> tuple[str, str]:
        session = await self.session(session_id)
        if session.runtime is None:
            raise failure(ErrorCode.CONFLICT, f"session {session_id} has no runtime ({session.state}: {session.reason})")
        runtime = self.runtime_for(session.runtime.kind)
        snapshot = await runtime.snapshot(runtime.server_of(session.runtime))
        alive = runtime.liveness(session.runtime, snapshot)
        try:
            text = await runtime.capture(session.runtime, max(1, min(lines, 10_000)))
        except Exception as exc:  # noqa: BLE001
            if alive == "dead":
                return "", alive
            raise failure(ErrorCode.UNAVAILABLE, f"cannot read session {session_id}'s screen: {first_line(exc)}") from None
        return self.redactor().text(text), alive

    async def attach_argv(self, session_id: str) -> list[str]:
        session = await self.session(session_id)
        if session.runtime is None:
            raise failure(ErrorCode.CONFLICT, f"session {session_id} has no runtime ({session.state})")
        argv = self.runtime_for(session.runtime.kind).attach_argv(session.runtime)
        if not argv:
            raise failure(ErrorCode.CONFLICT, f"the {session.runtime.kind} runtime cannot be attached to")
        return argv

    # -- stopping --------------------------------------------------------------------------------

    async def kill(self, session_id: str) -> Session:
        session = await self.session(session_id)
        # The record first, then the agent (intent before action, as the reactor does): a kill
        # the disk cannot record fails before the agent is touched. The other way round, a full
        # disk left a stopped agent on a record saying `working`, which the next tick then
        # judged `errored: agent is gone` with an urgent notification.
        # The last activity seen is not the agent's any more: it is stopped (or never ran).
        activity = "exited" if session.runtime is not None else "unknown"
        newly = session.state not in ENDED_STATES
        if newly:
            killed = await self.set_state(session_id, "killed", "killed by the user", activity=activity, activity_at=utc_now_iso())
        elif session.activity != activity:
            killed = await self.update(session_id, lambda s: msgspec.structs.replace(s, activity=activity, activity_at=utc_now_iso()))
        else:
            killed = session
        if session.runtime is not None:
            runtime = self.runtime_for(session.runtime.kind)
            try:
                await runtime.kill(session.runtime)
            except ToolMissing as exc:
                raise failure(
                    ErrorCode.UNAVAILABLE,
                    f"session {session_id} is recorded as killed, but its agent could not be stopped: {exc}; "
                    f"fix that and run `aoctl kill {session_id}` again",
                ) from None
        log.info("killed", session=session_id)
        if newly:
            await self.outbox.cancel_pending(session_id, "the session was killed")
            self.bus.publish("session.killed", session=session_id)
        return killed

    async def queue_command(self, session_id: str, command: str) -> Session:
        """Put a user command (`pause`, `resume`, `done`) on the record for the next tick's lifecycle."""
        session = await self.session(session_id)
        if session.state in ENDED_STATES:
            what = "mark done" if command == "done" else command
            raise failure(ErrorCode.CONFLICT, f"session {session_id} is {session.state} ({session.reason}); nothing to {what}")
        if command == "pause" and session.state == "paused":
            raise failure(ErrorCode.CONFLICT, f"session {session_id} is already paused ({session.reason})")
        if command == "resume" and session.state != "paused" and "pause" not in session.commands:
            raise failure(ErrorCode.CONFLICT, f"session {session_id} is {session.state}, not paused")

        def change(current: Session) -> Session:
            commands = [c for c in current.commands if c not in ("pause", "resume")]
            return msgspec.structs.replace(current, commands=[*commands, command])

        updated = await self.update(session_id, change)
        await self.store.append_journal(session_id, {"time": utc_now_iso(), "kind": "command", "command": command})
        return updated

    async def stop_all(self) -> list[str]:
        killed = []
        for session in await self.store.list_sessions():
            if session.state in LIVE_STATES:
                await self.kill(session.id)
                killed.append(session.id)
        return killed

    async def restore(self, session_id: str) -> Session:
        session = await self.session(session_id)
        if session.runtime is not None:
            runtime = self.runtime_for(session.runtime.kind)
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
        resolved = await self.project(session.project)
        plugin, settings = self.agent(session.agent)
        runtime = self.runtime_for(session.runtime.kind if session.runtime else resolved.runtime)
        resume = session.agent_session
        if resume is None and plugin.supports_resume:
            finder = getattr(plugin, "resume_id", None)
            if finder is not None:
                resume = await trio.to_thread.run_sync(finder, self.agent_context(session))
        prompt = "" if resume else self._compose_prompt(session, resolved)
        ctx = self.agent_context(session, prompt, resume)
        await trio.to_thread.run_sync(plugin.prepare, ctx, settings)
        if session.runtime is not None:
            await runtime.kill(session.runtime)  # a dead pane kept for its output goes now
        try:
            handle, command = await self._start_agent(runtime, plugin, settings, ctx, self._session_env(session))
        except (ToolMissing, ToolTimeout, Exception) as exc:  # noqa: BLE001
            raise failure(ErrorCode.UNAVAILABLE, f"cannot restart the agent: {first_line(exc)}") from None
        restored = await self.set_state(
            session_id, "working", "restored", runtime=handle, activity="unknown", agent_session=resume
        )
        if command.prompt_mode == "paste" and prompt:
            await self.enqueue(session_id, prompt, source="prompt")
        else:
            self.kick_delivery(session_id)
        await self.store.append_journal(session_id, {"time": utc_now_iso(), "kind": "restored", "resume": resume})
        self.bus.publish("session.restored", session=session_id)
        return restored

    async def cleanup(self, *, dry_run: bool, force: bool, project: str | None) -> list[CleanupItem]:
        items: list[CleanupItem] = []
        for session in await self.store.list_sessions():
            if project is not None and session.project != project:
                continue
            if session.state not in ENDED_STATES:
                continue
            items.append(await self._cleanup_one(session, dry_run=dry_run, force=force))
        items.extend(await self._cleanup_orphans(dry_run=dry_run, project=project))
        return items

    async def cleanup_session(self, session_id: str) -> CleanupItem:
        """Clean up one ended session (the pr-merged reaction); never forced, so dirt is kept."""
        session = await self.session(session_id)
        if session.state not in ENDED_STATES:
            return CleanupItem(id=session_id, action="kept", reason=f"the session is {session.state} again")
        return await self._cleanup_one(session, dry_run=False, force=False)

    async def _cleanup_one(self, session: Session, *, dry_run: bool, force: bool) -> CleanupItem:
        slog = log.bind(session=session.id)
        path = Path(session.workspace) if session.workspace else None
        try:
            resolved = await self.project(session.project)
        except RpcFailure:
            resolved = None
        workspace = self.workspace_for(session.workspace_kind)
        has_workspace = path is not None and path.exists() and resolved is not None
        dirty = False
        ignored: dict[str, int] = {}  # git-ignored files that are work: removal would delete them
        if has_workspace:
            assert path is not None and resolved is not None
            dirty = await workspace.is_dirty(path)
            try:
                ignored = await self._ignored_work(workspace, resolved, path)
            except WorkspaceError as exc:
                if not force:
                    return CleanupItem(id=session.id, action="kept", reason=f"could not check the ignored files: {first_line(exc)}", workspace=str(path))
        saveable = sorted(ignored) if sum(ignored.values()) <= MAX_SAVED_BYTES else []
        left = work_left(dirty, ignored, saved=bool(saveable) or not ignored)
        if dry_run:
            if left and not force:
                lost = "" if saveable or not ignored else "; the ignored ones would be lost"
                return CleanupItem(id=session.id, action="kept", reason=f"{left} (use --force; they are saved to refs/ao/wip first{lost})", workspace=str(path))
            return CleanupItem(id=session.id, action="would-remove", reason=left, workspace=str(path) if has_workspace else None)
        wip_ref = session.wip_ref
        if has_workspace:
            assert path is not None and resolved is not None
            try:
                saved = await workspace.snapshot(resolved.path, path, session.id, also=saveable)
            except Exception as exc:  # noqa: BLE001
                return CleanupItem(id=session.id, action="kept", reason=f"could not save uncommitted work: {first_line(exc)}", workspace=str(path))
            if saved:
                wip_ref = saved
                await self.update(session.id, lambda s: msgspec.structs.replace(s, wip_ref=saved))
                await self.store.append_journal(
                    session.id, {"time": utc_now_iso(), "kind": "wip.saved", "ref": saved, "ignored": saveable[:100]}
                )
            if left and not force:
                how = (
                    "saved to " + (wip_ref or "refs/ao/wip") if saveable or not ignored
                    else "the rest is saved to " + (wip_ref or "refs/ao/wip") + "; move them out or declare them disposable"
                )
                return CleanupItem(
                    id=session.id,
                    action="kept",
                    reason=f"{left}; {how}, and --force removes the worktree",
                    wip_ref=wip_ref,
                    workspace=str(path),
                )
            if session.runtime is not None:
                try:
                    await self.runtime_for(session.runtime.kind).kill(session.runtime)
                except Exception as exc:  # noqa: BLE001
                    slog.warning("could not stop the runtime before cleanup", error=first_line(exc))
            try:
                await workspace.remove(resolved.path, path, force=True)
            except (DirtyWorkspace, WorkspaceError, Exception) as exc:  # noqa: BLE001
                return CleanupItem(id=session.id, action="kept", reason=f"could not remove the worktree: {first_line(exc)}", wip_ref=wip_ref, workspace=str(path))
        elif session.runtime is not None:
            try:
                await self.runtime_for(session.runtime.kind).kill(session.runtime)
            except Exception:  # noqa: BLE001
                pass
        await self.outbox.quiesce(session.id, f"the session is {session.state}")
        ended = await self._mark_archived(session.id)
        await self.store.append_journal(session.id, {"time": utc_now_iso(), "kind": "archived", "wip_ref": wip_ref, "ended": ended})
        await self.store.archive_session(session.id)
        self.bus.publish("session.archived", session=session.id, wip_ref=wip_ref)
        slog.info("cleaned up", wip_ref=wip_ref)
        if ignored and not saveable:
            left += "; deleted with the worktree (--force)"
        return CleanupItem(
            id=session.id, action="removed", reason=left, wip_ref=wip_ref, workspace=str(path) if has_workspace else None
        )

    async def _ignored_work(self, workspace: Workspace, project: ResolvedProject, path: Path) -> dict[str, int]:
        """The git-ignored files at `path` that are work: neither disposable (the project's
        patterns) nor an unchanged copy of the project's own file (what `.worktreeinclude` put
        there: the original still exists)."""

        def leave_out(relative: str, is_dir: bool) -> bool:
            if is_disposable(relative, is_dir, project.disposable):
                return True
            return not is_dir and _same_bytes(project.path / relative, path / relative)

        return await workspace.ignored_files(path, leave_out)

    async def _mark_archived(self, session_id: str) -> str:
        """State `archived`, the reason keeping how the session ended (`merged: PR merged`), so
        the archived record and its history still say it; returns the state it ended in."""
        before: list[Session] = []

        def change(current: Session) -> Session | None:
            before.append(current)
            if current.state == "archived":
                return None  # an archive a crash interrupted: already marked
            reason = f"{current.state}: {current.reason}" if current.reason else current.state
            return msgspec.structs.replace(current, state="archived", reason=reason, since=utc_now_iso())

        updated = await self.update(session_id, change)
        ended = before[-1].state
        if ended == "archived":
            return updated.reason.split(":", 1)[0]
        await self.store.append_journal(
            session_id,
            {"time": utc_now_iso(), "kind": "state.changed", "from": ended, "to": "archived", "reason": updated.reason},
        )
        return ended

    async def _cleanup_orphans(self, *, dry_run: bool, project: str | None) -> list[CleanupItem]:
        """Session directories with no record: a spawn interrupted before its first write."""
        items = []
        for session_id in await self.store.orphan_session_ids():
            if project is not None:
                continue
            if not dry_run:
                await self.store.release_session_id(session_id)
            items.append(CleanupItem(id=session_id, action="would-remove" if dry_run else "removed", reason="interrupted spawn (no record)"))
        return items


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


def _same_bytes(original: Path, copy: Path) -> bool:
    """Whether `copy` is a plain file with exactly the bytes of `original` (blocking I/O)."""
    try:
        theirs, ours = os.stat(original), os.lstat(copy)
        if not (stat.S_ISREG(theirs.st_mode) and stat.S_ISREG(ours.st_mode)) or theirs.st_size != ours.st_size:
            return False
        return filecmp.cmp(original, copy, shallow=False)
    except OSError:
        return False

