"""The operations behind `issue.*` and `pr.*`, and the tick's one look per repository at PRs.

This is the shell around the forge plugins: it picks a project's forge (`local` or `github`),
turns a project into a RepoTarget, records what it learns on the session (its PR's number), and
turns forge errors into answers a user can act on. The forges themselves hold no policy.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
import trio

from aod.errors import RpcFailure
from aod.events import utc_now_iso
from aod.facts import Action, PRFacts
from aod.model import PrSummary, Session, SessionPr
from aod.plugins.forge import Forge, ForgeError, ForgeUnavailable, Issue, MergeRefused, NoSuchIssue, RepoTarget, TrackedBranch
from aod.plugins.forge.local import LocalForge
from aod.plugins.tracker import Tracker
from aod.pr_view import pr_info, pr_info_from_summary
from aod.projects import ResolvedProject
from aod.protocol import ErrorCode, IssueCommentInfo, IssueInfo, PrInfo
from aod.store import NoSuchSession, StaleRevision

if TYPE_CHECKING:
    from aod.sessions import Sessions

log = structlog.get_logger()

FORGE_TIMEOUT = 30.0
"""One repository's look at its PRs may take this long before its sessions go on without it."""
NO_PR_STATES = frozenset({"spawning"})
SCM_KINDS = ("local", "github", "gitlab")
SERVICE_NAMES = {"local": "the local forge", "github": "GitHub", "gitlab": "GitLab", "linear": "Linear", "jira": "Jira"}
TRACKER_KINDS = ("local", "github", "gitlab", "linear", "jira")


def _installed(slot: str, kind: str) -> bool:
    """An installed third-party plugin of `slot` by that name, usable or not (its own error
    then says why it is not)."""
    from aod.plugins import external

    return any(r.slot == slot and r.name == kind for r in external.records())


def _failure(code: int, message: str) -> RpcFailure:
    return RpcFailure(code, message, None)


def _forge_failure(exc: ForgeError) -> RpcFailure:
    if isinstance(exc, ForgeUnavailable):
        return _failure(ErrorCode.UNAVAILABLE, f"{exc}; try again shortly")
    if isinstance(exc, NoSuchIssue):
        return _failure(ErrorCode.NOT_FOUND, str(exc))
    return _failure(ErrorCode.CONFLICT, str(exc))


