"""Reactions end to end: aod and aoctl as processes, the scripted agent in a real tmux server, a
real webhook receiver on loopback. The agent exits; the human hears of it exactly once, and
history, events and `notify test` show what happened."""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import sys

from collections.abc import Callable
from pathlib import Path

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import start_fleet
from tests.support.http_sink import HttpSink
from tests.support.tmux import tmux_server

SECRET = "s3cret-for-the-test"


def notifiers(sink: HttpSink) -> str:
    return (
        "notifiers:\n"
        f"  hook: {{kind: webhook, url: '{sink.url('/hook')}', secret: {SECRET}, priorities: [urgent, action]}}\n"
    )


def test_an_exited_agent_is_told_once_and_history_shows_it(
    make_aod: Callable[..., AodProcess], tmp_path: Path, sink: HttpSink
) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, notifiers(sink))
        sid = fleet.ok("spawn", "--task", "/fake exit 3")["id"]
        fleet.wait_state(sid, lambda s: s["state"] == "errored", "the session to error")
        wait_for(lambda: sink.requests("/hook"), 20, "the webhook")

        (request,) = sink.requests("/hook")
        body = json.loads(request.body)
        assert body["kind"] == "agent-exited" and body["session"] == sid and body["priority"] == "urgent"
        assert "status 3" in body["title"]
        assert request.headers["X-AO-Delivery"] == body["id"]
        assert body["id"].startswith(f"{sid}:agent-exited:exit:3:") and body["id"].endswith(":notify")
        expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        assert request.headers["X-AO-Signature"] == f"sha256={expected}"

        history = fleet.ok("history", sid)["entries"]
        kinds = [e["kind"] for e in history]
        assert "state.changed" in kinds and "reaction.intent" in kinds and "reaction.done" in kinds
        change = next(e for e in history if e["kind"] == "state.changed")
        assert (change["from"], change["to"], change["reason"]) == ("working", "errored", "agent exited with status 3")
        done = next(e for e in history if e["kind"] == "reaction.done")
        assert (done["key"], done["action"], done["state"]) == ("agent-exited", "notify", "done")
        assert "hook: ok" in done["outcome"]

        text = fleet.aod.aoctl("history", sid)
        assert text.returncode == 0 and "agent-exited" in text.stdout and "errored" in text.stdout

        events = fleet.aod.aoctl("--json", "events", "-k", "reaction", "-n", "20")
        assert events.returncode == 0, events.stderr
        reaction_events = [json.loads(line) for line in events.stdout.splitlines()]
        assert {e["kind"] for e in reaction_events} == {"reaction.intent", "reaction.done"}
        assert all(e["session"] == sid for e in reaction_events)

        # Later ticks do not tell again.
        seen = fleet.aod.result("daemon.status")["last_tick"]["count"]
        wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= seen + 10, 20, "ten more ticks")
        assert len(sink.requests("/hook")) == 1

        status = fleet.aod.result("daemon.status")["last_tick"]
        assert {"sessions", "subprocesses", "captures", "forge_requests"} <= set(status)


def test_notify_test_reaches_the_routed_notifiers(
    make_aod: Callable[..., AodProcess], tmp_path: Path, sink: HttpSink
) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, notifiers(sink))
        info = fleet.aod.aoctl("--json", "notify", "test")
        assert info.returncode == 0, info.stderr
        assert json.loads(info.stdout)["results"] == {"log": "ok"}  # the hook takes urgent/action only
        assert sink.requests("/hook") == []

        urgent = fleet.aod.aoctl("notify", "test", "--priority", "urgent", "--message", "ping `$(x)`")
        assert urgent.returncode == 0, urgent.stderr
        assert "hook: ok" in urgent.stdout
        (request,) = sink.requests("/hook")
        assert json.loads(request.body)["body"] == "ping `$(x)`"

        sink.script("/hook", 404)
        failing = fleet.aod.aoctl("notify", "test", "--priority", "urgent")
        assert failing.returncode == 1 and "Traceback" not in failing.stderr
        assert "hook:" in failing.stdout and "404" in failing.stdout


