"""Telling the tracker what became of its issue (issue 20, `projects.NAME.issue_sync`): the
issue moves to `on_spawn` (say "In Progress") when a worker starts on it, and to `on_merge`
("Done") with a link to the PR once the PR merged.

`plan` is the rule, pure: the settings and the moment in, the steps out. `IssueSync` performs
them through the project's tracker. The merge's steps run as the `sync-issue` intent of the
pr-merged reaction, so they are done once, through the ledger, even across a crash; the
spawn's move is sent once after the spawn, in the background (a move is idempotent: the
tracker plugins write nothing when the issue is in that state already). A tracker that does
not answer is asked again a few times with backoff; then the step is recorded as failed in
the session's history, and the human can move the issue by hand.

May import: config (the section's model), forges, plugins.tracker, model, events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import structlog
import trio

from aod.config import IssueSyncConfig
from aod.events import utc_now_iso
from aod.plugins.forge import ForgeError, ForgeUnavailable

if TYPE_CHECKING:
    from aod.forges import ForgeService
    from aod.model import Session
    from aod.projects import ResolvedProject

log = structlog.get_logger()

ATTEMPTS = 4
"""Tries of one step while the tracker is unavailable (waits 5 s, 20 s, 80 s between them)."""
FIRST_WAIT = 5.0
MAX_WAIT = 300.0


@dataclass(frozen=True)
class Step:
    kind: Literal["move", "link"]
    state: str = ""


TWO_STATE_TRACKERS = frozenset({"local", "github", "gitlab"})
"""Trackers whose issues are only open or closed."""
_OPEN = frozenset({"open", "opened", "reopen", "reopened"})


def plan(settings: IssueSyncConfig | None, moment: Literal["spawn", "merge"], tracker: str = "linear") -> list[Step]:
    """What to tell the tracker at `moment`; nothing without `issue_sync`.

    On a tracker with only open and closed issues the workflow names mean what they can: an
    issue being worked on is simply open, so `on_spawn` moves nothing unless it says `closed`;
    `on_merge` ("Done", "Resolved", ...) closes the issue unless it says `open`."""
    if settings is None:
        return []
    steps: list[Step] = []
    if moment == "spawn" and settings.on_spawn:
        state = settings.on_spawn
        if tracker in TWO_STATE_TRACKERS:
            state = "closed" if state.strip().lower() == "closed" else ""
        if state:
            steps.append(Step("move", state))
    if moment == "merge":
        if settings.link_pr:
            steps.append(Step("link"))
        if settings.on_merge:
            state = settings.on_merge
            if tracker in TWO_STATE_TRACKERS:
                state = "open" if state.strip().lower() in _OPEN else "closed"
            steps.append(Step("move", state))
    return steps


def syncs_on_merge(settings: IssueSyncConfig | None) -> bool:
    return bool(plan(settings, "merge"))


@dataclass(eq=False)
class IssueSync:
    forges: ForgeService

    def _settings(self, project: ResolvedProject) -> IssueSyncConfig | None:
        section = self.forges.sessions.config().projects.get(project.name)
        return section.issue_sync if section is not None else None

    async def started(self, session: Session, project: ResolvedProject) -> None:
        """After a worker's spawn: move its issue to `on_spawn`. Never raises."""
        if session.issue is None or session.kind != "worker":
            return
        steps = plan(self._settings(project), "spawn", project.tracker)
        if steps:
            outcome = await self._perform(session, project, steps, pr_url="", pr_title="")
            await self._journal(session, "spawn", outcome)

    async def merged(self, session: Session) -> str:
        """The pr-merged reaction's `sync-issue` intent: link the PR, move the issue to
        `on_merge`. Returns what was done; raises when a step failed for good."""
        if session.issue is None:
            return "no issue to tell"
        project = await self.forges.sessions.project(session.project)
        steps = plan(self._settings(project), "merge", project.tracker)
        if not steps:
            return "issue_sync is off"
        title = f"PR #{session.pr_number}" if session.pr_number else "the pull request"
        outcome = await self._perform(session, project, steps, pr_url=session.pr_url or "", pr_title=title)
        if outcome.startswith("failed"):
            raise RuntimeError(outcome)
        return outcome

    async def _perform(self, session: Session, project: ResolvedProject, steps: list[Step], *, pr_url: str, pr_title: str) -> str:
        from aod.forges import ForgeService

        issue = str(session.issue)
        slog = log.bind(session=session.id, issue=issue, tracker=project.tracker)
        try:
            tracker = self.forges.tracker(project.tracker)
        except Exception as exc:  # noqa: BLE001 - an RpcFailure: the plugin is missing here
            return f"failed: no {project.tracker} tracker in this aod ({exc})"
        done: list[str] = []
        target = ForgeService.target(project)
        for step in steps:
            if step.kind == "link" and not pr_url:
                continue
            if not hasattr(tracker, "move_issue" if step.kind == "move" else "link_pr"):
                # The local and GitHub trackers: the PR's "Closes #N" closes the issue on merge.
                done.append(f"{project.tracker} issues have no {'states' if step.kind == 'move' else 'PR links'} to set (skipped)")
                continue
            wait = FIRST_WAIT
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    if step.kind == "move":
                        now_in = await tracker.move_issue(target, issue, step.state)
                        done.append(f"moved {issue} to {now_in}")
                    else:
                        await tracker.link_pr(target, issue, url=pr_url, title=f"{pr_title}: {session.title or session.id}")
                        done.append(f"linked {pr_url} from {issue}")
                    break
                except ForgeUnavailable as exc:
                    if attempt == ATTEMPTS:
                        slog.warning("tracker unavailable; issue not synced", step=step.kind, error=str(exc))
                        return "failed: " + "; ".join([*done, f"{project.tracker} did not answer: {exc}"])
                    await trio.sleep(min(max(exc.retry_after or 0.0, wait), MAX_WAIT))
                    wait *= 4
                except ForgeError as exc:
                    slog.warning("tracker refused; issue not synced", step=step.kind, error=str(exc))
                    return "failed: " + "; ".join([*done, f"{project.tracker} refused: {exc}"])
        return "; ".join(done) or "nothing to do"

    async def _journal(self, session: Session, moment: str, outcome: str) -> None:
        try:
            await self.forges.sessions.store.append_journal(
                session.id, {"time": utc_now_iso(), "kind": "issue.synced", "moment": moment, "issue": session.issue, "outcome": outcome}
            )
        except Exception as exc:  # noqa: BLE001 - archived meanwhile, a full disk: only history lost
            log.debug("could not journal the issue sync", session=session.id, error=str(exc))