@dataclass(eq=False)
class ForgeService:
    sessions: Sessions
    local: LocalForge
    factories: dict[str, Callable[[], Any]] = field(default_factory=dict)
    """Remote plugins by kind (github, gitlab, linear, jira), started at first use: one instance
    per kind serves both slots, so GitHub's or GitLab's rate-limit budget is counted once."""
    requests: int = 0
    _started: dict[str, Any] = field(default_factory=dict, init=False)
    # The facts last kept in each session's pr.json (as the forge reported them, before
    # redaction), and when they were asked for (monotonic): a tick that sees the same facts
    # again writes nothing, and a look that began before the kept one never overwrites it.
    _kept: dict[str, tuple[float, PRFacts]] = field(default_factory=dict, init=False)
    _keeping: trio.Lock = field(default_factory=trio.Lock, init=False)

    # -- which plugin, which repository -----------------------------------------------------------

    def _plugin(self, kind: str) -> Any:
        if kind == "local":
            return self.local
        plugin = self._started.get(kind)
        if plugin is None:
            factory = self.factories.get(kind)
            if factory is None:
                raise _failure(ErrorCode.UNAVAILABLE, f"the {kind} plugin is not available in this aod")
            try:
                plugin = self._started[kind] = factory()
            except LookupError as exc:  # a third-party plugin that did not load or fit (aod/plugins/external.py)
                raise _failure(ErrorCode.UNAVAILABLE, str(exc)) from None
        return plugin

    def forge(self, kind: str) -> Forge:
        """The code host of the `scm` slot: PRs / merge requests, CI, reviews, merges."""
        if kind not in SCM_KINDS and not _installed("scm", kind):
            raise _failure(ErrorCode.INVALID_PARAMS, f"unknown scm {kind!r}: use {', '.join(SCM_KINDS)}")
        return self._plugin(kind)  # type: ignore[no-any-return]

    def tracker(self, kind: str) -> Tracker:
        """The issues of the `tracker` slot."""
        if kind not in TRACKER_KINDS and not _installed("tracker", kind):
            raise _failure(ErrorCode.INVALID_PARAMS, f"unknown tracker {kind!r}: use {', '.join(TRACKER_KINDS)}")
        return self._plugin(kind)  # type: ignore[no-any-return]

    def started(self, kind: str | None = None) -> list[Any]:
        """The remote plugins started so far (to close them, to show their status)."""
        if kind is not None:
            return [self._started[kind]] if kind in self._started else []
        return list(self._started.values())

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"local": self.local.status(), "requests": self.requests}
        for kind, plugin in self._started.items():
            out[kind] = plugin.status()
        return out

    @staticmethod
    def target(project: ResolvedProject) -> RepoTarget:
        return RepoTarget(
            project=project.name,
            path=str(project.path),
            default_branch=project.default_branch,
            remote_url=project.remote_url,
            ci=tuple(project.ci) if project.ci else None,
            ci_timeout=project.ci_timeout,
        )

    def _local_only(self, project: ResolvedProject, what: str) -> None:
        if project.forge != "local":
            raise _failure(
                ErrorCode.CONFLICT,
                f"project {project.name} uses the {project.forge} forge; {what} there (aod only reads its issues and PRs)",
            )

    def _local_tracker(self, project: ResolvedProject, what: str) -> None:
        if project.tracker != "local":
            raise _failure(
                ErrorCode.CONFLICT,
                f"project {project.name} keeps its issues on {project.tracker}; {what} there (aod only reads them)",
            )

    # -- issues -------------------------------------------------------------------------------------

    async def add_issue(
        self, project_name: str | None, cwd: str | None, title: str, body: str, labels: list[str],
        depends_on: list[str] | None = None,
    ) -> IssueInfo:
        project = await self.sessions.project(project_name, cwd)
        self._local_tracker(project, "add issues")
        title = title.strip()
        if not title or "\x00" in title or "\x00" in body:
            raise _failure(ErrorCode.INVALID_PARAMS, "an issue needs a title (and no NUL bytes)")
        if len(title) > 500 or len(body) > 1_000_000:
            raise _failure(ErrorCode.INVALID_PARAMS, "the title is limited to 500 characters and the body to 1 MB")
        issue = await self.local.add_issue(project.name, title, body, labels, depends_on or ())
        self.sessions.bus.publish("issue.added", project=project.name, id=str(issue.number))
        return issue_info(project.name, await self.local.get_issue(self.target(project), str(issue.number)))

    async def list_issues(self, project_name: str | None, cwd: str | None, **filters: Any) -> tuple[str, list[IssueInfo]]:
        project = await self.sessions.project(project_name, cwd)
        try:
            issues = await self.tracker(project.tracker).list_issues(self.target(project), **filters)
        except ForgeError as exc:
            raise _forge_failure(exc) from None
        return project.name, [issue_info(project.name, i) for i in issues]

    async def get_issue(self, project: ResolvedProject, issue_id: str) -> Issue:
        try:
            return await self.tracker(project.tracker).get_issue(self.target(project), issue_id)
        except ForgeError as exc:
            raise _forge_failure(exc) from None

    async def show_issue(self, project_name: str | None, cwd: str | None, issue_id: str) -> IssueInfo:
        project = await self.sessions.project(project_name, cwd)
        return issue_info(project.name, await self.get_issue(project, issue_id))

    async def close_issue(self, project_name: str | None, cwd: str | None, issue_id: str) -> IssueInfo:
        project = await self.sessions.project(project_name, cwd)
        self._local_tracker(project, "close issues")
        number = issue_id.strip().lstrip("#")
        if not number.isdecimal():
            raise _failure(ErrorCode.INVALID_PARAMS, f"invalid issue {issue_id!r}: use its number, like 7")
        try:
            await self.local.close_issue(project.name, int(number))
        except ForgeError as exc:
            raise _failure(ErrorCode.NOT_FOUND, f"{exc}; `aoctl issue list -p {project.name}` shows them") from None
        return issue_info(project.name, await self.get_issue(project, number))

    # -- PRs ------------------------------------------------------------------------------------------

    async def _session_and_project(self, session_id: str) -> tuple[Session, ResolvedProject]:
        session = await self.sessions.session(session_id)
        return session, await self.sessions.project(session.project)

    async def open_pr(self, session_id: str, title: str | None, body: str | None) -> PrInfo:
        session, project = await self._session_and_project(session_id)
        if session.kind == "reviewer":
            raise _failure(ErrorCode.CONFLICT, f"session {session_id} is a read-only reviewer; it opens no PR")
        if session.state in ("killed", "errored", "done", "merged", "closed"):
            raise _failure(ErrorCode.CONFLICT, f"session {session_id} is {session.state}; `aoctl restore {session_id}` first")
        title = (title or session.title or _first_line(session.task) or f"Work of session {session.id}").strip()[:300]
        if body is None:
            lines = [session.task.strip()] if session.task else []
            if session.issue:
                lines.append(closing_line(project, session.issue))
            lines.append(f"Made by an agent in aod session {session.id} ({session.agent}).")
            body = "\n\n".join(lines)
        tracked = TrackedBranch(session=session.id, branch=session.branch, base=session.base_branch or project.default_branch)
        asked = time.monotonic()
        try:
            facts = await self.forge(project.forge).open_pr(self.target(project), tracked, title=title, body=body)
        except ForgeError as exc:
            raise _forge_failure(exc) from None
        await self._remember_pr(session, facts)
        await self._keep(session.id, facts, asked)
        await self.sessions.store.append_journal(session.id, {"time": utc_now_iso(), "kind": "pr.opened", "number": facts.number, "url": facts.url})
        self.sessions.bus.publish("pr.opened", session=session.id, number=facts.number, url=facts.url)
        return self._shown(pr_info(session, facts))

    def _shown(self, info: PrInfo) -> PrInfo:
        """A PR as a client sees it: check summaries, CI excerpts and comments without secrets."""
        return self.sessions.redactor().struct(info)

    async def pr_facts(self, session: Session, project: ResolvedProject) -> PRFacts:
        tracked = TrackedBranch(session=session.id, branch=session.branch, base=session.base_branch or project.default_branch, number=session.pr_number)
        try:
            report = await self.forge(project.forge).pull_requests(self.target(project), [tracked])
        except ForgeError as exc:
            raise _forge_failure(exc) from None
        facts = report.prs.get(session.id)
        if facts is None:
            hint = (
                "the agent opens it on GitHub" if project.forge == "github"
                else "`aoctl pr open` inside the session opens one"
            )
            raise _failure(ErrorCode.NOT_FOUND, f"session {session.id} has no PR yet; {hint}")
        return facts

    async def review(
        self, session_id: str, action: str, message: str, file: str | None, line: int | None, author: str | None,
        by: str | None = None,
    ) -> PrInfo:
        session, project = await self._session_and_project(session_id)
        if project.forge == "github" and by:
            reviewer = await self._reviewer(by)
            if reviewer is not None:
                return await self._github_review(reviewer, session, project, action, message, file, line)
        self._local_only(project, f"review on {SERVICE_NAMES.get(project.forge, project.forge)}")
        if action != "approve" and not message.strip():
            raise _failure(ErrorCode.INVALID_PARAMS, "a change request or comment needs a message (-m TEXT)")
        if (file is None) != (line is None) and action != "comment":
            raise _failure(ErrorCode.INVALID_PARAMS, "--file and --line go together, with --comment")
        facts = await self.pr_facts(session, project)
        state = {"approve": "approved", "request_changes": "changes_requested", "comment": "commented"}[action]
        who = author or os.environ.get("USER") or "reviewer"
        resolved = False
        reviewer = await self._reviewer(by)
        if reviewer is not None:
            # issue 19: a reviewer session reviews its worker's PR only, as itself, and its
            # approval counts only with `review.may_approve` (aod/reviewing.py).
            from aod.reviewing import reviewer_author, reviewer_review

            if reviewer.reviews != session.id:
                raise _failure(ErrorCode.CONFLICT, f"reviewer {reviewer.id} reviews {reviewer.reviews}'s PR, not {session.id}'s")
            section = self.sessions.config().projects.get(project.name)
            may_approve = bool(section and section.review and section.review.may_approve)
            recorded = reviewer_review(action, message, may_approve=may_approve)
            state, message, resolved, who = recorded.state, recorded.body, recorded.resolved, reviewer_author(reviewer.id)
        try:
            await self.local.review(project.name, int(facts.number), state=state, body=message, author=who, path=file or "", line=line, resolved=resolved)  # type: ignore[arg-type]
        except ForgeError as exc:
            raise _forge_failure(exc) from None
        await self.sessions.store.append_journal(session.id, {"time": utc_now_iso(), "kind": "pr.reviewed", "number": facts.number, "action": action, "author": who})
        self.sessions.bus.publish("pr.reviewed", session=session.id, number=facts.number, action=action)
        asked = time.monotonic()
        after = await self.pr_facts(session, project)
        await self._keep(session.id, after, asked)
        return self._shown(pr_info(session, after))

    async def _github_review(
        self, reviewer: Session, session: Session, project: ResolvedProject, action: str, message: str,
        file: str | None, line: int | None,
    ) -> PrInfo:
        """issue 19: a reviewer session's review of its worker's GitHub PR, through the plugin.
        aod opened the PR with the same token, and GitHub refuses a PR's author an approval or a
        request for changes, so it is a COMMENT review (with `may_approve`, an APPROVE is tried);
        a line comment is its inline comment, a review thread the worker is sent like any."""
        from aod.reviewing import reviewer_review

        if reviewer.reviews != session.id:
            raise _failure(ErrorCode.CONFLICT, f"reviewer {reviewer.id} reviews {reviewer.reviews}'s PR, not {session.id}'s")
        if action != "approve" and not message.strip():
            raise _failure(ErrorCode.INVALID_PARAMS, "a change request or comment needs a message (-m TEXT)")
        section = self.sessions.config().projects.get(project.name)
        recorded = reviewer_review(action, message, may_approve=bool(section and section.review and section.review.may_approve))
        facts = await self.pr_facts(session, project)
        lead = {"changes_requested": "Changes requested", "approved": "Approved", "commented": "Review"}[recorded.state]
        header = f"**{lead} by aod's reviewer agent ({reviewer.id}).**"
        forge = self.forge("github")
        try:
            if file is not None and line is not None:
                await forge.review(self.target(project), facts.number, event="COMMENT", body="", comments=[(file, line, recorded.body)])  # type: ignore[attr-defined]
            else:
                event = "APPROVE" if recorded.state == "approved" else "COMMENT"
                await forge.review(self.target(project), facts.number, event=event, body=f"{header}\n\n{recorded.body}".strip())  # type: ignore[attr-defined]
        except ForgeError as exc:
            raise _forge_failure(exc) from None
        await self.sessions.store.append_journal(session.id, {"time": utc_now_iso(), "kind": "pr.reviewed", "number": facts.number, "action": action, "author": reviewer.id})
        self.sessions.bus.publish("pr.reviewed", session=session.id, number=facts.number, action=action)
        return self._shown(pr_info(session, facts))

    async def _reviewer(self, by: str | None) -> Session | None:
        """The reviewer session named by `by`, if it is one (a person's shell: None)."""
        if not by:
            return None
        try:
            asking = await self.sessions.session(by)
        except RpcFailure:
            return None
        return asking if asking.kind == "reviewer" else None

    async def show(self, session_id: str) -> PrInfo | None:
        """The session's PR as aod last saw it (its pr.json, else what its record says); None
        when it has none. Never asks the forge."""
        session = await self.sessions.session(session_id)
        kept = await self.sessions.store.get_pr_view(session.id)
        if kept.facts is not None:
            try:
                facts = msgspec.convert(kept.facts, PRFacts)
            except msgspec.ValidationError as exc:
                log.warning("the kept PR view does not decode; shown from the session record", session=session.id, error=str(exc))
            else:
                return self._shown(pr_info(session, facts))
        if session.pr_number and session.pr is not None:
            return self._shown(pr_info_from_summary(session, session.pr))
        return None

    async def _keep(self, session_id: str, facts: PRFacts, asked: float) -> None:
        """Write `facts`, asked of the forge at `asked` (monotonic), secrets taken out, to the
        session's pr.json if they differ from what it holds: what `pr.show` reads. A tick's look
        that began before a `pr.review`'s is older news, and is not kept over it. Failing to
        keep them never fails the caller."""
        def known_better() -> bool:
            known = self._kept.get(session_id)
            return known is not None and (known[0] > asked or known[1] == facts)

        if known_better():
            return  # the usual case, every tick: nothing new, no lock, no disk
        async with self._keeping:  # the tick and a pr.review at once: one after the other
            if known_better():
                return
            shown = msgspec.to_builtins(self.sessions.redactor().struct(facts))
            store = self.sessions.store
            try:
                for _ in range(5):
                    current = await store.get_pr_view(session_id)
                    if current.facts == shown:
                        break
                    try:
                        await store.put_pr_view(SessionPr(session=session_id, facts=shown, changed_at=utc_now_iso()), current.rev)
                        break
                    except StaleRevision:
                        continue
            except NoSuchSession:
                return  # archived meanwhile: nothing to keep
            except Exception as exc:  # noqa: BLE001 - a full disk must not stop the tick's look
                log.warning("could not keep the PR view", session=session_id, error=str(exc))
                return
            self._kept[session_id] = (asked, facts)

    def forget_except(self, live: set[str]) -> None:
        """Drop what is cached of sessions no longer live (the observer calls it each tick)."""
        for gone in set(self._kept) - live:
            del self._kept[gone]

    async def merge(self, session_id: str, method: str | None, expected_head: str | None = None) -> tuple[str, str, str]:
        """Merge the session's PR at `expected_head` (default: the head it has now, which must be
        approved, green and mergeable); (number, sha, method)."""
        session, project = await self._session_and_project(session_id)
        facts = await self.pr_facts(session, project)
        if facts.state != "open":
            raise _failure(ErrorCode.CONFLICT, f"PR #{facts.number} is {facts.state}")
        problems = []
        if facts.review != "approved":
            problems.append("it is not approved")
        if facts.checks not in ("passing", "none"):
            problems.append(f"its checks are {facts.checks}")
        if facts.mergeable != "mergeable":
            problems.append(f"it is {facts.mergeable}" if facts.mergeable != "unknown" else "its mergeability is not known yet")
        if problems:
            raise _failure(ErrorCode.CONFLICT, f"PR #{facts.number} cannot be merged: {', '.join(problems)}")
        head = expected_head or facts.head_sha
        if head != facts.head_sha:
            raise _failure(ErrorCode.CONFLICT, f"PR #{facts.number}'s head moved to {facts.head_sha[:12]} since it was approved and green")
        how = method or project.merge_method
        try:
            sha = await self.forge(project.forge).merge(self.target(project), facts.number, expected_head=head, method=how)  # type: ignore[arg-type]
        except MergeRefused as exc:
            raise _failure(ErrorCode.CONFLICT, f"PR #{facts.number} was not merged: {exc}") from None
        except ForgeError as exc:
            raise _forge_failure(exc) from None
        await self.sessions.store.append_journal(session.id, {"time": utc_now_iso(), "kind": "pr.merged", "number": facts.number, "sha": sha, "method": how})
        self.sessions.bus.publish("pr.merged", session=session.id, number=facts.number, sha=sha)
        return facts.number, sha, how

    async def comment_on_pr(self, session: Session, text: str) -> None:
        project = await self.sessions.project(session.project)
        if not session.pr_number:
            raise _failure(ErrorCode.NOT_FOUND, f"session {session.id} has no PR to comment on")
        try:
            await self.forge(project.forge).comment(self.target(project), session.pr_number, text)
        except ForgeError as exc:
            raise _forge_failure(exc) from None

    async def merge_for_reaction(self, session: Session, action: Action) -> str:
        """The auto-merge reaction's merge: only at the head that was approved and green."""
        head = action.data.get("head_sha")
        number, sha, how = await self.merge(session.id, None, expected_head=str(head) if head else None)
        return f"merged PR #{number} ({how}) as {sha[:12]}"

    # -- the tick ----------------------------------------------------------------------------------------

    async def facts_for(self, project: ResolvedProject, sessions: list[Session]) -> tuple[dict[str, PRFacts | None] | None, int]:
        """ONE look at the PRs of every session of `project`; None when the forge did not answer."""
        tracked = [
            TrackedBranch(session=s.id, branch=s.branch, base=s.base_branch or project.default_branch, number=s.pr_number)
            for s in sessions
            if s.branch and s.state not in NO_PR_STATES
        ]
        if not tracked:
            return {}, 0
        try:
            forge = self.forge(project.forge)
        except RpcFailure as exc:
            log.warning("no forge for the project", project=project.name, error=exc.message)
            return None, 0
        report = None
        asked = time.monotonic()
        with trio.move_on_after(FORGE_TIMEOUT):
            try:
                report = await forge.pull_requests(self.target(project), tracked)
            except ForgeError as exc:
                log.info("forge did not answer; PR facts unknown this tick", project=project.name, error=str(exc))
                return None, 0
            except Exception:  # noqa: BLE001 - one project's forge must not break the tick
                log.exception("forge failed; PR facts unknown this tick", project=project.name)
                return None, 0
        if report is None:
            log.warning("forge timed out; PR facts unknown this tick", project=project.name, timeout_s=FORGE_TIMEOUT)
            return None, 0
        self.requests += report.requests
        by_id = {s.id: s for s in sessions}
        for session_id, facts in report.prs.items():
            session = by_id.get(session_id)
            if session is None or facts is None:
                continue
            if _pr_record(session) != _pr_record_of(facts):
                await self._remember_pr(session, facts)
            await self._keep(session.id, facts, asked)
        return report.prs, report.requests

    async def _remember_pr(self, session: Session, facts: PRFacts) -> None:
        def change(current: Session) -> Session | None:
            if _pr_record(current) == _pr_record_of(facts):
                return None
            number, url, summary = _pr_record_of(facts)
            return msgspec.structs.replace(current, pr_number=number, pr_url=url, pr=summary)

        try:
            await self.sessions.update(session.id, change)
        except Exception as exc:  # noqa: BLE001 - archived meanwhile; nothing to remember
            log.debug("could not record the PR on the session", session=session.id, error=str(exc))
            return
        self.sessions.bus.publish(
            "session.pr", session=session.id, number=facts.number, state=facts.state,
            checks=facts.checks, review=facts.review, mergeable=facts.mergeable,
        )


