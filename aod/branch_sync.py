"""`push: auto` and `open_pr: auto`: what the tick does with session branches that got commits.

The rules are pure and live in aod.lifecycle: which sessions are candidates (`wants_push`,
`wants_pr`: the agent finished its turn) and whether a head is due a try (`attempt_due`: once
per head, again after a refusal only on a backoff). This is their shell. Per repository, ONE
`git for-each-ref` reads the heads of the candidates' branches and their bases; then only for a
head that is due: one `git rev-list` (anything beyond the base?), the push, the PR request.
Every try is written on the session (`auto_push`, `auto_pr`) before the next tick looks, so a
head is tried once however many ticks see it, across restarts too, and a refusal (the branch
was never pushed, a protected branch, the forge down) costs a request a backoff step, not one
a tick.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import structlog

from aod.events import utc_now_iso
from aod.facts import PRFacts
from aod.lifecycle import attempt_due, wants_pr, wants_push
from aod.model import BranchAttempt, Session
from aod.plugins.workspace import WorkspaceError
from aod.plugins.workspace import git as gitplug
from aod.projects import ResolvedProject
from aod.sessions import ENDED_STATES, Sessions

if TYPE_CHECKING:
    from aod.forges import ForgeService

log = structlog.get_logger()

NOTHING_TO_DO = "no commits beyond the base"


@dataclass(frozen=True)
class _Candidate:
    session: Session
    push: bool
    pr: bool


@dataclass(eq=False)
class BranchSync:
    service: Sessions
    forges: ForgeService
    clock: Callable[[], float] = field(default=time.time)

    async def tick(
        self, project: ResolvedProject, sessions: list[Session], facts: dict[str, PRFacts | None] | None
    ) -> None:
        """One project's sessions, as this tick left them; `facts`: what its forge said of their
        PRs (None: it did not answer, so no session is known to have no PR)."""
        by_repo: dict[Path, list[_Candidate]] = {}
        for session in sessions:
            if session.state in ENDED_STATES or not session.branch:
                continue
            known_without_pr = facts is not None and session.id in facts and facts[session.id] is None
            push = wants_push(project.push, state=session.state, activity=session.activity)
            pr = wants_pr(project.open_pr, known_without_pr=known_without_pr, state=session.state, activity=session.activity)
            if push or pr:
                by_repo.setdefault(self._repository(project, session), []).append(_Candidate(session, push, pr))
        for repo, candidates in by_repo.items():
            bases = sorted({c.session.base_branch or project.default_branch for c in candidates})
            patterns = [f"refs/heads/{c.session.branch}" for c in candidates]
            patterns += [pattern for base in bases for pattern in (f"refs/heads/{base}", f"refs/remotes/*/{base}")]
            try:
                refs = await gitplug.ref_commits(repo, patterns)
            except (WorkspaceError, ValueError) as exc:
                log.info("cannot read the session branches", project=project.name, repo=str(repo), error=str(exc))
                continue
            for candidate in candidates:
                head = refs.get(f"refs/heads/{candidate.session.branch}")
                if head is None:
                    continue
                base = candidate.session.base_branch or project.default_branch
                base_commits = sorted({sha for ref, sha in refs.items() if _names_branch(ref, base)})
                try:
                    await self._one(project, repo, candidate, head, base_commits)
                except Exception:  # noqa: BLE001 - one session's branch must not stop the others
                    log.exception("push / open PR failed", session=candidate.session.id)

    @staticmethod
    def _repository(project: ResolvedProject, session: Session) -> Path:
        """Where the session's branch lives: the project repository for a worktree (they share
        refs), the clone itself for a clone."""
        if session.workspace_kind == "clone" and session.workspace and Path(session.workspace).is_dir():
            return Path(session.workspace)
        return project.path

    async def _one(
        self, project: ResolvedProject, repo: Path, candidate: _Candidate, head: str, base_commits: list[str]
    ) -> None:
        session, now = candidate.session, self.clock()
        ahead: bool | None = None

        async def has_commits() -> bool:
            nonlocal ahead
            if ahead is None:
                ahead = await gitplug.count_commits(repo, head, base_commits) > 0
            return ahead

        pushed = session.auto_push
        if candidate.push and _due(pushed, head, now):
            if await has_commits():
                pushed = await self._push(project, repo, session, head, now)
            else:
                pushed = await self._record(session, "auto_push", _done(head, now, NOTHING_TO_DO))
        if not candidate.pr or not _due(session.auto_pr, head, now):
            return
        if candidate.push and not _pushed(pushed, head):
            return  # the forge would refuse a head the remote does not have
        if not await has_commits():
            await self._record(session, "auto_pr", _done(head, now, NOTHING_TO_DO))
            return
        await self._open_pr(session, head, now)

    async def _push(self, project: ResolvedProject, repo: Path, session: Session, head: str, now: float) -> BranchAttempt:
        slog = log.bind(session=session.id)
        try:
            if not project.remote:
                raise WorkspaceError(
                    f"project {project.name} has no git remote to push to; add one (`git remote add origin URL`)"
                )
            await gitplug.push_commit(repo, project.remote, head, session.branch)
        except WorkspaceError as exc:
            attempt = _failed(session.auto_push, head, now, _redacted(str(exc)))
            slog.warning("could not push the branch (push: auto); trying again later", head=head[:12],
                         failures=attempt.failures, error=attempt.outcome)
        else:
            attempt = _done(head, now, f"pushed to {project.remote}/{session.branch}")
            slog.info("pushed the branch (push: auto)", head=head[:12], remote=project.remote)
        await self._journal(session, "push.auto", attempt)
        return await self._record(session, "auto_push", attempt)

    async def _open_pr(self, session: Session, head: str, now: float) -> None:
        slog = log.bind(session=session.id)
        try:
            info = await self.forges.open_pr(session.id, None, None)
        except Exception as exc:  # noqa: BLE001 - an RpcFailure with the forge's reason, usually
            attempt = _failed(session.auto_pr, head, now, _redacted(getattr(exc, "message", None) or str(exc)))
            slog.warning("could not open the PR (open_pr: auto); asking again later", head=head[:12],
                         failures=attempt.failures, error=attempt.outcome)
        else:
            attempt = _done(head, now, f"opened PR #{info.number}")
            slog.info("opened the PR (open_pr: auto)", number=info.number)
        await self._journal(session, "pr.auto", attempt)
        await self._record(session, "auto_pr", attempt)

    async def _record(self, session: Session, field_name: str, attempt: BranchAttempt) -> BranchAttempt:
        def change(current: Session) -> Session | None:
            if current.state in ENDED_STATES or getattr(current, field_name) == attempt:
                return None
            return msgspec.structs.replace(current, **{field_name: attempt})

        await self.service.update(session.id, change)
        return attempt

    async def _journal(self, session: Session, kind: str, attempt: BranchAttempt) -> None:
        await self.service.store.append_journal(
            session.id,
            {"time": utc_now_iso(), "kind": kind, "head": attempt.head, "ok": attempt.failures == 0,
             "failures": attempt.failures, "outcome": attempt.outcome},
        )


def _due(last: BranchAttempt | None, head: str, now: float) -> bool:
    if last is None:
        return True
    return attempt_due(head, last.head, last.failures, last.at, now)


def _pushed(attempt: BranchAttempt | None, head: str) -> bool:
    return attempt is not None and attempt.head == head and attempt.failures == 0 and attempt.outcome != NOTHING_TO_DO


def _done(head: str, now: float, outcome: str) -> BranchAttempt:
    return BranchAttempt(head=head, failures=0, at=now, outcome=outcome)


def _failed(last: BranchAttempt | None, head: str, now: float, outcome: str) -> BranchAttempt:
    failures = last.failures + 1 if last is not None and last.head == head and last.failures > 0 else 1
    return BranchAttempt(head=head, failures=failures, at=now, outcome=outcome[:500])


def _names_branch(ref: str, branch: str) -> bool:
    """`refs/heads/BRANCH` or `refs/remotes/REMOTE/BRANCH` (for-each-ref's patterns also match
    refs below them)."""
    if ref == f"refs/heads/{branch}":
        return True
    remote, _, rest = ref.removeprefix("refs/remotes/").partition("/")
    return ref.startswith("refs/remotes/") and bool(remote) and rest == branch


def _redacted(text: str) -> str:
    # git names the remote URL in its errors, and a URL may carry a credential.
    return re.sub(r"(://)[^/@\s]+@", r"\1***@", text)
