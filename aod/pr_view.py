"""A session's PR as clients see it (`PrInfo`), made from what a forge reported (`PRFacts`).

Pure: facts in, the wire type out. The one builder behind `pr.open`, `pr.review` and `pr.show`,
so the three say the same things the same way: the failing checks with their logs' excerpts,
the review comments that still matter, and in plain words what keeps the PR from being merged.

The blockers are the conditions `pr.merge` (and the auto-merge reaction) insist on: approved,
checks passing (or none configured), mergeable; and what the forge itself refuses (a draft, a
PR that is no longer open). Unresolved comments are shown but do not block: aod's merge does
not wait for them, and saying otherwise would make the two disagree.
"""

from __future__ import annotations

from aod.facts import CommentFact, PRFacts
from aod.model import PrSummary, Session
from aod.protocol import CheckInfo, PrInfo, ReviewComment


def pr_info(session: Session, facts: PRFacts) -> PrInfo:
    failing = [
        CheckInfo(name=c.name, conclusion=c.conclusion, url=c.url, summary=c.summary, log_excerpt=c.log_excerpt)
        for c in facts.failing
    ]
    info = PrInfo(
        session=session.id,
        project=session.project,
        number=facts.number,
        url=facts.url,
        state=facts.state,
        draft=facts.draft,
        head_sha=facts.head_sha,
        base=facts.base,
        checks=facts.checks,
        review=facts.review,
        mergeable=facts.mergeable,
        failing=failing,
        comments=len(facts.comments),
        review_comments=[review_comment(c) for c in facts.comments],
    )
    info.blockers = blockers(info)
    return info


def pr_info_from_summary(session: Session, summary: PrSummary) -> PrInfo:
    """What a session's record alone says of its PR (before aod kept the fuller view): the
    state, checks, review and mergeability, without check names, excerpts or comments."""
    info = PrInfo(
        session=session.id,
        project=session.project,
        number=session.pr_number or "",
        url=session.pr_url or "",
        state=summary.state or "open",
        draft=summary.draft,
        head_sha="",
        base=session.base_branch or "",
        checks=summary.checks or "none",
        review=summary.review or "none",
        mergeable=summary.mergeable or "unknown",
    )
    info.blockers = blockers(info)
    return info


def review_comment(comment: CommentFact) -> ReviewComment:
    return ReviewComment(
        author=comment.author,
        body=comment.body,
        path=comment.path or None,
        line=comment.line if comment.path else None,
        url=comment.url,
        created_at=comment.at,
    )


def blockers(pr: PrInfo) -> list[str]:
    """Why `pr` is not ready to merge, each reason in a few plain words; [] when it is."""
    if pr.state == "merged":
        return ["already merged"]
    if pr.state != "open":
        return [f"{pr.state} without merging" if pr.state == "closed" else pr.state]
    found: list[str] = []
    if pr.draft:
        found.append("draft")
    if pr.checks == "failing":
        names = sorted({c.name for c in pr.failing if c.name})
        found.append(f"CI failing: {', '.join(names)}" if names else "CI failing")
    elif pr.checks == "pending":
        found.append("CI still running")
    if pr.review == "changes_requested":
        found.append("changes requested")
    elif pr.review != "approved":
        found.append("review required")
    if pr.mergeable == "conflicting":
        found.append(f"conflicts with {pr.base}" if pr.base else "merge conflicts")
    elif pr.mergeable == "blocked":
        found.append("blocked by the forge (branch protection or required checks)")
    elif pr.mergeable != "mergeable":
        found.append("mergeability not known yet")
    return found
