"""The imperative shell around the pure core, for one session per tick:

    observation → lifecycle.step → reactions.decide
      → write the ledger (counts + one pending intent per action)   ← before anything else
      → write the session's new state
      → perform each pending intent → close it → journal + publish

Exactly once: an intent is on disk before its action starts, and its fingerprint (session, key,
subject, kind) is never decided twice, so a crash never repeats an action that finished. An
action a crash interrupted is finished by the next aod: its pending intent is still there.
Each action kind is made safe to finish twice:
- send-to-agent: the outbox is searched for the fingerprint before queueing again, and the
  delivery worker finds the message's marker on screen before pasting again;
- notify: sent again with the same id (`X-AO-Delivery`), so a receiver can drop the repeat;
- auto-merge: the forge is asked to merge only the expected head SHA;
- pause, cleanup, restart: idempotent service operations.

Why the ledger is written before the state: a step that ends a session (the agent exited)
raises its trigger once, and the next step of an ended session raises nothing. If the state
were written first and aod died before the intent, the notification would be lost for good.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
import trio

from aod import lifecycle, reactions
from aod.events import utc_now_iso
from aod.facts import Action, LedgerEntry, Observation, PRFacts, ReactionPolicy, SessionView, Step
from aod.failpoints import failpoint
from aod.model import Intent, Session, SessionLedger
from aod.redact import Redactor
from aod.store import NoSuchSession, StaleRevision

if TYPE_CHECKING:
    from aod.config import Config
    from aod.notify import NotificationRouter
    from aod.service import SessionService

log = structlog.get_logger()

KEEP_FINISHED_INTENTS = 200
"""Closed intents kept per session (the ledger entries keep the subjects for longer)."""
BACKGROUND_KINDS = frozenset({"notify", "auto-merge", "restart", "cleanup", "comment", "start-review", "sync-issue"})
"""Actions that may take seconds (network, git, a new agent): run beside the tick, not in it."""
_action_decoder = msgspec.json.Decoder(Action)

Merger = Callable[[Session, Action], Any]
"""async (session, action) -> str: merge the session's PR at action.data["head_sha"]; raises on
refusal. Supplied by the forge; without one, auto-merge fails with a clear reason."""


def epoch(iso: str | None) -> float:
    if not iso:
        return 0.0
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class ReactorStats:
    performed: dict[str, int] = field(default_factory=dict)
    failed: int = 0


@dataclass(eq=False)
class Reactor:
    service: SessionService
    notifications: NotificationRouter | None = None
    clock: Callable[[], float] = time.time
    merge: Merger | None = None
    comment: Callable[[Session, str], Any] | None = None
    """async (session, text): post `text` on the session's PR (the forge's)."""
    start_review: Callable[[str, Action], Any] | None = None
    """async (worker id, action) -> str: start the reviewer session (aod/reviewers.py)."""
    sync_issue: Callable[[Session], Any] | None = None
    """async (session) -> str: tell the tracker the session's PR merged (aod/issue_sync.py)."""
    stats: ReactorStats = field(default_factory=ReactorStats)
    # Fingerprints being performed right now (a background action spans ticks).
    _in_flight: set[str] = field(default_factory=set)
    # Sessions with an intent that waits for its time (cleanup after a grace period); None
    # until the first tick has looked at every session's ledger once.
    _waiting: set[str] | None = None
    # Each project's merged policies, worked out once per config object (the tick asks for every
    # session's; a reload makes a new config).
    _policies: tuple[object, dict[str, dict[str, ReactionPolicy]]] | None = None

    # -- policy --------------------------------------------------------------------------------

    def policies(self, session: Session) -> Mapping[str, ReactionPolicy]:
        """The session's project's policies (shared between calls: read, never change)."""
        config = self.service.config()
        if self._policies is None or self._policies[0] is not config:
            self._policies = (config, {})
        known = self._policies[1].get(session.project)
        if known is None:
            known = self._policies[1][session.project] = self._policies_of(config, session.project)
        return known

    @staticmethod
    def _policies_of(config: Config, project_name: str) -> dict[str, ReactionPolicy]:
        project = config.projects.get(project_name)
        global_overrides = {k: v.overrides() for k, v in config.reactions.items()}
        project_overrides = {k: v.overrides() for k, v in project.reactions.items()} if project else {}
        policies = reactions.policies_for(
            global_overrides, project_overrides, auto_merge=bool(project and project.auto_merge)
        )
        from aod.issue_sync import syncs_on_merge

        if project is not None and syncs_on_merge(project.issue_sync):
            policies["pr-merged"] = msgspec.structs.replace(policies["pr-merged"], sync_issue=True)
        if project is not None and project.review is not None:
            from aod.reviewing import REVIEW_KEY, review_policy

            policies[REVIEW_KEY] = review_policy(project.review.rounds, policies[REVIEW_KEY])
        return policies

    # -- one session, one tick ----------------------------------------------------------------

    async def step(self, session: Session, observation: Observation, ledger: SessionLedger | None = None) -> Session:
        """One tick's decision for `session`. `ledger`: the session's ledger as the tick read it
        (`Store.tick_reads`), saving a read of its own; a stale one costs nothing but a retry,
        since the ledger is written compare-and-set."""
        now = self.clock()
        policies = self.policies(session)
        stuck = policies["agent-stuck"].threshold
        view = SessionView(
            id=session.id,
            state=session.state,
            reason=session.reason,
            since=epoch(session.since),
            paused_until=epoch(session.paused_until) if session.paused_until else None,
            kind=session.kind,
        )
        if observation.pr is not None and (observation.pr.comments or observation.pr.review_id):
            # Review items already told to the agent are not new (the ledger remembers them).
            try:
                read = ledger if ledger is not None else await self.service.store.get_ledger(session.id)
            except NoSuchSession:
                return session
            told = read.entries.get("changes-requested")
            entry = msgspec.convert(told, LedgerEntry) if told else None
            observation = msgspec.structs.replace(observation, seen=reactions.told_items(entry))
        if observation.pr is not None:
            # The facts' texts reach agents, people and the ledger: secrets out before the core
            # quotes (and cuts) them. Ids, names and SHAs stay as they are: subjects are made of them.
            observation = msgspec.structs.replace(observation, pr=_pr_without_secrets(observation.pr, self.service.redactor()))
        result = lifecycle.step(view, observation, now, stuck_after=stuck if stuck else 600.0)
        if session.group is not None:
            # An attempt of a group is not merged before a person picks it (aod/attempts.py).
            from aod.attempts import held_before_pick

            result = held_before_pick(result, group=session.group, picked=session.group_picked)
        if session.stack_parent is not None:
            result = await self._held_in_stack(session, result)
        if session.kind == "reviewer" or observation.pr is not None:
            from aod.reviewers import review_step  # issue 19, reviewer agent

            try:
                result, policies, ledger = await review_step(
                    self.service, session, observation, result, policies, ledger, now, epoch(session.created_at)
                )
            except NoSuchSession:
                return session
        try:
            recorded, ledger = await self._record_decision(session.id, result, policies, now, ledger)
        except NoSuchSession:
            return session  # archived meanwhile
        if recorded:
            await failpoint("after-intent")  # intents on disk, nothing done, state not written
        session, stale = await self._persist_state(session, result, now)
        if stale:
            # The record changed under this step (a delivery, a report, the merge itself), so the
            # decided state is not on disk: its intents wait for the next tick, which writes the
            # state first. Performed now, an action that checks the state (the cleanup after a
            # merge) would find the old one and be spent for nothing.
            return session
        if ledger is not None and not any(i.state == "pending" for i in ledger.intents):
            # Nothing to perform: the ledger this step read or wrote has no pending intent. One
            # recorded by someone else since is performed by the next tick, as if written after.
            if self._waiting is not None:
                self._waiting.discard(session.id)
            return session
        await self.finish_pending(session.id)
        return session

    async def _record_decision(
        self, session_id: str, result: Step, policies: Mapping[str, ReactionPolicy], now: float,
        known: SessionLedger | None = None,
    ) -> tuple[int, SessionLedger | None]:
        """Decide the reactions and write the ledger with the new intents, in one atomic write;
        return how many intents are new, and the ledger as it now is (None: not known)."""
        store = self.service.store
        for _attempt in range(10):
            ledger, known = (known, None) if known is not None else (await store.get_ledger(session_id), None)
            entries = {k: msgspec.convert(v, LedgerEntry) for k, v in ledger.entries.items()}
            decision = reactions.decide(session_id, result.triggers, result.resolved, entries, policies, now)
            redactor = self.service.redactor()
            known = {i.fingerprint for i in ledger.intents}
            new_intents = [
                Intent(
                    fingerprint=a.fingerprint,
                    kind=a.kind,
                    key=a.key,
                    subject=a.subject,
                    created_at=iso(now),
                    payload=msgspec.json.encode(_action_without_secrets(a, redactor)),
                )
                for a in decision.actions
                if a.fingerprint not in known
            ]
            if not decision.ledger and not new_intents:
                return 0, ledger
            merged = dict(ledger.entries)
            for entry in decision.ledger:
                merged[entry.key] = msgspec.to_builtins(entry)
            try:
                written = await store.put_ledger(
                    msgspec.structs.replace(ledger, entries=merged, intents=_bounded([*ledger.intents, *new_intents])),
                    ledger.rev,
                )
            except StaleRevision:
                continue
            for intent in new_intents:
                log.info("reaction decided", session=session_id, key=intent.key, action=intent.kind, subject=intent.subject)
                self.service.bus.publish(
                    "reaction.intent", session=session_id, key=intent.key, action=intent.kind, subject=intent.subject
                )
                await store.append_journal(
                    session_id,
                    {"time": utc_now_iso(), "kind": "reaction.intent", "key": intent.key, "action": intent.kind,
                     "subject": intent.subject, "fingerprint": intent.fingerprint},
                )
            return len(new_intents), written
        log.warning("the reaction ledger kept changing; deciding again next tick", session=session_id)
        return 0, None

    async def _persist_state(self, session: Session, result: Step, now: float) -> tuple[Session, bool]:
        """The session with the step's state written; True when it could not be (stale)."""
        if result.state == session.state and result.reason == session.reason and not session.commands:
            return session, False
        applied = False

        def change(current: Session) -> Session | None:
            nonlocal applied
            if current.rev != session.rev:
                return None  # someone wrote since we observed (a kill?): judge again next tick
            applied = True
            since = iso(now) if result.state != current.state else current.since
            return msgspec.structs.replace(current, state=result.state, reason=result.reason, since=since, commands=[])

        try:
            updated = await self.service.update(session.id, change)
        except Exception as exc:  # noqa: BLE001 - e.g. archived meanwhile; the next tick decides again
            log.info("session changed under the tick", session=session.id, error=str(exc))
            return session, True
        if not applied:
            return updated, True
        previous = session.state
        for event in result.events:
            if event.kind == "state.changed":
                continue
            await self.service.store.append_journal(
                session.id, {"time": utc_now_iso(), "kind": event.kind, **event.data}
            )
            self.service.bus.publish(f"session.{event.kind}", session=session.id, **event.data)
        if result.state != previous:
            log.info("state changed", session=session.id, frm=previous, to=result.state, reason=result.reason)
            await self.service.store.append_journal(
                session.id,
                {"time": utc_now_iso(), "kind": "state.changed", "from": previous, "to": result.state,
                 "reason": result.reason},
            )
            self.service.bus.publish(
                "session.state", session=session.id, frm=previous, to=result.state, reason=result.reason
            )
        return updated, False

    # -- performing intents ---------------------------------------------------------------------

    async def finish_pending(self, session_id: str) -> None:
        """Perform this session's pending intents whose time has come (new ones, and any that a
        crash or a grace period left)."""
        try:
            ledger = await self.service.store.get_ledger(session_id)
        except NoSuchSession:
            return
        now = self.clock()
        waiting = False
        pending = [i for i in ledger.intents if i.state == "pending"]
        for intent in pending:
            if intent.fingerprint in self._in_flight:
                continue
            action = _action_decoder.decode(intent.payload)
            not_before = action.data.get("not_before")
            if isinstance(not_before, int | float) and not_before > now:
                waiting = True
                continue
            if action.kind == "cleanup" and (len(pending) > 1 or self._in_flight_for(session_id)):
                # Cleanup archives the session and its ledger: everything else goes first.
                waiting = True
                continue
            self._in_flight.add(intent.fingerprint)
            nursery = self.service.nursery
            if action.kind in BACKGROUND_KINDS and nursery is not None:
                nursery.start_soon(self._perform_and_close, session_id, intent, action)
            else:
                await self._perform_and_close(session_id, intent, action)
        if self._waiting is not None:
            if waiting:
                self._waiting.add(session_id)
            else:
                self._waiting.discard(session_id)

    async def finish_left_over(self, sessions: Iterable[Session]) -> None:
        """Intents of sessions the tick does not step (ended ones): those a crash interrupted,
        found by one look at every ledger after start-up, and those waiting for their time."""
        if self._waiting is None:
            self._waiting = set()
            for session in sessions:
                try:
                    ledger = await self.service.store.get_ledger(session.id)
                except NoSuchSession:
                    continue
                if any(i.state == "pending" for i in ledger.intents):
                    self._waiting.add(session.id)
        for session_id in list(self._waiting):
            await self.finish_pending(session_id)

    def _in_flight_for(self, session_id: str) -> bool:
        return any(f.startswith(f"{session_id}:") for f in self._in_flight)

    async def _perform_and_close(self, session_id: str, intent: Intent, action: Action) -> None:
        slog = log.bind(session=session_id, key=action.key, action=action.kind)
        try:
            if action.kind == "cleanup":
                # Closed first: afterwards the ledger is in the archive, out of reach. A crash in
                # between leaves an ended session unarchived, which `aoctl cleanup` finishes.
                await self._close(session_id, intent.fingerprint, "done", "archiving the session")
            try:
                outcome = await self.perform(session_id, action)
                state = "done"
            except Exception as exc:  # noqa: BLE001 - recorded on the intent and in the journal
                outcome, state = self.service.redactor().text(_reason(exc)), "failed"
                self.stats.failed += 1
                slog.warning("reaction failed", error=outcome)
            self.stats.performed[action.kind] = self.stats.performed.get(action.kind, 0) + 1
            await failpoint("before-intent-closed")
            if not await self._close(session_id, intent.fingerprint, state, outcome):
                return
            await self.service.store.append_journal(
                session_id,
                {"time": utc_now_iso(), "kind": "reaction.done", "key": action.key, "action": action.kind,
                 "state": state, "outcome": outcome, "fingerprint": intent.fingerprint},
            )
            self.service.bus.publish(
                "reaction.done", session=session_id, key=action.key, action=action.kind, state=state, outcome=outcome
            )
            slog.info("reaction performed", state=state, outcome=outcome)
        except NoSuchSession:
            pass  # archived while the action ran (cleanup archives its own session)
        finally:
            self._in_flight.discard(intent.fingerprint)

    async def _close(self, session_id: str, fingerprint: str, state: str, outcome: str) -> bool:
        store = self.service.store
        for _ in range(20):
            try:
                ledger = await store.get_ledger(session_id)
            except NoSuchSession:
                return False
            intents = [
                msgspec.structs.replace(i, state=state, outcome=outcome, finished_at=utc_now_iso())
                if i.fingerprint == fingerprint
                else i
                for i in ledger.intents
            ]
            try:
                await store.put_ledger(msgspec.structs.replace(ledger, intents=intents), ledger.rev)
                return True
            except StaleRevision:
                await trio.sleep(0)
            except NoSuchSession:
                return False
        log.error("could not close a reaction intent; it will be finished again", session=session_id)
        return False

    async def perform(self, session_id: str, action: Action) -> str:
        service = self.service
        if action.kind == "send-to-agent":
            if await self._already_queued(session_id, action.fingerprint):
                return "already queued before a restart"
            seq, _pending = await service.enqueue(
                session_id,
                action.message,
                source=f"reaction:{action.key}",
                fingerprint=action.fingerprint,
                marker=reactions.marker(action.fingerprint),
            )
            return f"queued as message {seq}"
        if action.kind == "notify":
            return await self._notify(await service.session(session_id), action)
        if action.kind == "pause":
            resume_at = action.data.get("resume_at")
            # A margin past the reset: limits lift on the vendor's clock, not ours.
            margin = self.service.config().defaults.usage_limit_margin
            until = iso(float(resume_at) + margin) if isinstance(resume_at, int | float) else None
            await service.update(session_id, lambda s: msgspec.structs.replace(s, paused_until=until))
            return f"paused until {until}" if until else "paused"
        if action.kind == "restart":
            await service.spawner.restore(session_id)
            return "restarted"
        if action.kind == "start-review":
            if self.start_review is None:
                raise RuntimeError("this aod cannot start reviewer sessions")
            return str(await self.start_review(session_id, action))
        if action.kind == "cleanup":
            item = await service.teardown.cleanup_session(session_id)
            return f"{item.action}: {item.reason}" if item.reason else item.action
        if action.kind == "auto-merge":
            return await self._auto_merge(session_id, action)
        if action.kind == "sync-issue":
            if self.sync_issue is None:
                raise RuntimeError("this aod cannot tell trackers")
            return str(await self.sync_issue(await service.session(session_id)))
        if action.kind == "comment":
            if self.comment is None:
                raise RuntimeError("no forge to comment on")
            await self.comment(await service.session(session_id), action.message)
            return "commented on the PR"
        raise RuntimeError(f"unknown action {action.kind!r}")

    async def _already_queued(self, session_id: str, fingerprint: str) -> bool:
        store = self.service.store
        if any(d.fingerprint == fingerprint for d in await store.pending_deliveries(session_id)):
            return True
        tail = await store.journal_tail(session_id, 500)
        return any(e.get("kind") == "delivery.done" and e.get("fingerprint") == fingerprint for e in tail)

    async def _notify(self, session: Session, action: Action) -> str:
        from aod.plugins.notifier import Notification

        notification = Notification(
            id=action.fingerprint,
            title=action.title or f"{session.id}: {action.key}",
            body=action.message,
            priority=action.priority,
            session=session.id,
            project=session.project,
            kind=action.key,
            url=str(action.data["url"]) if action.data.get("url") else None,
            time=utc_now_iso(),
        )
        self.service.bus.publish(
            "notification", session=session.id, key=action.key, priority=action.priority,
            title=notification.title, body=notification.body,
        )
        if self.notifications is None:
            log.info("notification", session=session.id, title=notification.title, priority=action.priority)
            return "log: ok"
        results = await self.notifications.deliver(notification)
        summary = ", ".join(f"{name}: {outcome}" for name, outcome in sorted(results.items()))
        if results and all(outcome != "ok" for outcome in results.values()):
            raise RuntimeError(summary)
        return summary

    async def _auto_merge(self, session_id: str, action: Action) -> str:
        """One merge attempt; the lifecycle then hears `merged` or `merge_failed` through the
        session's commands. Whether and when to try again, and when to tell a person, is the
        reactions' rule (reactions._retry): a refusal parks the session in merge_failed."""
        session = await self.service.session(session_id)
        if self.merge is None:
            error = "this project's forge cannot merge"
        else:
            try:
                outcome = str(await self.merge(session, action))
            except Exception as exc:  # noqa: BLE001 - the forge's refusal, recorded on the intent
                error = _reason(exc)
                log.warning("merge refused", session=session_id, subject=action.subject, error=error)
            else:
                await self._command(session_id, "merged")
                return outcome
        await self._command(session_id, "merge_failed")
        raise RuntimeError(f"merge refused: {error}")

    async def _command(self, session_id: str, command: str) -> None:
        await self.service.update(
            session_id, lambda s: msgspec.structs.replace(s, commands=[*s.commands, command])
        )

    # -- issue 19, overlap warnings: actions decided outside the lifecycle -----------------------

    async def _held_in_stack(self, session: Session, step: Step) -> Step:
        """A stacked PR lands after the one below it (aod/stacks.py merge_hold): its
        approved-and-green waits while the lower PR is unmerged, or while its PR still targets
        the lower branch after that merged (retargeting is left to a person for now)."""
        if not any(t.key == "approved-and-green" for t in step.triggers):
            return step
        from aod.stacks import Member, merge_hold

        assert session.stack_parent is not None
        parent = await self.service.store.get_session(session.stack_parent)
        if parent is None:
            # Cleaned up: it merged or ended; either way the PR must not merge into its branch.
            why = f"waits: {session.stack_parent} (the PR below) was cleaned up; retarget this PR to its base and merge by hand"
        else:
            member = Member(id=session.id, branch=session.branch, base_branch=session.base_branch, parent=parent.id)
            below = Member(id=parent.id, branch=parent.branch, base_branch=parent.base_branch, state=parent.state)
            why = merge_hold(member, below)
        if why is None:
            return step
        return msgspec.structs.replace(
            step, reason=f"{step.reason}; {why}", triggers=tuple(t for t in step.triggers if t.key != "approved-and-green")
        )

    async def raise_actions(self, session_id: str, key: str, subject: str, actions: list[Action]) -> int:
        """Write `actions` (one subject of reaction `key`, decided by a pure rule outside the
        lifecycle, e.g. aod/overlap.py) to the session's ledger as pending intents, unless the
        ledger already holds their subject or fingerprints; then perform what is pending. Returns
        how many intents are new. Exactly once as for the lifecycle's reactions: the intent is on
        disk before the action, and a subject already acted on is never written again."""
        from aod.overlap import told

        store = self.service.store
        now = self.clock()
        for _attempt in range(10):
            ledger = await store.get_ledger(session_id)
            raw = ledger.entries.get(key)
            entry = msgspec.convert(raw, LedgerEntry) if raw else LedgerEntry(key=key)
            known = {i.fingerprint for i in ledger.intents}
            if subject in entry.acted:
                return 0
            redactor = self.service.redactor()
            new_intents = [
                Intent(
                    fingerprint=a.fingerprint, kind=a.kind, key=a.key, subject=a.subject, created_at=iso(now),
                    payload=msgspec.json.encode(_action_without_secrets(a, redactor)),
                )
                for a in actions
                if a.fingerprint not in known
            ]
            entry = msgspec.structs.replace(entry, acted=told(entry.acted, subject), last_at=now)
            entries = {**ledger.entries, key: msgspec.to_builtins(entry)}
            try:
                await store.put_ledger(
                    msgspec.structs.replace(ledger, entries=entries, intents=_bounded([*ledger.intents, *new_intents])),
                    ledger.rev,
                )
            except StaleRevision:
                continue
            for intent in new_intents:
                log.info("reaction decided", session=session_id, key=key, action=intent.kind, subject=subject)
                self.service.bus.publish("reaction.intent", session=session_id, key=key, action=intent.kind, subject=subject)
                await store.append_journal(
                    session_id,
                    {"time": utc_now_iso(), "kind": "reaction.intent", "key": key, "action": intent.kind,
                     "subject": subject, "fingerprint": intent.fingerprint},
                )
            await self.finish_pending(session_id)
            return len(new_intents)
        log.warning("the reaction ledger kept changing; deciding again next tick", session=session_id)
        return 0


def _pr_without_secrets(pr: PRFacts, redactor: Redactor) -> PRFacts:
    text = redactor.text
    return msgspec.structs.replace(
        pr,
        failing=tuple(msgspec.structs.replace(c, summary=text(c.summary), log_excerpt=text(c.log_excerpt)) for c in pr.failing),
        comments=tuple(msgspec.structs.replace(c, body=text(c.body)) for c in pr.comments),
    )


def _action_without_secrets(action: Action, redactor: Redactor) -> Action:
    """The texts an action carries (to an agent, a person, a PR), as stored in its intent. Its
    fingerprint, subject and data are left: they identify it across restarts."""
    return msgspec.structs.replace(action, message=redactor.text(action.message), title=redactor.text(action.title))


def _bounded(intents: list[Intent]) -> list[Intent]:
    finished = [i for i in intents if i.state != "pending"]
    if len(finished) <= KEEP_FINISHED_INTENTS:
        return intents
    drop = {i.fingerprint for i in finished[: len(finished) - KEEP_FINISHED_INTENTS]}
    return [i for i in intents if i.fingerprint not in drop]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:500] if text else type(exc).__name__
