"""A reviewer agent's review on GitHub (issue 19), through the plugin against the loopback
emulator: aod opened the PR with the same token, so GitHub refuses it an approval or a request
for changes on it; the review goes as a COMMENT review, and its inline comment is a review thread
that the next look reads as a comment for the worker."""

from __future__ import annotations

import pytest

from aod.plugins.forge import ForgeError
from aod.plugins.forge.github import GithubForge
from tests.integration.test_github_forge import REPO, emulator, make_forge, forge, clock, session, settle, target, track  # noqa: F401
from tests.support.github_emulator import GithubEmulator


async def test_a_comment_review_with_an_inline_comment_reaches_the_facts(emulator: GithubEmulator, forge: GithubForge) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    await forge.review(target(emulator), str(number), event="COMMENT", body="", comments=[("src/app.py", 3, "Rename x.")])
    await forge.review(target(emulator), str(number), event="COMMENT", body="**Review by aod's reviewer agent.** Fine otherwise.")
    settle(emulator)

    facts = (await forge.pull_requests(target(emulator), track("ao/one"))).prs[session("ao/one")]

    assert facts is not None
    assert [(c.author, c.body, c.path, c.line) for c in facts.comments] == [("aod-bot", "Rename x.", "src/app.py", 3)]
    assert facts.review == "none"  # a COMMENT review decides nothing: a person still approves
    posted = [r for r in emulator.requests() if r.method == "POST" and r.path.endswith(f"/pulls/{number}/reviews")]
    assert len(posted) == 2


@pytest.mark.parametrize(("event", "words"), [("APPROVE", "approve"), ("REQUEST_CHANGES", "request changes on")])
async def test_github_refuses_the_prs_author_an_opinion_and_says_so(emulator: GithubEmulator, forge: GithubForge, event: str, words: str) -> None:
    number = emulator.create_pr(REPO, "ao/one")
    with pytest.raises(ForgeError, match=f"Can not {words} your own pull request"):
        await forge.review(target(emulator), str(number), event=event, body="ok")
