"""The reviewer agent on the local forge, end to end: aod and aoctl as processes, real git, a real
tmux server, the scripted agent as both the worker and the reviewer.

The worker commits and aod opens its PR → aod starts ONE read-only reviewer session on the head
→ the reviewer posts a line comment and an approval (recorded as "no changes requested", not as
an approval) and reports done → the comment reaches the worker exactly once → the reviewer
session ends and is cleaned up (its checkout removed) → the worker's answer (a new head) gets
round 2 → its answer gets no round 3 (rounds: 2), a person is told once → the PR still waits
for a person's approval, which then merges it (auto_merge).

The scripted reviewer obeys the `/fake run` lines of `review.instructions`, standing in for what a
model would decide to say.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, start_fleet
from tests.support.tmux import tmux_server


def review_config() -> str:
    aoctl = f"{shlex.quote(sys.executable)} -m aoctl"
    instructions = "\n".join([
        f"/fake run {aoctl} review {{worker}} --comment -m 'Round {{round}}: rename x' --file app.txt --line 1",
        f"/fake run {aoctl} review {{worker}} --approve -m 'fine otherwise'",
        f"/fake run {aoctl} report done reviewed",
    ])
    answer = "Review says:\n{comments}\n/fake write NOTES.md {comments}\n/fake commit address the review"
    return f"""\
projects:
  demo:
    open_pr: auto
    auto_merge: true
    review:
      agent: fake
      rounds: 2
      instructions: {json.dumps(instructions)}
    reactions:
      changes-requested:
        message: {json.dumps(answer)}
