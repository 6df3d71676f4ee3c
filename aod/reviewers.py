"""Reviewer sessions (issue 19), the shell around aod/reviewing.py:

- `review_step`: each tick, the reviewer rules applied to one session's lifecycle step (a
  worker's `agent-review` trigger; a reviewer's end), before the reactor decides and writes;
- `Reviewers.start`: the `start-review` action — one reviewer session for (worker, head SHA),
  found again by its fingerprint after a crash, in a read-only checkout of the head;
- `read_only_checkout`: that checkout, `git worktree add --detach`, with pushing refused.

May import: reviewing, sessions, spawn, plugins (agent, workspace), model, store, errors.
"""

from __future__ import annotations

import dataclasses
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import structlog
import trio

from aod.events import utc_now_iso
from aod.failpoints import failpoint
from aod.facts import ENDED_STATES, Action, LedgerEntry, Observation, ReactionPolicy, Step
from aod.model import Session, SessionLedger
from aod.plugins.workspace import WorkspaceError
from aod.plugins.workspace import git as gitplug
from aod.reviewing import (
    REVIEW_KEY,
    REVIEWER_KIND,
    REVIEWER_POLICIES,
    ReviewPromptInputs,
    ReviewRule,
    review_prompt,
    review_trigger,
    rounds_done,
    reviewer_step,
)

if TYPE_CHECKING:
    from aod.config.review import ReviewConfig
    from aod.forges import ForgeService
    from aod.projects import ResolvedProject
    from aod.sessions import Sessions

log = structlog.get_logger()

REFUSED_PUSH_URL = "aod-review-checkout-is-read-only://"
"""Every push URL in a reviewer's checkout is rewritten to this (an empty `pushInsteadOf` prefix
matches them all, named remotes and URLs alike), which git cannot push to."""
PRE_PUSH_HOOK = """#!/bin/sh
echo "aod: this is a read-only review checkout; pushing from it is refused" >&2
exit 1
"""


def rule_of(review: ReviewConfig | None) -> ReviewRule | None:
    if review is None:
        return None
    return ReviewRule(when=review.when, rounds=review.rounds, timeout=review.timeout, may_approve=review.may_approve)


async def review_step(
    sessions: Sessions, session: Session, observation: Observation, result: Step,
    policies: Mapping[str, ReactionPolicy], ledger: SessionLedger | None, now: float, started_at: float,
) -> tuple[Step, Mapping[str, ReactionPolicy], SessionLedger | None]:
    """The step, policies and ledger with the reviewer rules applied to `session`."""
    project = sessions.config().projects.get(session.project)
    review = project.review if project is not None else None
    if session.kind == REVIEWER_KIND:
        reported = session.report.status if session.report is not None else ""
        timeout = review.timeout if review is not None else ReviewRule().timeout
        worker = await sessions.store.get_session(session.reviews) if session.reviews else None
        worker_ended = worker is None or worker.state in ENDED_STATES
        stepped = reviewer_step(
            result, reported=reported, started_at=started_at, now=now, timeout=timeout, worker_ended=worker_ended
        )
        return stepped, {**policies, **REVIEWER_POLICIES}, ledger
    rule = rule_of(review)
    if rule is None or observation.pr is None or session.kind != "worker":
        return result, policies, ledger
    if ledger is None:
        ledger = await sessions.store.get_ledger(session.id)
    raw = ledger.entries.get(REVIEW_KEY)
    entry = msgspec.convert(raw, LedgerEntry) if raw else None
    candidate = review_trigger(session.kind, observation.pr, rule, reviewer_running=False, rounds_done=rounds_done(entry))
    if candidate is None or (entry is not None and candidate.subject in entry.acted):
        return result, policies, ledger  # nothing new: no need to look for a running reviewer
    running = any(i.key == REVIEW_KEY and i.state == "pending" for i in ledger.intents) or any(
        s.kind == REVIEWER_KIND and s.reviews == session.id and s.state not in ENDED_STATES
        for s in await sessions.store.list_sessions()
    )
    if running:
        return result, policies, ledger
    return msgspec.structs.replace(result, triggers=(*result.triggers, candidate)), policies, ledger


async def read_only_checkout(repo: Path, path: Path, head: str, hooks_dir: Path) -> None:
    """A detached worktree of `head` at `path` from which git refuses to push: a per-worktree
    config (`extensions.worktreeConfig`) rewrites every push URL to one git cannot push to, and
    points `core.hooksPath` at a pre-push hook that refuses (saying why). No branch is made."""
    hooks_dir.mkdir(parents=True, exist_ok=True)
    hook = hooks_dir / "pre-push"
    if not hook.exists() or hook.read_text() != PRE_PUSH_HOOK:
        hook.write_text(PRE_PUSH_HOOK)
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    path.parent.mkdir(parents=True, exist_ok=True)
    await gitplug.git(repo, "worktree", "add", "--detach", str(path), head, timeout=120)
    try:
        await gitplug.git(repo, "config", "extensions.worktreeConfig", "true")
        await gitplug.git(path, "config", "--worktree", f"url.{REFUSED_PUSH_URL}.pushInsteadOf", "")
        await gitplug.git(path, "config", "--worktree", "core.hooksPath", str(hooks_dir))
    except BaseException:
        await gitplug.git(repo, "worktree", "remove", "--force", str(path), check=False)
        raise