def test_a_notification_interrupted_by_sigkill_is_resent_with_the_same_id(
    make_aod: Callable[..., AodProcess], tmp_path: Path, sink: HttpSink
) -> None:
    # Sent, then aod dies before closing the intent: the next aod sends it again (at least
    # once), with the same X-AO-Delivery id, so the receiver can tell it is a repeat.
    with tmux_server() as tmux:
        marker_dir = tmp_path / "failpoints"
        fleet = start_fleet(
            make_aod, tmp_path, tmux, notifiers(sink),
            extra_env={"AOD_FAILPOINTS": "before-intent-closed", "AOD_FAILPOINTS_DIR": str(marker_dir)},
        )
        sid = fleet.ok("spawn", "--task", "/fake exit 4")["id"]
        proc = fleet.aod.proc
        assert proc is not None
        wait_for(lambda: proc.poll() is not None, 40, "aod to die at the failpoint")
        assert proc.returncode == -signal.SIGKILL
        fleet.aod.start()
        wait_for(lambda: len(sink.requests("/hook")) >= 2, 30, "the notification to be sent again")
        ids = {r.headers["X-AO-Delivery"] for r in sink.requests("/hook")}
        assert len(ids) == 1
        fleet.wait_state(sid, lambda s: s["state"] == "errored", "the session to be errored")
        seen = fleet.aod.result("daemon.status")["last_tick"]["count"]
        wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= seen + 10, 20, "ten more ticks")
        assert len(sink.requests("/hook")) == 2
        ledger = json.loads((fleet.aod.state_dir / "sessions" / sid / "reactions.json").read_text())
        assert [i["state"] for i in ledger["intents"]] == ["done"]




def test_pause_stops_reactions_and_resume_brings_them_back(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    stuck_nudges = "reactions:\n  agent-stuck: {action: send-to-agent, threshold: 1s, message: NUDGE}\n"
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, stuck_nudges)
        follow = subprocess.Popen(
            [sys.executable, "-m", "aoctl", "--json", "events", "--follow", "-n", "0", "-k", "session.state"],
            env=fleet.aod.env(), stdout=subprocess.PIPE, text=True,
        )
        try:
            # claude-code: its plugin reads the busy screen (the custom one sees only a prompt)
            sid = fleet.ok("spawn", "--agent", "claude-code", "--task", "hello")["id"]
            fleet.wait_state(sid, lambda s: s["activity"] in ("idle", "ready"), "the agent to finish its turn")
            paused = fleet.ok("pause", sid)
            assert (paused["state"], paused["reason"]) == ("paused", "paused by the user")
            again = fleet.aod.aoctl("pause", sid)
            assert again.returncode == 1 and "already paused" in again.stderr and "Traceback" not in again.stderr

            # While paused, a stuck agent is not nudged: make it hang, then watch ticks pass.
            fleet.ok("send", sid, "/fake hang")
            wait_for(lambda: "/fake hang" in fleet.received(sid), 30, "the hang command")
            seen = fleet.aod.result("daemon.status")["last_tick"]["count"]
            wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= seen + 15, 30, "ticks")
            assert fleet.session(sid)["state"] == "paused"
            assert not [m for m in fleet.received(sid) if "NUDGE" in m]

            resumed = fleet.ok("resume", sid)
            assert resumed["state"] != "paused"
            wait_for(lambda: [m for m in fleet.received(sid) if "NUDGE" in m], 30, "the nudge after resume")

            # `aoctl events --follow` streamed the transitions as they happened.
            assert follow.stdout is not None
            seen_states: list[str] = []
            while "paused" not in seen_states or seen_states[-1] == "paused":
                line = follow.stdout.readline()
                assert line, "aoctl events --follow ended early"
                event = json.loads(line)
                assert event["kind"] == "session.state" and event["session"] == sid
                seen_states.append(event["data"]["to"])
        finally:
            follow.terminate()
            follow.wait(10)
            if follow.stdout is not None:
                follow.stdout.close()
