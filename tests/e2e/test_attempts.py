"""Best-of-N attempts and roles end to end: aod and aoctl as processes, real git worktrees, a real
tmux server, the local forge, and the scripted agent standing in for the model.

`aoctl spawn 1 --attempts 3` makes three sessions in one group; each agent is told to commit
something different (and to leave some work uncommitted); aod opens their PRs; an approved
attempt is not merged before the pick; `aoctl compare` shows the three diffs; `aoctl pick` keeps
one, which then merges, and ends the others with their work in refs/ao/wip and their PRs closed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, git, start_fleet
from tests.support.tmux import tmux_server

CONFIG = """\
projects:
  demo:
    open_pr: auto
    auto_merge: true
roles:
  auditor:
    prompt_file: roles/auditor.md
    tools: [Read, Grep]
    color: "#c00"
"""


def _wip_files(repo: Path, sid: str) -> list[str]:
    return git(repo, "show", "--name-only", "--format=", f"refs/ao/wip/{sid}").split()


def _pr_state(fleet: Fleet, number: str) -> str:
    return json.loads((fleet.aod.state_dir / "forge" / "demo" / "prs" / f"{number}.json").read_text())["state"]


def test_three_attempts_compared_and_one_picked(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, CONFIG)
        fleet.ok("issue", "add", "--title", "Add the feature", "--body", "Write it.")
        group = fleet.ok("spawn", "1", "--attempts", "3", "--key", "try-1")
        gid, members = group["id"], group["members"]
        assert gid.startswith("g-") and len(members) == 3 and group["issue"] == "1"
        assert [s["group"] for s in group["sessions"]] == [gid] * 3
        # Retrying the same request starts nothing more: the same group, the same three.
        again = fleet.ok("spawn", "1", "--attempts", "3", "--key", "try-1")
        assert (again["id"], again["members"]) == (gid, members)
        assert len(fleet.ok("status")) == 3
        table = fleet.aod.aoctl("status")
        assert table.returncode == 0 and "GROUP" in table.stdout and table.stdout.count(gid) == 3

        # Each attempt writes a different amount, commits it, and leaves one file uncommitted.
        for n, sid in enumerate(members, start=1):
            wait_for(lambda sid=sid: fleet.received(sid), 30, f"{sid}'s first prompt")
            lines = "".join(f"/fake write part{k}.txt attempt {n}\n" for k in range(n))
            fleet.ok("send", sid, f"{lines}/fake commit attempt {n}\n/fake write scratch-{n}.txt not committed")
        for sid in members:
            fleet.wait_state(sid, lambda s: s["pr_number"] is not None, f"{sid}'s PR", 60)
        prs = {sid: fleet.session(sid)["pr_number"] for sid in members}
        assert len(set(prs.values())) == 3

        # Approved, green and mergeable, and auto_merge on: still not merged before the pick.
        chosen = members[1]
        fleet.ok("review", chosen, "--approve")
        held = fleet.wait_state(chosen, lambda s: "pick an attempt first" in s["reason"], "the merge held for the pick", 60)
        assert held["state"] == "mergeable" and f"aoctl pick {gid} ID" in held["reason"]
        assert _pr_state(fleet, prs[chosen]) == "open"

        compared = fleet.ok("compare", gid)
        rows = {r["id"]: r for r in compared["rows"]}
        assert list(rows) == members
        assert [(rows[sid]["files"], rows[sid]["additions"], rows[sid]["deletions"]) for sid in members] == [(1, 1, 0), (2, 2, 0), (3, 3, 0)]
        assert all(rows[sid]["agent"] == "fake" and rows[sid]["pr_number"] == prs[sid] for sid in members)
        assert rows[chosen]["review"] == "approved" and rows[chosen]["ci"] == "none"
        shown = fleet.aod.aoctl("compare", gid)
        assert shown.returncode == 0 and "2 files" in shown.stdout and "+3" in shown.stdout and "not picked yet" in shown.stdout

        not_a_member = fleet.fails("pick", gid, "demo-99")
        assert f"demo-99 is not an attempt of group {gid}" in not_a_member.stderr

        picked = fleet.ok("pick", gid, chosen)
        assert picked["kept"]["id"] == chosen and picked["group"]["picked"] == chosen
        others = [sid for sid in members if sid != chosen]
        assert [d["id"] for d in picked["discarded"]] == others
        for item in picked["discarded"]:
            sid = item["id"]
            n = members.index(sid) + 1
            assert item["action"] == "removed" and item["wip_ref"] == f"refs/ao/wip/{sid}" and item["pr_closed"] == prs[sid]
            # Its uncommitted work is in the snapshot, its commits on its branch, its PR closed.
            assert f"scratch-{n}.txt" in _wip_files(fleet.repo, sid)
            assert git(fleet.repo, "show", f"refs/ao/wip/{sid}:scratch-{n}.txt") == "not committed\n"
            assert git(fleet.repo, "log", "-1", "--format=%s", f"ao/{sid}").strip() == f"attempt {n}"
            assert _pr_state(fleet, prs[sid]) == "closed"
            archived = json.loads((fleet.aod.state_dir / "archive" / sid / "session.json").read_text())
            assert archived["state"] == "archived" and f"not picked: group {gid} kept {chosen}" in archived["reason"]

        twice = fleet.fails("pick", gid, chosen)
        assert f"{chosen} is already the pick of group {gid}" in twice.stderr
        other = fleet.fails("pick", gid, others[0])
        assert "a group is picked once" in other.stderr

        # Picked, it behaves like any session: approved and green, so aod merges it.
        wait_for(lambda: _pr_state(fleet, prs[chosen]) == "merged", 60, "the picked attempt's merge")
        assert (fleet.repo / "part1.txt").read_text() == "attempt 2\n"
        # The group record outlives the attempts it discarded.
        after = fleet.ok("compare", gid)
        assert after["group"]["picked"] == chosen and sorted(after["group"]["discarded"]) == sorted(others)
        assert [r["archived"] for r in after["rows"]] == [True, False, True]


def test_one_attempt_per_agent_and_the_mistakes_a_user_can_make(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux)
        group = fleet.ok("spawn", "--task", "do it twice", "--agent", "fake", "--agent", "claude-code")
        assert [s["agent"] for s in group["sessions"]] == ["fake", "claude-code"]
        assert fleet.fails("spawn", "--task", "x", "--attempts", "11").returncode == 2  # click's range check
        unknown = fleet.fails("spawn", "--task", "x", "--agent", "fake", "--agent", "nosuch")
        assert "nosuch" in unknown.stderr
        assert len(fleet.ok("status")) == 2  # the refused ones started nothing
        assert "no group g-0" in fleet.fails("compare", "g-0").stderr


def test_a_role_layers_its_prompt_before_the_task(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, CONFIG)
        (fleet.repo / "roles").mkdir()
        (fleet.repo / "roles" / "auditor.md").write_text("Audit every input path.\n")

        tester = fleet.ok("spawn", "--task", "check the parser", "--role", "tester")
        assert (tester["role"], tester["role_color"], tester["role_note"]) == ("tester", "green", "")
        wait_for(lambda: fleet.received(tester["id"]), 30, "the tester's first prompt")
        first = fleet.received(tester["id"])[0]
        role_at, task_at = first.index("=== Your role: tester ==="), first.index("=== Your task ===")
        assert role_at == 0 and role_at < first.index("You are the tester.") < task_at < first.index("check the parser")

        # A role of the config, its text from a file in the repository; the scripted agent's CLI
        # takes no tool allow-list, which the spawn says.
        auditor = fleet.ok("spawn", "--task", "audit it", "--role", "auditor")
        assert auditor["role_color"] == "#c00"
        assert auditor["role_note"] == "role auditor's tool allow-list (Read, Grep) is not enforced: agent fake's CLI takes none"
        wait_for(lambda: fleet.received(auditor["id"]), 30, "the auditor's first prompt")
        assert fleet.received(auditor["id"])[0].startswith("=== Your role: auditor ===\n\nAudit every input path.")
        table = fleet.aod.aoctl("status")
        assert "ROLE" in table.stdout and "tester" in table.stdout and "auditor" in table.stdout

        unknown = fleet.fails("spawn", "--task", "x", "--role", "qa")
        assert "no role named 'qa': use one of auditor, docs, implementer, reviewer, tester" in unknown.stderr
        assert len(fleet.ok("status")) == 2
        result = subprocess.run(["git", "-C", str(fleet.repo), "worktree", "list"], capture_output=True, text=True)
        assert result.stdout.count("\n") == 3  # the main one and the two sessions'
