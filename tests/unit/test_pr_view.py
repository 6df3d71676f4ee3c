"""aod.pr_view: a PR as clients see it, and in plain words what keeps it from being merged."""

from __future__ import annotations

import msgspec

from aod.facts import CheckFact, CommentFact, PRFacts
from aod.model import PrSummary, Session
from aod.pr_view import blockers, pr_info, pr_info_from_summary

SESSION = Session(id="web-3", project="web", created_at="t", updated_at="t", base_branch="main", pr_number="12", pr_url="u")
READY = PRFacts(number="12", url="https://x/pull/12", head_sha="abc", base="main", checks="passing", review="approved", mergeable="mergeable")


def test_an_approved_green_mergeable_pr_has_no_blockers() -> None:
    assert pr_info(SESSION, READY).blockers == []
    assert pr_info(SESSION, msgspec.structs.replace(READY, checks="none")).blockers == []  # no CI configured


def test_every_reason_not_to_merge_is_named() -> None:
    facts = msgspec.structs.replace(
        READY, draft=True, checks="failing", review="changes_requested", mergeable="conflicting",
        failing=(CheckFact(name="test (3.11)", conclusion="failure"), CheckFact(name="lint", conclusion="failure")),
    )
    assert pr_info(SESSION, facts).blockers == ["draft", "CI failing: lint, test (3.11)", "changes requested", "conflicts with main"]
    waiting = msgspec.structs.replace(READY, checks="pending", review="none", mergeable="unknown")
    assert pr_info(SESSION, waiting).blockers == ["CI still running", "review required", "mergeability not known yet"]
    blocked = msgspec.structs.replace(READY, review="review_required", mergeable="blocked")
    assert pr_info(SESSION, blocked).blockers == ["review required", "blocked by the forge (branch protection or required checks)"]
    assert pr_info(SESSION, msgspec.structs.replace(READY, state="merged")).blockers == ["already merged"]
    assert pr_info(SESSION, msgspec.structs.replace(READY, state="closed")).blockers == ["closed without merging"]


def test_failing_checks_carry_their_excerpt_and_comments_their_place() -> None:
    facts = msgspec.structs.replace(
        READY, checks="failing",
        failing=(CheckFact(name="ci", conclusion="failure", summary="exit 1", log_excerpt="Failing step: Run pytest\nFAILED t.py"),),
        comments=(
            CommentFact(id="c1", author="ana", body="rename x", path="app.py", line=3, at="2026-12-01T10:00:00Z", url="https://x/c1"),
            CommentFact(id="review-r2", author="bo", body="please split this"),
        ),
    )
    info = pr_info(SESSION, facts)
    assert info.failing[0].log_excerpt == "Failing step: Run pytest\nFAILED t.py"
    assert info.comments == 2
    inline, verdict = info.review_comments
    assert (inline.author, inline.path, inline.line, inline.url, inline.created_at, inline.resolved) == ("ana", "app.py", 3, "https://x/c1", "2026-12-01T10:00:00Z", False)
    assert (verdict.path, verdict.line, verdict.body) == (None, None, "please split this")
    assert blockers(info) == info.blockers == ["CI failing: ci"]


def test_a_pr_known_only_from_the_session_record() -> None:
    info = pr_info_from_summary(SESSION, PrSummary(state="open", checks="failing", review="approved", mergeable="mergeable"))
    assert (info.number, info.url, info.base, info.failing, info.review_comments) == ("12", "u", "main", [], [])
    assert info.blockers == ["CI failing"]
