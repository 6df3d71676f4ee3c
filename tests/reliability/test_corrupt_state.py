"""R5: corrupt and truncated state files are quarantined (moved under quarantine/, never
deleted), aod stays up, and `aoctl status` keeps working for everything else.

Corrupted while aod is down (it finds them on start-up) and while it runs (the next tick or
call finds them): session records truncated, garbage, of the wrong shape or under the wrong
directory; a session's reaction ledger; the local forge's issue records; a project record.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.conftest import quarantined, undecodable_json
from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet
from tests.support.seed import seed_sessions


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def in_quarantine(state: Path, *parts: str) -> bool:
    """Whether the file at state/<parts> was moved to quarantine/ (its name keeps the path)."""
    return any(name.endswith(".".join(parts)) for name in quarantined(state))


def status_ok(fleet: Fleet) -> list[str]:
    result = fleet.aod.aoctl("--json", "status")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    text = fleet.aod.aoctl("status")  # the table, too
    assert text.returncode == 0, text.stderr
    return [s["id"] for s in json.loads(result.stdout)]


def test_corrupt_files_found_at_start_up_are_quarantined(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    sids = [fleet.ok("spawn", "--task", f"task {n}")["id"] for n in range(4)]
    for sid in sids:
        wait_for(lambda sid=sid: fleet.received(sid), 30, f"{sid}'s first prompt")
    for n in range(3):
        fleet.ok("issue", "add", "--title", f"issue {n + 1}")
    fleet.aod.signal(signal.SIGTERM)
    assert fleet.aod.wait_exit() == 0

    state = fleet.aod.state_dir
    sessions = state / "sessions"
    truncate(sessions / "demo-1" / "session.json")
    (sessions / "demo-2" / "session.json").write_bytes(b"\x00\xffnot json at all\n")
    (sessions / "demo-3" / "session.json").write_text(json.dumps({"schema": 1, "rev": 3, "id": "demo-3", "project": 42}))
    (sessions / "demo-4" / "reactions.json").write_text("{\"schema\": 1, \"rev\": 2, \"entries\": {")
    issues = state / "forge" / "demo" / "issues"
    truncate(issues / "1.json")
    (issues / "2.json").write_text("[]")
    healthy_issue = (issues / "3.json").read_bytes()
    assert len(undecodable_json(state)) >= 3  # the damage is real

    fleet.aod.start()
    assert status_ok(fleet) == ["demo-4"]  # the listing quarantined the three bad records
    for sid in ("demo-1", "demo-2", "demo-3"):
        assert in_quarantine(state, "sessions", sid, "session.json"), quarantined(state)
        assert not (sessions / sid / "session.json").exists()
    # The ledger is read when the tick steps demo-4: quarantined then, and the session goes on.
    wait_for(lambda: in_quarantine(state, "sessions", "demo-4", "reactions.json"), 20, "the ledger quarantined")
    listed = fleet.ok("issue", "list")
    assert [i["id"] for i in listed["issues"]] == ["3"]
    assert in_quarantine(state, "forge", "demo", "issues", "1.json") and in_quarantine(state, "forge", "demo", "issues", "2.json")
    assert (issues / "3.json").read_bytes() == healthy_issue
    fleet.ok("send", "demo-4", "still working?")
    fleet.wait_received("demo-4", "still working?")
    assert undecodable_json(state) == []
    recent = fleet.aod.result("events.recent", {"limit": 200})["events"]
    assert any(e["kind"] == "store.quarantined" for e in recent), [e["kind"] for e in recent]
    assert fleet.aod.proc is not None and fleet.aod.proc.poll() is None


def test_corruption_while_running_is_quarantined_by_the_next_look(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    keep = fleet.ok("spawn", "--task", "keep")["id"]
    lose = fleet.ok("spawn", "--task", "lose")["id"]
    fleet.ok("issue", "add", "--title", "an issue")
    wait_for(lambda: fleet.received(keep) and fleet.received(lose), 30, "both prompts")
    state = fleet.aod.state_dir
    # Replaced whole (as a bad editor save or a disk error would leave it), under aod's feet.
    record = state / "sessions" / lose / "session.json"
    bad = '{"schema": 1, "rev": 1, "id": "someone-else"'
    record.write_text(bad)
    (state / "forge" / "demo" / "issues" / "1.json").write_text("\ufeff{garbage")

    def quarantined_again() -> bool:
        if in_quarantine(state, "sessions", lose, "session.json"):
            return True
        if record.exists() and record.read_text() != bad:
            # aod's own write of the record (the agent's activity, a delivery) raced ours and
            # replaced it whole: nothing is lost that way, so damage it again.
            record.write_text(bad)
        return False

    wait_for(quarantined_again, 20, "the tick to quarantine the record")
    assert status_ok(fleet) == [keep]
    assert fleet.ok("issue", "list")["issues"] == []
    assert in_quarantine(state, "forge", "demo", "issues", "1.json")
    fleet.ok("send", keep, "after the damage")
    fleet.wait_received(keep, "after the damage")
    # A project record is quarantined too; the project is gone, and aod says so clearly.
    (state / "projects" / "demo.json").write_text("null")
    listed = fleet.ok("project", "list")
    assert listed["projects"] == []
    assert in_quarantine(state, "projects", "demo.json")
    refused = fleet.aod.aoctl("spawn", "--task", "x", "-p", "demo")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr and "demo" in refused.stderr
    assert fleet.aod.proc is not None and fleet.aod.proc.poll() is None


def test_a_record_from_a_newer_aod_is_left_alone_and_the_rest_works(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    aod.write_config("poll_interval: 100ms\n")
    seed_sessions(aod.state_dir, 3, project="demo")
    path = aod.state_dir / "sessions" / "demo-2" / "session.json"
    record = json.loads(path.read_text())
    record["schema"] = 99
    newer = json.dumps(record).encode()
    path.write_bytes(newer)
    aod.start()
    wait_for(lambda: (t := aod.result("daemon.status")["last_tick"]) and t["count"] >= 3, 20, "three ticks")
    assert path.read_bytes() == newer and quarantined(aod.state_dir) == []  # untouched
    result = aod.aoctl("--json", "status")
    assert result.returncode == 0, result.stderr
    assert [s["id"] for s in json.loads(result.stdout)] == ["demo-1", "demo-3"]
    assert '"tick failed"' not in aod.log()
