"""Best-of-N attempts, the shell: `group.spawn` (N sessions on one issue, grouped),
`group.compare` (each attempt side by side), `group.pick` (keep one; end the others, their work
saved and their PRs closed). The rules are aod/attempts.py's; the group record is the store's
(`groups/<id>.json`).

A group spawn is idempotent like a session spawn: with an idempotency key the group's id comes
from the key, and each attempt is spawned with a key of its own made from the group's id, so a
retried request (or one interrupted half-way) finds the attempts already started and starts
only the missing ones.

A pick is written into the group record before anything is ended (intent before action): a
crash half-way leaves a group that says what was picked, and picking again finishes the rest.

May import: attempts, roles, sessions (the service and its jobs), diffs, forges, store, model,
protocol, errors.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec
import structlog
import trio

from aod.attempts import AttemptsProblem, attempt_agents, group_id_for, member_key, pick_problem, to_discard
from aod.errors import RpcFailure, failure, first_line
from aod.events import utc_now_iso
from aod.model import Group, Session
from aod.protocol import (
    AttemptRow, DiscardedAttempt, ErrorCode, GroupCompareResult, GroupInfo, GroupPickResult, GroupSpawnParams,
)
from aod.sessions import ENDED_STATES, session_info
from aod.store import StaleRevision

if TYPE_CHECKING:
    from aod.forges import ForgeService
    from aod.service import SessionService

log = structlog.get_logger()


@dataclass(eq=False)
class Groups:
    sessions: SessionService
    forges: ForgeService
    poke: Callable[[], None] = lambda: None
    """Run the next tick now (after a pick: the kept session may be merged)."""
    # One group spawn or pick at a time per group: a retry waits for the first, then finds its work.
    _locks: dict[str, trio.Lock] = field(default_factory=dict)

    # -- group.spawn ----------------------------------------------------------------------------

    async def spawn(self, params: GroupSpawnParams) -> GroupInfo:
        if params.issue is None and not params.task:
            raise failure(ErrorCode.INVALID_PARAMS, "give an ISSUE or --task TEXT (or both)")
        resolved = await self.sessions.project(params.project, params.cwd)
        role = self.sessions.spawner.role_for(params.role, resolved)
        default_agent = (role.agent if role is not None else None) or resolved.agent
        try:
            plan = attempt_agents(params.attempts, params.agents, default_agent)
        except AttemptsProblem as exc:
            raise failure(ErrorCode.INVALID_PARAMS, str(exc)) from None
        for agent in dict.fromkeys(plan):
            self.sessions.agent(agent)  # an unknown agent is refused before anything starts
        group_id = group_id_for(params.idempotency_key) if params.idempotency_key else "g-" + secrets.token_hex(5)
        async with self._lock(group_id):
            group = await self.sessions.store.get_group(group_id)
            if group is None:
                group = await self._create(group_id, resolved.name, params, plan)
            elif (group.project, group.issue, group.task) != (resolved.name, params.issue, params.task):
                raise failure(
                    ErrorCode.CONFLICT,
                    f"the key was used for another request (group {group.id}: {group.issue or group.task}); use a new key",
                )
            for index, agent in enumerate(group.agents):
                session = await self.sessions.spawner.spawn_once(
                    idempotency_key=member_key(group.id, index), reuse_live=False, project=group.project,
                    issue=group.issue, task=group.task, agent_name=agent, branch=None, by=params.by,
                    role=group.role, group=group.id,
                )
                if session.id not in group.members:
                    group = await self._update(group.id, lambda g, sid=session.id: msgspec.structs.replace(g, members=[*g.members, sid]))
        log.info("group spawned", group=group.id, members=group.members)
        self.sessions.bus.publish("group.spawned", group=group.id, members=list(group.members))
        return await self.info(group)

    async def _create(self, group_id: str, project: str, params: GroupSpawnParams, plan: list[str]) -> Group:
        group = Group(
            id=group_id, project=project, issue=params.issue, task=params.task, role=params.role, agents=plan,
            attempts=len(plan), idempotency_key=params.idempotency_key, created_at=utc_now_iso(),
        )
        try:
            return await self.sessions.store.put_group(group, 0)
        except StaleRevision:  # made meanwhile by another process's request with the same key
            found = await self.sessions.store.get_group(group_id)
            assert found is not None
            return found

    # -- group.compare --------------------------------------------------------------------------

    async def compare(self, group_id: str) -> GroupCompareResult:
        group = await self.group(group_id)
        live = {s.id: s for s in await self.sessions.store.list_sessions()}
        rows = []
        for index, member in enumerate(group.members):
            session = live.get(member)
            agent = group.agents[index] if index < len(group.agents) else ""
            rows.append(await self._row(group, member, agent, session))
        return GroupCompareResult(group=await self.info(group, live), rows=rows)

    async def _row(self, group: Group, member: str, agent: str, session: Session | None) -> AttemptRow:
        if session is None:
            return AttemptRow(id=member, agent=agent, state="archived", archived=True, picked=group.picked == member)
        row = AttemptRow(
            id=session.id, agent=session.agent, state=session.state, reason=session.reason,
            picked=group.picked == session.id, pr_number=session.pr_number, created_at=session.created_at,
            pr_state=session.pr.state or None if session.pr else None,
            ci=session.pr.checks or None if session.pr else None,
            review=session.pr.review or None if session.pr else None, wip_ref=session.wip_ref,
        )
        if session.branch:
            from aod.diffs import session_diff

            try:
                diff = await session_diff(self.sessions, session.id, 1)  # the counts; the patch is not shown
                row.files = len(diff.files)
                row.additions = sum(f.additions for f in diff.files)
                row.deletions = sum(f.deletions for f in diff.files)
            except RpcFailure as exc:
                log.info("no diff for an attempt", session=session.id, reason=exc.message)
        usage = await self.sessions.store.get_usage(session.id)
        if usage.models:
            row.cost_usd = usage.cost_usd
        return row

    # -- group.pick -----------------------------------------------------------------------------

    async def pick(self, group_id: str, choice: str) -> GroupPickResult:
        async with self._lock(group_id):
            group = await self.group(group_id)
            live = {s.id: s for s in await self.sessions.store.list_sessions()}
            finishing = group.picked == choice and any(m in live for m in to_discard(group.members, choice))
            if not finishing:
                # A pick a crash interrupted (the record says it, some others still stand) is finished;
                # anything else is judged by the rules.
                states = {m: live[m].state for m in group.members if m in live}
                problem = pick_problem(group.id, group.members, group.picked, choice, states)
                if problem is not None:
                    code = ErrorCode.INVALID_PARAMS if choice not in group.members else ErrorCode.CONFLICT
                    raise failure(code, problem)
                group = await self._update(
                    group.id, lambda g: msgspec.structs.replace(g, picked=choice, picked_at=utc_now_iso())
                )
            kept = await self.sessions.update(
                choice, lambda s: None if s.group_picked else msgspec.structs.replace(s, group_picked=True)
            )
            await self.sessions.store.append_journal(choice, {"time": utc_now_iso(), "kind": "group.picked", "group": group.id})
            discarded = [await self._discard(group, member, choice) for member in to_discard(group.members, choice)]
            group = await self._update(
                group.id, lambda g: msgspec.structs.replace(g, discarded=[d.id for d in discarded if d.action == "removed"])
            )
        log.info("group picked", group=group.id, kept=choice, discarded=[d.id for d in discarded])
        self.sessions.bus.publish("group.picked", group=group.id, session=choice)
        self.poke()
        return GroupPickResult(group=await self.info(group), kept=session_info(kept), discarded=discarded)

    async def _discard(self, group: Group, member: str, kept: str) -> DiscardedAttempt:
        """End one attempt not picked: its agent stopped, its PR closed, its work saved and its
        worktree removed (kept, with the reason, when some of its work could not be saved)."""
        try:
            session = await self.sessions.session(member)
        except RpcFailure:
            return DiscardedAttempt(id=member, action="removed", reason="already cleaned up")
        problems: list[str] = []
        why = f"not picked: group {group.id} kept {kept}"
        if session.state not in ENDED_STATES:
            await self.sessions.teardown.kill(member)
            await self.sessions.update(member, lambda s: msgspec.structs.replace(s, reason=why))
        closed = None
        if session.pr_number and (session.pr is None or session.pr.state == "open"):
            try:
                closed = await self._close_pr(session)
            except Exception as exc:  # noqa: BLE001 - said in the answer; the attempt still ends
                problems.append(f"its PR #{session.pr_number} could not be closed: {first_line(exc)}")
        await self.sessions.store.append_journal(
            member, {"time": utc_now_iso(), "kind": "group.discarded", "group": group.id, "kept": kept, "pr_closed": closed}
        )
        item = await self.sessions.teardown.cleanup_session(member, once_saved=True)
        return DiscardedAttempt(
            id=member, action=item.action, reason=item.reason, wip_ref=item.wip_ref, pr_closed=closed,
            problem="; ".join(problems),
        )

    async def _close_pr(self, session: Session) -> str | None:
        from aod.forges import ForgeService

        project = await self.sessions.project(session.project)
        assert session.pr_number is not None
        state = await self.forges.forge(project.forge).close_pr(ForgeService.target(project), session.pr_number)
        return session.pr_number if state == "closed" else None

    # -- records ----------------------------------------------------------------------------------

    async def group(self, group_id: str) -> Group:
        try:
            group = await self.sessions.store.get_group(group_id)
        except ValueError as exc:
            raise failure(ErrorCode.INVALID_PARAMS, str(exc)) from None
        if group is None:
            known = [g.id for g in await self.sessions.store.list_groups()][-20:]
            raise failure(
                ErrorCode.NOT_FOUND,
                f"no group {group_id}" + (f" (groups: {', '.join(known)})" if known else " (there are none)"),
                valid=known,
            )
        return group

    async def info(self, group: Group, live: dict[str, Session] | None = None) -> GroupInfo:
        if live is None:
            live = {s.id: s for s in await self.sessions.store.list_sessions()}
        return GroupInfo(
            id=group.id, project=group.project, issue=group.issue, task=group.task, role=group.role,
            attempts=group.attempts, members=list(group.members), picked=group.picked, picked_at=group.picked_at,
            discarded=list(group.discarded), created_at=group.created_at,
            sessions=[session_info(live[m]) for m in group.members if m in live],
        )

    async def _update(self, group_id: str, change: Callable[[Group], Group]) -> Group:
        for _ in range(20):
            current = await self.group(group_id)
            try:
                return await self.sessions.store.put_group(change(current), current.rev)
            except StaleRevision:
                await trio.sleep(0)
        raise failure(ErrorCode.CONFLICT, f"group {group_id} is changing too fast; try again")

    def _lock(self, group_id: str) -> trio.Lock:
        return self._locks.setdefault(group_id, trio.Lock())
