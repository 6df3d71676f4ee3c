"""The local forge: issues, PRs, CI, reviews and merges with no network at all.

Issues and PRs are records in aod's state dir (forge/<project>/, numbered per project, one
sequence for both). Branches and merges are the project's own git repository. CI is the
project's `ci` command, run once per PR head SHA in a throwaway detached worktree of that SHA
(never in the agent's worktree), its result a check on that SHA, with the same failure excerpt
of its output as GitHub's logs get (aod.ci_logs).

One look per tick per repository (`pull_requests`) costs one `git for-each-ref`, plus one
`git merge-tree` per (base, head) pair it has not judged before: O(1) per repository while
nothing moves. Merging never touches a working tree that has uncommitted changes: the new
commit is made with merge-tree + commit-tree, and the base branch moves by compare-and-swap
(`update-ref NEW OLD`), or, where the base is checked out and clean, by `merge --ff-only`
there.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import structlog
import trio

from aod import redact
from aod.ci_logs import excerpt
from aod.events import utc_now_iso
from aod.facts import CheckFact, CommentFact, PRFacts
from aod.model import LocalCheck, LocalComment, LocalIssue, LocalPR, LocalReview
from aod.plugins.forge import (
    ForgeError,
    ForgeReport,
    Issue,
    IssueComment,
    MergeMethod,
    MergeRefused,
    NoSuchIssue,
    RepoTarget,
    TrackedBranch,
)
from aod.proc import ToolMissing, ToolTimeout, child_env, run
from aod.redact import Redactor
from aod.store import StaleRevision, Store

log = structlog.get_logger()

GIT_TIMEOUT = 30.0
LOG_EXCERPT_CHARS = 4000
KEEP_CHECKS = 20
AOD_AUTHOR = "aod"
_CLOSES = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\s+#(\d+)\b", re.IGNORECASE)


@dataclass(eq=False)
class LocalForge:
    store: Store
    kind: str = "local"
    nursery: trio.Nursery | None = None
    """Where CI jobs run (the daemon's); without one, CI runs inside the tick that starts it."""
    ci_slots: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(2))
    on_ci_done: Callable[[str, int, LocalCheck], None] | None = None
    # CI output is stored and excerpted with secrets taken out (the app sets the config's).
    redactor: Callable[[], Redactor] = lambda: redact.DEFAULT
    # (base sha, head sha) -> conflicts?  A cache: recomputed after a restart.
    _conflicts: dict[tuple[str, str], bool] = field(default_factory=dict)
    _ci_running: set[tuple[str, str]] = field(default_factory=set)
    requests: int = 0

    # -- issues --------------------------------------------------------------------------------

    async def add_issue(
        self, project: str, title: str, body: str = "", labels: Sequence[str] = (), depends_on: Sequence[str] = ()
    ) -> LocalIssue:
        number = await self.store.next_forge_number(project)
        issue = LocalIssue(
            project=project, number=number, title=title, body=body, labels=list(labels), created_at=utc_now_iso(),
            depends_on=[d.lstrip("#") for d in depends_on],
        )
        return await self.store.put_forge_record("issues", issue, 0)

    async def close_issue(self, project: str, number: int) -> LocalIssue:
        def close(issue: LocalIssue) -> LocalIssue:
            return msgspec.structs.replace(issue, state="closed", closed_at=issue.closed_at or utc_now_iso())

        return await self._update(project, "issues", number, LocalIssue, close)

    async def get_issue(self, repo: RepoTarget, issue_id: str) -> Issue:
        number = _number(issue_id)
        issue = await self.store.get_forge_record(repo.project, "issues", number, LocalIssue) if number else None
        if issue is None:
            raise NoSuchIssue(f"project {repo.project} has no issue {issue_id}; `aoctl issue list -p {repo.project}` shows them")
        return _issue(issue)

    async def list_issues(
        self,
        repo: RepoTarget,
        *,
        state: Literal["open", "closed", "all"] = "open",
        labels: Sequence[str] = (),
        assignee: str | None = None,
        milestone: str | None = None,
        limit: int = 100,
    ) -> list[Issue]:
        issues = await self.store.list_forge_records(repo.project, "issues", LocalIssue)
        wanted = [
            i for i in issues
            if (state == "all" or i.state == state) and all(label in i.labels for label in labels)
        ]
        return [_issue(i) for i in wanted[:limit]]

    # -- PRs -------------------------------------------------------------------------------------

    async def pull_requests(self, repo: RepoTarget, branches: Sequence[TrackedBranch]) -> ForgeReport:
        before = self.requests
        prs = await self.store.list_forge_records(repo.project, "prs", LocalPR)
        result: dict[str, PRFacts | None] = {}
        if not branches:
            return ForgeReport(prs=result, requests=0)
        refs = await self._refs(repo)
        for branch in branches:
            pr = _find(prs, branch)
            result[branch.session] = None if pr is None else await self._facts(repo, pr, refs)
        return ForgeReport(prs=result, requests=self.requests - before)

    async def open_pr(self, repo: RepoTarget, branch: TrackedBranch, *, title: str, body: str) -> PRFacts:
        refs = await self._refs(repo)
        head = refs.get(branch.branch)
        if head is None:
            raise ForgeError(f"branch {branch.branch} does not exist in {repo.path}")
        base = refs.get(branch.base)
        if base is None:
            raise ForgeError(f"base branch {branch.base} does not exist in {repo.path}")
        if head == base:
            raise ForgeError(f"branch {branch.branch} has no commits beyond {branch.base} yet: commit first")
        existing = [p for p in await self.store.list_forge_records(repo.project, "prs", LocalPR) if p.state == "open" and p.branch == branch.branch]
        if existing:
            return await self._facts(repo, existing[-1], refs)
        number = await self.store.next_forge_number(repo.project)
        pr = LocalPR(
            project=repo.project, number=number, branch=branch.branch, base=branch.base, title=title,
            body=body, session=branch.session, created_at=utc_now_iso(), head_sha=head,
        )
        pr = await self.store.put_forge_record("prs", pr, 0)
        log.info("pr opened", project=repo.project, number=number, branch=branch.branch, session=branch.session)
        return await self._facts(repo, pr, refs)

    async def get_pr(self, project: str, number: int) -> LocalPR:
        pr = await self.store.get_forge_record(project, "prs", number, LocalPR)
        if pr is None:
            raise ForgeError(f"project {project} has no PR #{number}")
        return pr

    async def review(
        self,
        project: str,
        number: int,
        *,
        state: Literal["approved", "changes_requested", "commented"],
        body: str,
        author: str,
        path: str = "",
        line: int | None = None,
        resolved: bool = False,
    ) -> LocalPR:
        """A review (approve / request changes), or with `path` a comment on a line.
        `resolved`: a comment kept for people that asks nothing (never sent to the agent)."""
        now = utc_now_iso()
        pr = await self.get_pr(project, number)
        if pr.state != "open":
            raise ForgeError(f"PR #{number} is {pr.state}; only an open PR can be reviewed")
        serial = len(pr.reviews) + len(pr.comments) + 1

        def change(current: LocalPR) -> LocalPR:
            reviews, comments = list(current.reviews), list(current.comments)
            if state == "commented" or path:
                comments.append(LocalComment(id=f"c{serial}", author=author, body=body, at=now, path=path, line=line, resolved=resolved))
            if state != "commented":
                reviews.append(LocalReview(id=f"r{serial}", state=state, author=author, body=body if not path else "", at=now, head_sha=current.head_sha))
            return msgspec.structs.replace(current, reviews=reviews, comments=comments)

        return await self._update(project, "prs", number, LocalPR, change)

    async def comment(self, repo: RepoTarget, number: str, body: str) -> None:
        serial = int(time.time() * 1000)
        await self._update(
            repo.project, "prs", _number(number) or 0, LocalPR,
            lambda pr: msgspec.structs.replace(pr, comments=[*pr.comments, LocalComment(id=f"a{serial}", author=AOD_AUTHOR, body=body, at=utc_now_iso(), resolved=True)]),
        )

    async def close_pr(self, repo: RepoTarget, number: str) -> str:
        def close(pr: LocalPR) -> LocalPR:
            return pr if pr.state != "open" else msgspec.structs.replace(pr, state="closed")

        closed = await self._update(repo.project, "prs", _number(number) or 0, LocalPR, close)
        log.info("pr closed", project=repo.project, number=closed.number, state=closed.state)
        return str(closed.state)

    async def retarget_pr(self, repo: RepoTarget, number: str, base: str) -> None:
        def retarget(pr: LocalPR) -> LocalPR:
            return pr if pr.state != "open" or pr.base == base else msgspec.structs.replace(pr, base=base)

        changed = await self._update(repo.project, "prs", _number(number) or 0, LocalPR, retarget)
        log.info("pr retargeted", project=repo.project, number=changed.number, base=changed.base)

    async def merge(self, repo: RepoTarget, number: str, *, expected_head: str, method: MergeMethod) -> str:
        n = _number(number)
        pr = await self.get_pr(repo.project, n or 0)
        if pr.state != "open":
            raise MergeRefused(f"PR #{n} is {pr.state}")
        refs = await self._refs(repo)
        head, base = refs.get(pr.branch), refs.get(pr.base)
        if head is None or base is None:
            raise MergeRefused(f"branch {pr.branch if head is None else pr.base} is gone")
        if head != expected_head:
            raise MergeRefused(f"the PR's head moved to {head[:12]} (expected {expected_head[:12]}); it is judged again first")
        tree = await self._merged_tree(repo, base, head)
        if tree is None:
            raise MergeRefused(f"PR #{n} conflicts with {pr.base}; rebase it first")
        subject = f"{pr.title} (#{n})"
        if method == "squash":
            new = await self._commit_tree(repo, tree, [base], f"{subject}\n\n{pr.body}".strip() + "\n", env=await self._author_of(repo, head))
        elif method == "rebase":
            new = await self._replay(repo, base, head)
        else:
            new = await self._commit_tree(repo, tree, [base, head], f"Merge PR #{n}: {pr.title}\n\n{pr.body}".strip() + "\n")
        await self._move_base(repo, pr.base, base, new, n)
        now = utc_now_iso()
        await self._update(repo.project, "prs", n, LocalPR, lambda p: msgspec.structs.replace(p, state="merged", merged_sha=new, merged_at=now, head_sha=head))
        for closes in sorted({int(m) for m in _CLOSES.findall(pr.body)}):
            try:
                await self.close_issue(repo.project, closes)
            except ForgeError:
                pass  # not an issue of ours (or a PR number): nothing to close
        log.info("pr merged", project=repo.project, number=n, method=method, sha=new)
        return new

    def status(self) -> dict[str, object]:
        return {"ci_running": len(self._ci_running), "requests": self.requests}

    # -- facts ------------------------------------------------------------------------------------

    async def _facts(self, repo: RepoTarget, pr: LocalPR, refs: dict[str, str]) -> PRFacts:
        head = refs.get(pr.branch, pr.head_sha) if pr.state == "open" else pr.head_sha
        if pr.state == "open" and head != pr.head_sha:
            pr = await self._update(repo.project, "prs", pr.number, LocalPR, lambda p: msgspec.structs.replace(p, head_sha=head))
        base_sha = refs.get(pr.base, "")
        mergeable: Literal["unknown", "mergeable", "conflicting", "blocked"] = "unknown"
        if pr.state == "open" and head and base_sha:
            key = (base_sha, head)
            if key not in self._conflicts:
                self._conflicts[key] = await self._merged_tree(repo, base_sha, head) is None
            mergeable = "conflicting" if self._conflicts[key] else "mergeable"
        checks, failing = await self._checks(repo, pr, head)
        decisive = [r for r in pr.reviews if r.state in ("approved", "changes_requested")]
        review: Literal["none", "review_required", "approved", "changes_requested"] = "none"
        review_id = ""
        if decisive:
            review, review_id = decisive[-1].state, decisive[-1].id  # type: ignore[assignment]
        comments = [
            CommentFact(id=c.id, author=c.author, body=c.body, path=c.path, line=c.line, at=c.at)
            for c in pr.comments
            if not c.resolved and c.author != AOD_AUTHOR
        ]
        if review == "changes_requested" and decisive[-1].body.strip():
            last = decisive[-1]
            comments.append(CommentFact(id=f"review-{last.id}", author=last.author, body=last.body, at=last.at))
        return PRFacts(
            number=str(pr.number),
            url=f"local:{repo.project}#{pr.number}",
            state=pr.state,  # type: ignore[arg-type]
            draft=pr.draft,
            head_sha=head,
            base=pr.base,
            base_sha=base_sha,
            checks=checks,
            failing=failing,
            review=review,
            review_id=review_id,
            mergeable=mergeable,
            comments=tuple(comments),
            local=True,
        )

    async def _checks(self, repo: RepoTarget, pr: LocalPR, head: str) -> tuple[Any, tuple[CheckFact, ...]]:
        if not repo.ci or not head:
            return "none", ()
        check = next((c for c in reversed(pr.checks) if c.sha == head), None)
        if check is None:
            check = LocalCheck(sha=head, started_at=utc_now_iso())
            pr = await self._update(
                repo.project, "prs", pr.number, LocalPR,
                lambda p: msgspec.structs.replace(p, checks=[*p.checks, check][-KEEP_CHECKS:]),
            )
        if check.state == "pending":
            if pr.state == "open":
                self._start_ci(repo, pr.number, head)
            return "pending", ()
        if check.state == "passing":
            return "passing", ()
        log_path = self.store.ci_log_path(repo.project, head)
        return "failing", (
            CheckFact(name=check.name, conclusion="failure", url=f"file://{log_path}", summary=check.summary, log_excerpt=check.log_excerpt or check.log_tail),
        )

    # -- CI ----------------------------------------------------------------------------------------

    def _start_ci(self, repo: RepoTarget, number: int, sha: str) -> None:
        key = (repo.project, sha)
        if key in self._ci_running:
            return
        self._ci_running.add(key)
        if self.nursery is not None:
            self.nursery.start_soon(self._run_ci, repo, number, sha)

    async def run_pending_ci_inline(self, repo: RepoTarget, number: int, sha: str) -> None:
        """For callers without a nursery (tests, scripts): run the CI job now."""
        self._ci_running.add((repo.project, sha))
        await self._run_ci(repo, number, sha)

    async def _run_ci(self, repo: RepoTarget, number: int, sha: str) -> None:
        slog = log.bind(project=repo.project, pr=number, sha=sha[:12])
        try:
            async with self.ci_slots:
                state, exit_code, summary, output, seconds = await self._ci_in_checkout(repo, sha)
            redactor = self.redactor()
            output = redactor.bytes(output)
            await self.store.write_ci_log(repo.project, sha, output)
            text = output.decode("utf-8", "replace")
            finished = LocalCheck(
                sha=sha, state=state, finished_at=utc_now_iso(), duration_s=round(seconds, 3), exit_code=exit_code,
                summary=redactor.text(summary), log_excerpt=excerpt(text, LOG_EXCERPT_CHARS),
            )

            def record(pr: LocalPR) -> LocalPR:
                checks = [msgspec.structs.replace(finished, started_at=c.started_at) if c.sha == sha else c for c in pr.checks]
                return msgspec.structs.replace(pr, checks=checks)

            await self._update(repo.project, "prs", number, LocalPR, record)
            slog.info("ci finished", state=state, exit_code=exit_code, seconds=round(seconds, 2))
            if self.on_ci_done is not None:
                self.on_ci_done(repo.project, number, finished)
        except Exception:
            slog.exception("ci run failed; it is started again on the next tick")
        finally:
            self._ci_running.discard((repo.project, sha))

    async def _ci_in_checkout(self, repo: RepoTarget, sha: str) -> tuple[str, int | None, str, bytes, float]:
        assert repo.ci
        checkout = tempfile.mkdtemp(prefix="ao-ci-")
        started = time.monotonic()
        try:
            await self._git(repo, "worktree", "prune")  # checkouts a crash left behind
            await self._git(repo, "worktree", "add", "--detach", checkout, sha, check=True)
            env = child_env({"CI": "true", "AO_CI_SHA": sha, "AO_PROJECT": repo.project}, tool=False)
            try:
                result = await run(repo.ci, timeout=repo.ci_timeout, cwd=checkout, env=env, merge_stderr=True)
            except ToolTimeout:
                return "failing", None, f"timed out after {repo.ci_timeout:g}s", b"", time.monotonic() - started
            except ToolMissing as exc:
                return "failing", None, str(exc), str(exc).encode() + b"\n", time.monotonic() - started
            seconds = time.monotonic() - started
            state = "passing" if result.ok else "failing"
            summary = f"{' '.join(repo.ci)} exited {result.returncode} after {seconds:.1f}s"
            return state, result.returncode, summary, result.stdout, seconds
        finally:
            await self._git(repo, "worktree", "remove", "--force", checkout)
            shutil.rmtree(checkout, ignore_errors=True)

    # -- git -----------------------------------------------------------------------------------------

    async def _git(self, repo: RepoTarget, *args: str, check: bool = False, cwd: str | None = None, env: dict[str, str] | None = None) -> Any:
        self.requests += 1
        return await run(["git", "-C", cwd or repo.path, *args], timeout=GIT_TIMEOUT, check=check, env=env, what=f"git {args[0]}")

    async def _refs(self, repo: RepoTarget) -> dict[str, str]:
        result = await self._git(repo, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads", check=True)
        refs = {}
        for line in result.out.splitlines():
            name, _, sha = line.rpartition(" ")
            if name:
                refs[name] = sha
        return refs

    async def _merged_tree(self, repo: RepoTarget, base: str, head: str) -> str | None:
        """The tree of base merged with head, or None when they conflict (nothing is written to
        any working tree or index)."""
        result = await self._git(repo, "merge-tree", "--write-tree", "--no-messages", base, head)
        if result.returncode == 0:
            return result.out.split()[0]
        if result.returncode == 1:
            return None
        raise ForgeError(f"git merge-tree failed: {result.err or result.out}")

    async def _commit_tree(self, repo: RepoTarget, tree: str, parents: list[str], message: str, env: dict[str, str] | None = None) -> str:
        args = ["commit-tree", tree]
        for parent in parents:
            args += ["-p", parent]
        result = await run(
            ["git", "-C", repo.path, *args], timeout=GIT_TIMEOUT, stdin=message.encode(), check=True,
            env=child_env({**_committer_defaults(), **(env or {})}), what="git commit-tree",
        )
        self.requests += 1
        return result.out.strip()

    async def _replay(self, repo: RepoTarget, base: str, head: str) -> str:
        """Rebase-merge: the PR's commits re-made on top of the base, authors kept. A branch
        already on top of the base is taken as it is; otherwise git rebase runs in a throwaway
        detached checkout (git 2.39 has no merge-tree --merge-base to do it without one)."""
        fork = await self._git(repo, "merge-base", base, head, check=True)
        if fork.out.strip() == base:
            return head
        checkout = tempfile.mkdtemp(prefix="ao-rebase-")
        try:
            await self._git(repo, "worktree", "add", "--detach", checkout, head, check=True)
            done = await self._git(
                repo, "rebase", "--quiet", "--no-autosquash", base, cwd=checkout,
                env=child_env({k: v for k, v in _committer_defaults().items() if k.startswith("GIT_COMMITTER")}),
            )
            if not done.ok:
                await self._git(repo, "rebase", "--abort", cwd=checkout)
                raise MergeRefused(f"the branch does not rebase cleanly onto {base[:12]}; rebase it first")
            return (await self._git(repo, "rev-parse", "HEAD", cwd=checkout, check=True)).out.strip()
        finally:
            await self._git(repo, "worktree", "remove", "--force", checkout)
            shutil.rmtree(checkout, ignore_errors=True)

    async def _author_of(self, repo: RepoTarget, commit: str) -> dict[str, str]:
        info = await self._git(repo, "log", "-1", "--format=%an%x00%ae%x00%aI", commit, check=True)
        name, email, date = info.out.strip().split("\x00", 2)
        return {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date}

    async def _move_base(self, repo: RepoTarget, base_branch: str, old: str, new: str, number: int) -> None:
        checked_out = await self._checked_out_at(repo, base_branch)
        if checked_out is None:
            result = await self._git(repo, "update-ref", "-m", f"aod: merge PR #{number}", f"refs/heads/{base_branch}", new, old)
            if not result.ok:
                raise MergeRefused(f"{base_branch} moved while merging; it is judged again first")
            return
        status = await self._git(repo, "status", "--porcelain", "--untracked-files=no", cwd=checked_out)
        if not status.ok or status.out.strip():
            raise MergeRefused(
                f"{base_branch} is checked out in {checked_out} with uncommitted changes; commit or stash "
                "them there, then merge again (aod never overwrites them)"
            )
        result = await self._git(repo, "merge", "--ff-only", "--quiet", new, cwd=checked_out, env=child_env(_committer_defaults()))
        if not result.ok:
            raise MergeRefused(f"could not fast-forward {base_branch} in {checked_out}: {result.err or result.out}")

    async def _checked_out_at(self, repo: RepoTarget, branch: str) -> str | None:
        result = await self._git(repo, "worktree", "list", "--porcelain", check=True)
        path = None
        for line in result.out.splitlines():
            if line.startswith("worktree "):
                path = line.removeprefix("worktree ")
            elif line == f"branch refs/heads/{branch}" and path is not None:
                return path
        return None

    # -- records -------------------------------------------------------------------------------------

    async def _update(self, project: str, kind: str, number: int, type_: Any, change: Callable[[Any], Any]) -> Any:
        for _ in range(20):
            current = await self.store.get_forge_record(project, kind, number, type_)
            if current is None:
                raise ForgeError(f"project {project} has no {'issue' if kind == 'issues' else 'PR'} #{number}")
            try:
                return await self.store.put_forge_record(kind, change(current), current.rev)
            except StaleRevision:
                await trio.sleep(0)
        raise ForgeError(f"{project}#{number} is changing too fast; try again")


def _committer_defaults() -> dict[str, str]:
    """aod makes the merge commits, so it commits them as itself (unless the environment names a
    committer), and a machine with no git identity configured can still merge."""
    names = ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL")
    defaults = dict(zip(names, ("aod", "aod@localhost", "aod", "aod@localhost"), strict=True))
    return {name: os.environ.get(name) or value for name, value in defaults.items()}


def _number(text: str) -> int | None:
    text = text.strip().lstrip("#")
    return int(text) if text.isdecimal() and 0 < int(text) < 10**9 else None


def _find(prs: list[LocalPR], branch: TrackedBranch) -> LocalPR | None:
    if branch.number is not None:
        for pr in prs:
            if str(pr.number) == branch.number:
                return pr
    mine = [p for p in prs if (p.session and p.session == branch.session) or (not p.session and p.branch == branch.branch)]
    return mine[-1] if mine else None


def _issue(issue: LocalIssue) -> Issue:
    return Issue(
        id=str(issue.number),
        title=issue.title,
        body=issue.body,
        state="closed" if issue.state == "closed" else "open",
        labels=tuple(issue.labels),
        url=f"local:{issue.project}#{issue.number}",
        created_at=issue.created_at,
        comments=tuple(IssueComment(author=c.author, body=c.body, at=c.at) for c in issue.comments),
        depends_on=tuple(issue.depends_on),
    )
