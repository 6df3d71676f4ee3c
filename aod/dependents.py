"""Sessions that wait for others (issue 19): `aoctl spawn ID --after X`, and starting them.

- `queue`: a spawn with `after` writes the session's record in state `queued` (what it waits for
  in `depends_on`), with no workspace, branch, ports or agent yet. The issue is looked up first,
  as for any spawn, so an unknown issue leaves nothing behind.
- `run` (a task of aod's nursery, woken by every tick): for each queued session, the candidates
  of each dependency are read from disk and `dependencies.judge` (pure) decides:
  `start` → the spawn goes on (aod/spawn.py's machinery, the record going `queued` → `spawning`
  compare-and-set on its rev: one start, across restarts, even if two runs raced);
  `wait` → the reason kept current (`after demo-5`); `blocked` → the reactor steps the session
  with `dependencies_blocked`, so the lifecycle raises `dependency-blocked` and a person is told
  once (an intent on disk before the notification, as every reaction).

A dependency is a session id (live, or archived: its archived journal says how it ended), else an
issue id of the same project (every session of that issue is a candidate).

May import: sessions, spawn, dependencies, reactor (a type), facts, model, store, errors, events.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
import structlog
import trio

from aod.dependencies import ENDED, Candidate, judge
from aod.errors import RpcFailure, failure
from aod.events import utc_now_iso
from aod.facts import Observation
from aod.model import Session, validate_session_id
from aod.protocol import ErrorCode, SpawnParams
from aod.spawn import _clean_label, already_spawned
from aod.store import StaleRevision

if TYPE_CHECKING:
    from aod.forges import ForgeService
    from aod.reactor import Reactor
    from aod.service import SessionService

log = structlog.get_logger()

QUEUED = "queued"
ARCHIVED_JOURNAL_LOOK = 50
"""Journal entries read from an archived dependency to find how it ended (its last entries)."""


class Dependents:
    def __init__(self, sessions: SessionService, reactor: Reactor | None = None, forges: ForgeService | None = None) -> None:
        self.sessions = sessions
        self.reactor = reactor
        self.forges = forges
        self.wake = trio.Event()
        self._starting: set[str] = set()

    # -- queueing ------------------------------------------------------------------------------

    async def spawn_after(self, params: SpawnParams) -> Session:
        """`session.spawn` with `after` (and `stack`)."""
        if params.stack:
            return await self.stack(params)
        return await self.queue(
            project=params.project, issue=params.issue, task=params.task, agent_name=params.agent,
            branch=params.branch, cwd=params.cwd, after=list(params.after), idempotency_key=params.idempotency_key,
        )

    async def queue(
        self, *, project: str | None, issue: str | None, task: str | None, agent_name: str | None,
        branch: str | None, cwd: str | None, after: list[str], idempotency_key: str | None,
    ) -> Session:
        """The queued session for this request (the one made before with `idempotency_key`)."""
        if issue is None and not task:
            raise failure(ErrorCode.INVALID_PARAMS, "give an ISSUE or --task TEXT (or both)")
        if branch is not None:
            raise failure(ErrorCode.INVALID_PARAMS, "--branch cannot be given with --after yet; the branch is made from the template when the session starts")
        if issue is not None and not _clean_label(issue):
            raise failure(ErrorCode.INVALID_PARAMS, f"invalid issue {issue!r}: use a number or id like 42, GH-12 or PROJ-7")
        resolved = await self.sessions.project(project, cwd)
        agent_name = agent_name or resolved.agent
        self.sessions.agent(agent_name)  # an unknown agent is refused now, not when it starts
        everything = await self.sessions.store.list_sessions()
        if idempotency_key is not None:
            found = already_spawned(everything, key=idempotency_key, project=resolved.name, issue=None, agent=agent_name)
            if found is not None:
                return found
        depends_on = await self._checked_refs(resolved.name, after, everything)
        title = body = None
        if issue is not None and self.sessions.spawner.issue_lookup is not None:
            from aod.spawn import _issue_text

            found_issue = await self.sessions.spawner.issue_lookup(resolved, issue)
            title, body = found_issue.title, _issue_text(found_issue)
        readiness = judge(await self._candidates(resolved.name, depends_on, everything))
        session_id = await self.sessions.store.reserve_session_id(resolved.session_prefix)
        now = utc_now_iso()
        session = Session(
            id=session_id, project=resolved.name, state=QUEUED, reason="after " + ", ".join(depends_on),
            since=now, created_at=now, updated_at=now, issue=issue, task=task, title=title, issue_body=body,
            agent=agent_name, base_branch=resolved.default_branch, workspace_kind=resolved.workspace,
            idempotency_key=idempotency_key, depends_on=depends_on,
        )
        try:
            session = await self.sessions.store.put_session(session, 0)
        except BaseException:
            await self.sessions.store.release_session_id(session_id)
            raise
        await self.sessions.store.append_journal(
            session_id, {"time": now, "kind": "queued", "depends_on": depends_on}
        )
        self.sessions.bus.publish("session.waiting", session=session_id, project=resolved.name, depends_on=depends_on)
        log.info("queued", session=session_id, depends_on=depends_on, verdict=readiness.verdict)
        self.poke()  # a dependency merged already: start it at once
        return session

    async def issue_waits(self, params: SpawnParams) -> list[str]:
        """The issue's own dependencies (a local issue's `depends_on:`) that are still open, when
        this spawn would start a new session: a spawn of it is then queued after them. A closed
        dependency counts as done (on the local forge a merge closes its issue)."""
        lookup = self.sessions.spawner.issue_lookup
        if params.issue is None or lookup is None:
            return []
        resolved = await self.sessions.project(params.project, params.cwd)
        everything = await self.sessions.store.list_sessions()
        found = already_spawned(
            everything, key=params.idempotency_key, project=resolved.name,
            issue=params.issue if params.reuse_live else None, agent=params.agent or resolved.agent,
        )
        if found is not None:
            return []
        try:
            issue = await lookup(resolved, params.issue)
        except RpcFailure:
            return []  # the spawn itself says what is wrong with the issue
        waits: list[str] = []
        for dep in getattr(issue, "depends_on", ()):
            try:
                other = await lookup(resolved, dep)
            except RpcFailure:
                waits.append(dep)  # unknown or unreachable: never read as done
                continue
            if other.state != "closed":
                waits.append(dep)
        return waits

    async def stack(self, params: SpawnParams) -> Session:
        """`--stack --after PARENT`: a session started at once on PARENT's branch head, its PR
        based on that branch (`base_branch`), `stack_parent` naming PARENT."""
        if len(params.after) != 1:
            raise failure(ErrorCode.INVALID_PARAMS, "--stack needs exactly one --after SESSION: the session to stack on")
        if params.branch is not None:
            raise failure(ErrorCode.INVALID_PARAMS, "--branch cannot be given with --stack yet")
        resolved = await self.sessions.project(params.project, params.cwd)
        agent_name = params.agent or resolved.agent
        self.sessions.agent(agent_name)
        everything = await self.sessions.store.list_sessions()
        if params.idempotency_key is not None:
            found = already_spawned(everything, key=params.idempotency_key, project=resolved.name, issue=None, agent=agent_name)
            if found is not None:
                return found
        ref = params.after[0]
        parent = next((s for s in everything if s.id == ref and s.project == resolved.name), None)
        if parent is None:
            parent = next(
                (s for s in everything if s.project == resolved.name and s.issue is not None
                 and s.issue.lstrip("#") == ref.lstrip("#") and s.state not in ENDED),
                None,
            )
        if parent is None or parent.state in ENDED or not parent.branch or parent.state in (QUEUED, "spawning"):
            raise failure(
                ErrorCode.CONFLICT,
                f"--stack --after {ref}: no live session of project {resolved.name} with a branch to stack on; "
                "use --after without --stack to wait for it to merge",
            )
        if params.issue is not None and not _clean_label(params.issue):
            raise failure(ErrorCode.INVALID_PARAMS, f"invalid issue {params.issue!r}: use a number or id like 42, GH-12 or PROJ-7")
        if params.issue is None and not params.task:
            raise failure(ErrorCode.INVALID_PARAMS, "give an ISSUE or --task TEXT (or both)")
        title = body = None
        if params.issue is not None and self.sessions.spawner.issue_lookup is not None:
            from aod.spawn import _issue_text

            found_issue = await self.sessions.spawner.issue_lookup(resolved, params.issue)
            title, body = found_issue.title, _issue_text(found_issue)
        from aod.plugins.workspace import git as gitplug

        parent_head = await gitplug.rev_parse(resolved.path, parent.branch)
        session_id = await self.sessions.store.reserve_session_id(resolved.session_prefix)
        now = utc_now_iso()
        record = Session(
            id=session_id, project=resolved.name, state=QUEUED, reason=f"starting on {parent.id}'s branch {parent.branch}",
            since=now, created_at=now, updated_at=now, issue=params.issue, task=params.task, title=title,
            issue_body=body, agent=agent_name, base_branch=parent.branch, workspace_kind=resolved.workspace,
            idempotency_key=params.idempotency_key, stack_parent=parent.id,
            stack_told=[f"{session_id}:stack:head:{parent_head}"],  # it starts on that head
        )
        try:
            record = await self.sessions.store.put_session(record, 0)
        except BaseException:
            await self.sessions.store.release_session_id(session_id)
            raise
        log.info("stacking", session=session_id, parent=parent.id, branch=parent.branch)
        return await self.start(record, base=parent.branch)

    async def _checked_refs(self, project: str, after: list[str], everything: list[Session]) -> list[str]:
        """The dependencies as recorded: each a session id of this project, else an issue id
        (`#11` is `11`); an unknown one is refused with what to give instead."""
        refs: list[str] = []
        ids = {s.id: s for s in everything}
        for raw in after:
            ref = raw.strip()
            if ref in ids:
                if ids[ref].project != project:
                    raise failure(ErrorCode.INVALID_PARAMS, f"--after {ref}: that session is of project {ids[ref].project}, not {project}")
            elif await self._archived_end(ref) is None:
                ref = ref.lstrip("#")
                if not _clean_label(ref):
                    raise failure(ErrorCode.INVALID_PARAMS, f"--after {raw!r}: give a session id (demo-3) or an issue id (11)")
            if ref not in refs:
                refs.append(ref)
        if not refs:
            raise failure(ErrorCode.INVALID_PARAMS, "--after needs a session id or an issue id")
        return refs

    # -- the runner ------------------------------------------------------------------------------

    def poke(self) -> None:
        self.wake.set()

    async def run(self) -> None:
        """Forever: look at the queued sessions when poked (every tick) or every poll interval."""
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - one bad look must not stop the next
                log.exception("looking at queued sessions failed")
            with trio.move_on_after(self.sessions.config().poll_interval):
                await self.wake.wait()
            self.wake = trio.Event()

    async def run_once(self) -> None:
        everything = await self.sessions.store.list_sessions()
        for session in everything:
            if session.state != QUEUED or not session.depends_on or session.id in self._starting:
                continue
            readiness = judge(await self._candidates(session.project, session.depends_on, everything))
            if readiness.verdict == "start":
                await self.start(session)
            elif readiness.verdict == "blocked":
                if self.reactor is not None:
                    await self.reactor.step(session, Observation(dependencies_blocked=readiness.reason))
            elif readiness.reason != session.reason:
                await self._set_reason(session, readiness.reason)
        await self._stacks(everything)

    async def _stacks(self, everything: list[Session]) -> None:
        """Ask stacked sessions to rebase when the branch below them moved (aod/stacks.py),
        once per (session, lower head): the outbox is searched for the request's fingerprint
        before it is queued, and the fingerprint is recorded after. After the PR below merged, the
        PR above is retargeted to the branch it merged into, then its session asked to rebase."""
        from aod.plugins.workspace import git as gitplug
        from aod.stacks import Member, decide

        by_id = {s.id: s for s in everything}
        stacked = [s for s in everything if s.stack_parent and s.state not in ENDED and s.state not in (QUEUED, "spawning")]
        if not stacked:
            return
        members: dict[str, Member] = {}
        for s in stacked:
            parent = by_id.get(s.stack_parent or "")
            if parent is None:
                continue
            head = ""
            if parent.state not in ENDED and parent.branch:
                try:
                    head = await gitplug.rev_parse((await self.sessions.project(parent.project)).path, parent.branch)
                except Exception:  # noqa: BLE001 - unknown this time: nothing is asked
                    head = ""
            members.setdefault(parent.id, Member(
                id=parent.id, branch=parent.branch, base_branch=parent.base_branch, parent=parent.stack_parent,
                state=parent.state, head=head,
            ))
            members[s.id] = Member(
                id=s.id, branch=s.branch, base_branch=s.base_branch, parent=s.stack_parent, state=s.state,
                head=members.get(s.id, Member(id=s.id, branch="", base_branch="")).head, told=tuple(s.stack_told),
            )
        retargeted: set[str] = set()
        for step in decide(list(members.values())):
            if step.kind == "retarget":
                if await self._retarget(by_id[step.session], step.onto):
                    retargeted.add(step.session)
                continue
            if ":stack:merged:" in step.fingerprint and step.session not in retargeted:
                continue  # its PR still targets the merged branch: asked once the retarget is done
            await self._ask_once(step.session, step.fingerprint, step.message)

    async def _retarget(self, session: Session, onto: str) -> bool:
        """The PR below `session`'s merged: its PR (if any) now targets `onto`, and so does the
        session (`base_branch`), which is what makes this happen once. False: the forge refused
        or could not be reached; the next tick tries again."""
        if session.pr_number is not None and self.forges is not None:
            from aod.forges import ForgeService

            try:
                project = await self.sessions.project(session.project)
                await self.forges.forge(project.forge).retarget_pr(ForgeService.target(project), session.pr_number, onto)
            except Exception as exc:  # noqa: BLE001 - a forge failure waits for the next tick
                log.warning("retargeting a stacked PR failed; trying again next tick", session=session.id, onto=onto, error=str(exc))
                return False

        def based(current: Session) -> Session | None:
            return None if current.base_branch == onto else msgspec.structs.replace(current, base_branch=onto)

        await self.sessions.update(session.id, based)
        log.info("stacked PR retargeted", session=session.id, onto=onto, pr=session.pr_number)
        return True

    async def _ask_once(self, session_id: str, fingerprint: str, message: str) -> None:
        store = self.sessions.store
        queued = any(d.fingerprint == fingerprint for d in await store.pending_deliveries(session_id)) or any(
            e.get("fingerprint") == fingerprint for e in await store.journal_tail(session_id, 500)
        )
        if not queued:
            await self.sessions.enqueue(session_id, message, source="stack", fingerprint=fingerprint)
            log.info("asked a stacked session to rebase", session=session_id, fingerprint=fingerprint)

        def told(current: Session) -> Session | None:
            if fingerprint in current.stack_told:
                return None
            return msgspec.structs.replace(current, stack_told=[*current.stack_told, fingerprint][-50:])

        await self.sessions.update(session_id, told)

    async def start(self, session: Session, *, base: str | None = None) -> Session:
        """Start the queued `session` as it was read: `spawning` compare-and-set on its rev, then
        the workspace and the agent (`base`: the ref to branch from; default the project's
        base, fetched now). A record that changed since (killed, started) is left alone."""
        spawner = self.sessions.spawner
        self._starting.add(session.id)
        self.sessions.spawning.add(session.id)
        try:
            resolved = await self.sessions.project(session.project)
            plugin, settings = self.sessions.agent(session.agent)
            runtime = self.sessions.runtime_for(resolved.runtime)
            workspace = self.sessions.workspace_for(resolved.workspace)
            base = base or await spawner.fresh_base(resolved)
            log.info("starting a queued session", session=session.id, base=base)
            try:
                return await spawner._spawn(
                    session.id, resolved, plugin, settings, runtime, workspace, session.agent, session.issue,
                    session.task, None, session.title, session.issue_body, base, session.idempotency_key,
                    session.kind, None, queued=session,
                )
            except StaleRevision:
                log.info("queued session changed before it started; left alone", session=session.id)
                return await self.sessions.session(session.id)
        except RpcFailure as exc:
            # The project or agent went away while it waited: say so on the record, keep it queued.
            log.warning("a queued session cannot start", session=session.id, error=exc.message)
            await self._set_reason(session, f"cannot start: {exc.message}")
            return session
        finally:
            self.sessions.spawning.discard(session.id)
            self._starting.discard(session.id)

    async def _set_reason(self, session: Session, reason: str) -> None:
        def change(current: Session) -> Session | None:
            if current.rev != session.rev or current.state != QUEUED:
                return None
            return msgspec.structs.replace(current, reason=reason)

        await self.sessions.update(session.id, change)

    # -- reading the dependencies ----------------------------------------------------------------

    async def _candidates(self, project: str, refs: list[str], everything: list[Session]) -> dict[str, list[Candidate]]:
        ids = {s.id: s for s in everything}
        out: dict[str, list[Candidate]] = {}
        for ref in refs:
            if ref in ids:
                s = ids[ref]
                out[ref] = [Candidate(id=s.id, state=s.state, reason=s.reason)]
                continue
            ended = await self._archived_end(ref)
            if ended is not None:
                out[ref] = [Candidate(id=ref, state="archived", reason=ended)]
                continue
            out[ref] = [
                Candidate(id=s.id, state=s.state, reason=s.reason)
                for s in everything
                if s.project == project and s.issue is not None and s.issue.lstrip("#") == ref
            ]
        return out

    async def _archived_end(self, ref: str) -> str | None:
        """How the session archived under `ref` ended (`merged: PR merged`); None: no such one."""
        try:
            validate_session_id(ref)
        except ValueError:
            return None
        tail = await self.sessions.store.archived_journal_tail(ref, ARCHIVED_JOURNAL_LOOK)
        if tail is None:
            return None
        for entry in reversed(tail):
            if entry.get("kind") == "state.changed" and entry.get("to") == "archived":
                return str(entry.get("reason") or "archived")
        return "archived"