def _pr_record(session: Session) -> tuple[str | None, str | None, PrSummary | None]:
    return session.pr_number, session.pr_url, session.pr


def _pr_record_of(facts: PRFacts) -> tuple[str | None, str | None, PrSummary | None]:
    """What a session records of its PR: enough for `aoctl status --pr` without asking the forge."""
    summary = PrSummary(
        state=facts.state, checks=facts.checks, review=facts.review, mergeable=facts.mergeable, draft=facts.draft
    )
    return facts.number, facts.url, summary


def closing_line(project: ResolvedProject, issue: str) -> str:
    """The PR body's line naming its issue: `Closes #7` where the PR and the issue share a host
    (which then closes it on merge); the tracker's own id otherwise (Linear and Jira link it)."""
    if project.tracker == project.forge:
        return f"Closes #{issue.lstrip('#')}"
    return f"Resolves {issue}"


def _first_line(text: str | None) -> str:
    return text.strip().splitlines()[0] if text and text.strip() else ""


def issue_info(project: str, issue: Issue) -> IssueInfo:
    return IssueInfo(
        project=project,
        id=issue.id,
        title=issue.title,
        body=issue.body,
        state=issue.state,
        labels=list(issue.labels),
        url=issue.url,
        created_at=issue.created_at,
        comments=[IssueCommentInfo(author=c.author, body=c.body, at=c.at) for c in issue.comments],
        depends_on=list(issue.depends_on),
    )