@dataclass(eq=False)
class Reviewers:
    sessions: Sessions
    forges: ForgeService | None = None

    async def start(self, worker_id: str, action: Action) -> str:
        """The `start-review` action: the reviewer session of (worker, head), started once."""
        store = self.sessions.store
        for existing in await store.list_sessions():
            if existing.idempotency_key == action.fingerprint:
                return f"reviewer {existing.id} already started"
        worker = await self.sessions.session(worker_id)
        project = await self.sessions.project(worker.project)
        section = self.sessions.config().projects.get(worker.project)
        review = section.review if section is not None else None
        if review is None:
            return "review is off for this project now"
        head = str(action.data.get("head_sha") or "")
        number = str(action.data.get("number") or worker.pr_number or "")
        base = str(action.data.get("base_sha") or action.data.get("base") or worker.base_branch or project.default_branch)
        round_ = int(action.data.get("round") or 1)  # type: ignore[call-overload]
        if not head or await gitplug.rev_parse(project.path, head) is None:
            raise RuntimeError(f"the PR head {head[:12] or '?'} is not in the project's repository; no review started")
        diff, diffstat = await self._diff(project.path, base, head)
        title, body = await self._pr_text(worker, project, number)
        plugin, settings = self.sessions.agent(review.agent)
        read_only = getattr(plugin, "read_only_mode", None)
        settings = dataclasses.replace(settings, read_only=True, permissions="default") if read_only else settings
        session_id = await store.reserve_session_id(project.session_prefix)
        path = self.sessions.workspace_root() / project.name / session_id
        now = utc_now_iso()
        defaults = self.sessions.config().defaults
        port_base = await store.allocate_ports(session_id, defaults.port_base, defaults.port_block)
        session = Session(
            id=session_id, project=project.name, state="spawning", reason="making the read-only checkout",
            since=now, created_at=now, updated_at=now, title=f"Review of {worker.id} (round {round_})",
            task=f"Review PR #{number} of {worker.id}", agent=review.agent, branch="",
            base_branch=worker.base_branch, workspace=str(path), workspace_kind="worktree", port_base=port_base,
            kind=REVIEWER_KIND, idempotency_key=action.fingerprint,
            reviews=worker.id, review_round=round_, review_head=head,
        )
        session = await store.put_session(session, 0)
        self.sessions.spawning.add(session_id)
        try:
            spawner = self.sessions.spawner
            try:
                await read_only_checkout(project.path, path, head, self.sessions.workspace_root() / ".review-hooks")
                prompt = review_prompt(ReviewPromptInputs(
                    reviewer=session_id, worker=worker.id, round=round_, rounds=review.rounds, number=number,
                    title=title, body=body, base=base[:12] if len(base) == 40 else base, head_sha=head,
                    diff=diff, diffstat=diffstat, instructions=review.instructions or "", max_diff_chars=review.max_diff_chars,
                ))
                ctx = self.sessions.agent_context(session, prompt)
                await trio.to_thread.run_sync(plugin.prepare, ctx, settings)
                env = {**spawner._session_env(session), "AO_REVIEWS": worker.id}
                handle, command = await spawner._start_agent(self.sessions.runtime_for(project.runtime), plugin, settings, ctx, env)
            except Exception as exc:
                await gitplug.git(project.path, "worktree", "remove", "--force", str(path), check=False)
                await self.sessions.set_state(session_id, "errored", f"review not started: {_first_line(exc)}", workspace="")
                raise
            await self.sessions.set_state(session_id, "working", "", runtime=handle)
            if command.prompt_mode == "paste":
                await self.sessions.enqueue(session_id, prompt, source="prompt")
        finally:
            self.sessions.spawning.discard(session_id)
        await store.append_journal(session_id, {"time": utc_now_iso(), "kind": "review.started", "worker": worker.id, "head": head, "round": round_})
        await store.append_journal(worker.id, {"time": utc_now_iso(), "kind": "review.started", "reviewer": session_id, "head": head, "round": round_})
        self.sessions.bus.publish("session.spawned", session=session_id, project=project.name, reviews=worker.id)
        await failpoint("review-started")  # the reviewer runs, its intent still pending
        log.info("reviewer started", session=session_id, worker=worker.id, head=head[:12], round=round_,
                 read_only=read_only or "none (the agent has no read-only mode)")
        return f"reviewer {session_id} started (round {round_})"

    @staticmethod
    async def _diff(repo: Path, base: str, head: str) -> tuple[str, str]:
        try:
            stat_ = await gitplug.git(repo, "diff", "--stat", f"{base}...{head}")
            full = await gitplug.git(repo, "diff", f"{base}...{head}", timeout=60)
        except WorkspaceError as exc:
            return f"(aod could not compute the diff: {_first_line(exc)}; run `git diff {base}...HEAD`)", ""
        return full.out, stat_.out

    async def _pr_text(self, worker: Session, project: ResolvedProject, number: str) -> tuple[str, str]:
        if self.forges is not None and project.forge == "local" and number.isdecimal():
            try:
                pr = await self.forges.local.get_pr(worker.project, int(number))
                return pr.title, pr.body
            except Exception:  # noqa: BLE001 - the text is a courtesy; the diff is what counts
                pass
        return worker.title or "", worker.task or worker.issue_body or ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__