"""


def reviewers_of(fleet: Fleet, worker: str) -> list[dict[str, Any]]:
    started = [e for e in fleet.journal(worker) if e.get("kind") == "review.started"]
    return [{"id": e["reviewer"], "round": e["round"], "head": e["head"]} for e in started]


def archived(fleet: Fleet, session_id: str) -> dict[str, Any] | None:
    path = fleet.aod.state_dir / "archive" / session_id / "session.json"
    return json.loads(path.read_text()) if path.exists() else None


def dump(fleet: Fleet, session_id: str) -> str:
    """What a (maybe archived) reviewer session got, said and recorded: for failure messages."""
    found = sorted(p for p in fleet.aod.state_dir.rglob("*") if session_id in str(p) and p.is_file())
    parts = [f"reviewer got: {fleet.received(session_id)}"]
    for path in found:
        if path.suffix in (".json", ".jsonl", ".log"):
            parts.append(f"--- {path}\n{path.read_text(errors='replace')[-3000:]}")
    return "\n".join(parts) + f"\n--- aod log\n{fleet.aod.log()[-3000:]}"


def test_a_reviewer_session_reviews_each_head_once_up_to_the_round_limit(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, review_config())
        # From an issue: the PR's text is then the title (the reviewer reads the PR's text,
        # and the scripted one would obey the worker's `/fake` lines in it).
        fleet.ok("issue", "add", "-p", "demo", "--title", "Add x", "--body", "/fake write app.txt x = 1\n/fake commit add x")
        worker = fleet.ok("spawn", "1")["id"]

        def reviewer(n: int, timeout: float = 60) -> dict[str, Any]:
            try:
                return wait_for(lambda: len(r := reviewers_of(fleet, worker)) >= n and r[n - 1], timeout, f"review round {n}")
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {fleet.session(worker)}\n{fleet.aod.log()[-4000:]}") from None

        first = reviewer(1)
        assert first["round"] == 1
        info = fleet.session(first["id"])
        assert info["kind"] == "reviewer" and info["reviews"] == worker and info["review_round"] == 1
        assert info["branch"] == ""  # no branch: nothing to push or open a PR from
        pr = fleet.ok("pr", "show", worker)["pr"]
        assert first["head"] == pr["head_sha"]

        # The comment reaches the worker, once; the reviewer's approval is not an approval, and
        # its "no changes requested" is kept for people, never sent to the worker.
        try:
            wait_for(lambda: any("Round 1: rename x" in m for m in fleet.received(worker)), 60, "the comment to reach the worker")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nworker got: {fleet.received(worker)}\n{dump(fleet, first['id'])}") from None
        wait_for(lambda: archived(fleet, first["id"]), 60, "reviewer 1 to end and be cleaned up")
        assert archived(fleet, first["id"])["reason"] == "done: review finished"
        assert not Path(info["workspace"]).exists()

        second = reviewer(2)
        assert second["round"] == 2 and second["head"] != first["head"]
        wait_for(lambda: any("Round 2: rename x" in m for m in fleet.received(worker)), 60, "round 2's comment")
        wait_for(lambda: archived(fleet, second["id"]), 60, "reviewer 2 to end and be cleaned up")

        # The worker answered round 2 with a new head: the limit is reached, a person is told once.
        def limit_told() -> list[dict[str, Any]]:
            return [e for e in fleet.journal(worker)
                    if e.get("kind") == "reaction.intent" and e.get("key") == "agent-review" and e.get("action") == "notify"]

        wait_for(limit_told, 60, "the round limit to be told")
        seen = fleet.aod.result("daemon.status")["last_tick"]["count"]
        wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= seen + 15, 30, "fifteen more ticks")
        assert len(reviewers_of(fleet, worker)) == 2
        assert len(limit_told()) == 1

        received = fleet.received(worker)
        assert sum("Round 1: rename x" in m for m in received) == 1
        assert sum("Round 2: rename x" in m for m in received) == 1
        assert not any("No changes requested" in m for m in received)
        reviewers = {first["id"], second["id"]}
        pr = fleet.ok("pr", "show", worker)["pr"]
        authors = {c["author"] for c in pr["review_comments"]}
        assert authors == {f"{r} (reviewer agent)" for r in (first["id"], second["id"])}, authors

        # Not merged on the reviewer's word: the PR waits for a person; their approval merges it.
        state = fleet.session(worker)
        assert state["state"] not in ("merged", "mergeable", "approved"), state
        fleet.ok("review", worker, "--approve")
        fleet.wait_state(worker, lambda s: s["state"] in ("merged", "archived"), "the human's approval to merge", 60)
        assert reviewers.isdisjoint({s["id"] for s in fleet.ok("status")})


def test_a_reviewer_start_interrupted_by_sigkill_is_not_started_twice(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    # aod dies right after starting the reviewer, its intent still pending: the next aod finishes
    # the intent, finds the reviewer by its fingerprint and starts no second one for that head.
    with tmux_server() as tmux:
        marker_dir = tmp_path / "failpoints"
        fleet = start_fleet(
            make_aod, tmp_path, tmux, review_config(),
            extra_env={"AOD_FAILPOINTS": "review-started", "AOD_FAILPOINTS_DIR": str(marker_dir)},
        )
        fleet.ok("issue", "add", "-p", "demo", "--title", "Add x", "--body", "/fake write app.txt x = 1\n/fake commit add x")
        worker = fleet.ok("spawn", "1")["id"]
        proc = fleet.aod.proc
        assert proc is not None
        wait_for(lambda: proc.poll() is not None, 60, "aod to die at the failpoint")
        fleet.aod.start()
        wait_for(lambda: any("Round 1: rename x" in m for m in fleet.received(worker)), 60, "the comment to reach the worker")
        (first,) = reviewers_of(fleet, worker)[:1]
        wait_for(lambda: archived(fleet, first["id"]), 60, "the reviewer to end and be cleaned up")
        seen = fleet.aod.result("daemon.status")["last_tick"]["count"]
        wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= seen + 10, 30, "ten more ticks")
        rounds = [r for r in reviewers_of(fleet, worker) if r["head"] == first["head"]]
        assert len(rounds) == 1, rounds
        intents = [e for e in fleet.journal(worker) if e.get("kind") == "reaction.done" and e.get("action") == "start-review"]
        assert any("already started" in e["outcome"] for e in intents), intents
        assert sum("Round 1: rename x" in m for m in fleet.received(worker)) == 1
