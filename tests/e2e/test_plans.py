"""Dependencies end to end (issue 19): aod and aoctl as processes, real git, a real tmux server,
the scripted agent, the local forge.

`aoctl spawn --after A` queues B (no workspace, no agent) until A's PR merged; then B starts once,
from the base that has A's work, also when aod restarts around the merge. A dependency that ends
without merging is never taken as done: B stays queued and a person is told once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, git, start_fleet
from tests.support.tmux import tmux_server

CONFIG = "projects:\n  demo: {open_pr: auto}\n"


def _ticks(fleet: Fleet, n: int) -> None:
    def count() -> int:
        last = fleet.aod.result("daemon.status")["last_tick"]
        return last["count"] if last else 0

    seen = count()
    wait_for(lambda: count() >= seen + n, 30, f"{n} more ticks")


def _restart(fleet: Fleet) -> None:
    fleet.aod.stop()
    fleet.aod.start()


def test_a_dependent_waits_for_the_merge_and_starts_once(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, CONFIG)
        a = fleet.ok("spawn", "--task", "/fake write a.txt from A\n/fake commit add a.txt")["id"]
        b_info = fleet.ok("spawn", "--task", "/fake write b.txt from B\n/fake commit add b.txt", "--after", a)
        b = b_info["id"]
        assert (b_info["state"], b_info["reason"], b_info["depends_on"]) == ("queued", f"after {a}", [a])
        assert b_info["workspace"] == "" and b_info["runtime"] is None
        status = fleet.aod.aoctl("status")
        assert f"queued (after {a})" in status.stdout, status.stdout

        fleet.wait_state(a, lambda s: s["state"] == "review_pending", "A's PR waiting for review", 60)
        _restart(fleet)  # a restart while B waits changes nothing
        _ticks(fleet, 5)
        waiting = fleet.session(b)
        assert (waiting["state"], waiting["runtime"]) == ("queued", None)
        assert b not in fleet.tmux_sessions()

        fleet.ok("review", a, "--approve")
        fleet.ok("merge", a)
        _restart(fleet)  # around the merge: B must start once, whichever aod sees it first
        started = fleet.wait_state(b, lambda s: s["state"] not in ("queued", "spawning"), "B to start", 60)
        assert started["state"] != "errored", started
        # B branched from the base with A's work in it, and did its own.
        wait_for(lambda: "add b.txt" in git(fleet.repo, "log", "--format=%s", f"ao/{b}"), 60, "B's commit")
        assert "add a.txt" in git(fleet.repo, "log", "--format=%s", f"ao/{b}")
        _restart(fleet)
        _ticks(fleet, 5)
        spawned = [e for e in fleet.journal(b) if e["kind"] == "spawned"]
        assert len(spawned) == 1, fleet.journal(b)
        assert fleet.tmux_sessions().count(b) == 1
        assert sum("/fake write b.txt" in m for m in fleet.received(b)) == 1


def test_a_dependency_that_ends_without_merging_blocks_and_is_told_once(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux)
        a = fleet.ok("spawn", "--task", "wait here")["id"]
        b = fleet.ok("spawn", "--task", "later", "--after", a)["id"]
        fleet.ok("kill", a)
        blocked = fleet.wait_state(b, lambda s: s["reason"].startswith("blocked"), "B blocked", 30)
        assert blocked["state"] == "queued"
        assert blocked["reason"] == f"blocked: {a} ({a} killed) without merging"
        told = lambda: [e for e in fleet.journal(b) if e["kind"] == "reaction.done" and e.get("key") == "dependency-blocked"]  # noqa: E731
        wait_for(told, 30, "the dependency-blocked notification")
        _restart(fleet)
        _ticks(fleet, 10)
        assert len(told()) == 1
        assert fleet.session(b)["state"] == "queued" and b not in fleet.tmux_sessions()
        # Unknown dependencies and a stack are refused with what to do.
        refused = fleet.fails("spawn", "--task", "x", "--after", "not a ref!")
        assert "give a session id" in refused.stderr


PLAN = """\
name: login
tasks:
  - id: ui
    task: "/fake write ui.txt form\\n/fake commit add the form"
    depends_on: [api]
  - id: api
    task: "/fake write api.txt endpoint\\n/fake commit add the endpoint"
