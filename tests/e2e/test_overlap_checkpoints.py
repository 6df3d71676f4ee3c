"""Overlap warnings and per-turn checkpoints end to end (issue 19): aod and aoctl as processes,
the scripted agent in a real tmux server, a real webhook receiver on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import start_fleet
from tests.support.http_sink import HttpSink
from tests.support.tmux import tmux_server

# The agent stays busy a little after its work, so that the 200 ms tick sees its turn.
SLOW = "/fake slow-ready 1"


def overlap_config(sink: HttpSink) -> str:
    return (
        "notifiers:\n"
        f"  hook: {{kind: webhook, url: '{sink.url('/hook')}', priorities: [urgent, action, warning]}}\n"
        "projects:\n"
        "  demo: {overlap: {tell_agent: true}}\n"
    )


def overlap_hooks(sink: HttpSink) -> list[dict]:
    return [b for b in (json.loads(r.body) for r in sink.requests("/hook")) if b["kind"] == "overlap"]


def test_two_sessions_editing_one_file_raise_one_overlap_notification(
    make_aod: Callable[..., AodProcess], tmp_path: Path, sink: HttpSink
) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, overlap_config(sink))
        first = fleet.ok("spawn", "--task", f"/fake write shared.txt from-a\n/fake write only-a.txt a\n{SLOW}")["id"]
        fleet.wait_state(first, lambda s: s["activity"] in ("idle", "ready") and s["state"] == "working", "the first to work", 30)
        second = fleet.ok("spawn", "--task", f"/fake write shared.txt from-b\n{SLOW}")["id"]

        wait_for(lambda: overlap_hooks(sink), 30, "the overlap notification")
        (hook,) = overlap_hooks(sink)
        assert hook["session"] == second  # the later session's notice
        assert first in hook["title"] and second in hook["title"] and "shared.txt" in hook["body"]
        assert "only-a.txt" not in hook["body"]

        # status: a marker and the pair under the table; one session in detail and as JSON
        table = fleet.aod.aoctl("status")
        assert table.returncode == 0, table.stderr
        assert f"{first}!" in table.stdout and f"{second}!" in table.stdout
        assert f"! {first} and {second} both change shared.txt" in table.stdout
        detail = fleet.aod.aoctl("status", second)
        assert detail.returncode == 0 and f"overlap   {first}" in detail.stdout and "shared.txt" in detail.stdout
        info = fleet.ok("status", second)
        assert [(o["session"], o["files"]) for o in info["overlaps"]] == [(first, ["shared.txt"])]
        assert [o["session"] for o in fleet.session(first)["overlaps"]] == [second]

        # tell_agent: the later agent hears which files, once; the earlier one hears nothing
        told = f"another session ({first}) is changing shared.txt"
        wait_for(lambda: any(told in m for m in fleet.received(second)), 30, "the later agent to be told")
        assert not any("another session" in m for m in fleet.received(first))

        # More ticks, and a restart of aod (the cache is rebuilt from git): nobody is told again.
        seen = fleet.aod.result("daemon.status")["last_tick"]["count"]
        wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= seen + 10, 20, "ten more ticks")
        fleet.aod.stop()
        fleet.aod.start()
        wait_for(lambda: (fleet.aod.result("daemon.status")["last_tick"] or {}).get("count", 0) >= 10, 20, "ten ticks after the restart")
        assert len(overlap_hooks(sink)) == 1
        assert sum("another session" in m for m in fleet.received(second)) == 1
        assert [o["session"] for o in fleet.session(second)["overlaps"]] == [first]
        kinds = [e["kind"] for e in fleet.journal(second)]
        assert kinds.count("overlap.started") == 1


def test_turns_make_checkpoints_and_rollback_restores_and_loses_nothing(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux)
        # The built-in claude-code plugin on the scripted agent: its screens say when a turn works.
        sid = fleet.ok("spawn", "--agent", "claude-code", "--task", f"/fake write a.txt one\n{SLOW}")["id"]
        workspace = Path(fleet.session(sid)["workspace"])

        def checkpoints() -> list[dict]:
            return fleet.ok("checkpoints", sid)["checkpoints"]

        wait_for(lambda: checkpoints(), 30, "the first turn's checkpoint")
        assert (workspace / "a.txt").read_text() == "one\n"
        fleet.wait_state(sid, lambda s: s["activity"] in ("idle", "ready"), "the first turn to end")
        fleet.ok("send", sid, f"/fake write b.txt two\n/fake commit add b\n/fake write a.txt changed\n{SLOW}")
        wait_for(lambda: len(checkpoints()) >= 2, 30, "the second turn's checkpoint")
        fleet.wait_state(sid, lambda s: s["activity"] in ("idle", "ready"), "the second turn to end")
        listed = checkpoints()
        first_n = listed[0]["n"]
        assert listed[-1]["files_changed"] >= 2 and listed[-1]["head"] != listed[0]["head"]  # b.txt committed
        text = fleet.aod.aoctl("checkpoints", sid)
        assert text.returncode == 0 and "turn" in text.stdout and "file(s)" in text.stdout
        before = {p: (workspace / p).read_text() for p in ("a.txt", "b.txt")}
        head_before = fleet.session(sid)["branch"]

        missing = fleet.fails("rollback", sid, "99")
        assert "no checkpoint 99" in missing.stderr and "aoctl checkpoints" in missing.stderr

        done = fleet.ok("rollback", sid, str(first_n))
        # the state before: a new checkpoint, or the last one when nothing changed since
        assert done["n"] == first_n and done["saved"] >= listed[-1]["n"]
        assert (workspace / "a.txt").read_text() == "one\n"
        assert not (workspace / "b.txt").exists()
        assert done["head"] == listed[0]["head"]
        wait_for(lambda: any(f"rolled back to checkpoint {first_n}" in m for m in fleet.received(sid)), 30, "the agent to be told")

        # The note is a short turn (0.2 s) that a 200 ms tick may or may not see, and aod proves the
        # delivery after it: the record's "idle" may be from before the note. Wait for the delivery to be
        # done and the agent's screen to show the turn over, then for the record to say so.
        fleet.wait_state(sid, lambda s: s["pending_messages"] == 0, "the note's delivery to be done", timeout=30)
        wait_for(lambda: "esc to interrupt" not in fleet.ok("logs", sid)["text"], 30, "the agent to read the note")
        fleet.wait_state(sid, lambda s: s["activity"] in ("idle", "ready"), "the record to see the note's turn end")
        undo = fleet.ok("rollback", sid, str(done["saved"]))
        assert {p: (workspace / p).read_text() for p in ("a.txt", "b.txt")} == before
        assert undo["head"] == listed[-1]["head"]
        assert fleet.session(sid)["branch"] == head_before