"""


def test_a_plan_is_checked_whole_then_applied_once(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, CONFIG)
        cyclic = tmp_path / "cyclic.yaml"
        cyclic.write_text(
            "tasks:\n  - {id: a, task: A, depends_on: [c]}\n  - {id: b, task: B, depends_on: [a]}\n"
            "  - {id: c, task: C, depends_on: [b]}\n  - {id: d, task: D}\n"
        )
        refused = fleet.fails("plan", "apply", str(cyclic))
        assert f"{cyclic}: tasks: a cycle, nothing can start: a → c → b → a" in refused.stderr
        bad = tmp_path / "bad.yaml"
        bad.write_text("tasks:\n  - id: a\n    task: A\n    colour: red\n")
        assert f"{bad}:4: tasks[0].colour" in fleet.fails("plan", "apply", str(bad)).stderr
        unknown_role = tmp_path / "roles.yaml"
        unknown_role.write_text("tasks:\n  - {id: a, task: A, role: astronaut}\n")
        assert "astronaut" in fleet.fails("plan", "apply", str(unknown_role)).stderr
        assert fleet.ok("status") == []  # nothing of those started

        plan = tmp_path / "plan.yaml"
        plan.write_text(PLAN)
        dry = fleet.ok("plan", "apply", "--dry-run", str(plan))
        assert [(t["id"], t["action"], t["depends_on"]) for t in dry["tasks"]] == [
            ("api", "would spawn", []), ("ui", "would queue", ["api"]),
        ]
        assert fleet.ok("status") == []

        applied = fleet.ok("plan", "apply", str(plan))
        (api, ui) = applied["tasks"]
        assert (api["id"], api["action"], ui["id"], ui["action"]) == ("api", "spawned", "ui", "queued")
        assert ui["state"] == "queued" and ui["depends_on"] == [api["session"]]
        again = fleet.ok("plan", "apply", str(plan))
        assert [(t["action"], t["session"]) for t in again["tasks"]] == [("exists", api["session"]), ("exists", ui["session"])]
        assert sorted(s["id"] for s in fleet.ok("status")) == sorted([api["session"], ui["session"]])
        text = fleet.aod.aoctl("plan", "apply", "--dry-run", str(plan)).stdout
        assert "plan login (demo)" in text and "exists" in text


def test_a_stacked_session_starts_at_once_on_its_parents_branch(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, CONFIG)
        a = fleet.ok("spawn", "--task", "/fake write a.txt from A\n/fake commit add a.txt")["id"]
        wait_for(lambda: "add a.txt" in git(fleet.repo, "log", "--format=%s", f"ao/{a}"), 60, "A's commit")
        b_info = fleet.ok("spawn", "--task", "/fake write b.txt from B\n/fake commit add b.txt", "--after", a, "--stack")
        b = b_info["id"]
        assert b_info["stack_parent"] == a and b_info["state"] in ("working", "spawning"), b_info
        wait_for(lambda: "add b.txt" in git(fleet.repo, "log", "--format=%s", f"ao/{b}"), 60, "B's commit")
        assert "add a.txt" in git(fleet.repo, "log", "--format=%s", f"ao/{b}")  # on top of A, unmerged
        opened = fleet.wait_state(b, lambda s: s["pr_number"] is not None, "B's PR", 60)
        assert fleet.ok("pr", "show", b)["pr"]["base"] == f"ao/{a}", opened
        # Nothing moved below B yet: it is not asked to rebase. Then A's branch moves: B is asked once.
        _ticks(fleet, 5)
        assert not [m for m in fleet.received(b) if "Rebase your branch" in m]
        fleet.ok("send", a, "/fake write a.txt from A, again\n/fake commit change a.txt")
        wait_for(lambda: "change a.txt" in git(fleet.repo, "log", "--format=%s", f"ao/{a}"), 60, "A's second commit")
        wait_for(lambda: [m for m in fleet.received(b) if f"Rebase your branch onto ao/{a}" in m], 60, "B asked to rebase")
        _ticks(fleet, 10)
        assert sum(f"Rebase your branch onto ao/{a}" in m for m in fleet.received(b)) == 1
        assert not [m for m in fleet.received(a) if "Rebase your branch" in m]  # only the sessions above
        refused = fleet.fails("spawn", "--task", "x", "--after", a, "--after", b, "--stack")
        assert "exactly one --after" in refused.stderr


def test_a_local_issues_depends_on_queues_its_spawn(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, CONFIG)
        fleet.ok("issue", "add", "--title", "The API")
        added = fleet.ok("issue", "add", "--title", "The form", "--depends-on", "1")
        assert added["depends_on"] == ["1"]
        queued = fleet.ok("spawn", added["id"])
        assert (queued["state"], queued["reason"], queued["depends_on"]) == ("queued", "after 1", ["1"])
        fleet.ok("issue", "close", "1")
        later = fleet.ok("issue", "add", "--title", "The docs", "--depends-on", "1")
        started = fleet.ok("spawn", later["id"], "--task", "/fake write docs.txt x")
        assert started["state"] != "queued" and started["depends_on"] == []  # a closed dependency is done


def test_a_stack_lands_in_order_the_upper_pr_never_merging_first(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, "projects:\n  demo: {open_pr: auto, auto_merge: true}\n")
        a = fleet.ok("spawn", "--task", "/fake write a.txt from A\n/fake commit add a.txt")["id"]
        wait_for(lambda: "add a.txt" in git(fleet.repo, "log", "--format=%s", f"ao/{a}"), 60, "A's commit")
        b = fleet.ok("spawn", "--task", "/fake write b.txt from B\n/fake commit add b.txt", "--after", a, "--stack")["id"]
        fleet.wait_state(b, lambda s: s["pr_number"] is not None, "B's PR", 60)
        # B approved first: with auto_merge on, it still waits for A below it.
        fleet.ok("review", b, "--approve")
        held = fleet.wait_state(b, lambda s: "below it to merge first" in s["reason"], "B held below A", 60)
        assert held["state"] in ("approved", "mergeable"), held
        _ticks(fleet, 5)
        assert fleet.session(b)["state"] != "merged"
        # A approved: it merges first. B's PR is then retargeted to A's base and B asked, once, to rebase.
        fleet.wait_state(a, lambda s: s["pr_number"] is not None, "A's PR", 60)
        fleet.ok("review", a, "--approve")
        fleet.wait_state(a, lambda s: s["state"] == "merged", "A to merge", 60)
        base = fleet.ok("pr", "show", a)["pr"]["base"]
        wait_for(lambda: fleet.ok("pr", "show", b)["pr"]["base"] == base, 60, "B's PR retargeted")
        asked = f"your PR now targets {base}. Rebase your branch onto {base}"
        wait_for(lambda: [m for m in fleet.received(b) if asked in m], 60, "B asked to rebase onto the base")
        _ticks(fleet, 5)
        assert sum(asked in m for m in fleet.received(b)) == 1
