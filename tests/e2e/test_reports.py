"""Agents saying where they stand (`session.report`, `human.ask`) end to end: aod and aoctl as
processes, the scripted agent in real tmux, a webhook receiver on loopback for the
notifications, and the MCP tools as a worker's `aoctl mcp` calls them (AO_SESSION_ID set).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.test_reactions import notifiers
from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, start_fleet
from tests.support.http_sink import HttpSink
from tests.support.mcp_peer import McpPeer
from tests.support.tmux import tmux_server


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path, sink: HttpSink) -> Iterator[Fleet]:
    with tmux_server() as tmux:
        yield start_fleet(make_aod, tmp_path, tmux, notifiers(sink))


def _worker(fleet: Fleet) -> str:
    sid = fleet.ok("spawn", "--task", "build the thing")["id"]
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    fleet.wait_state(sid, lambda s: s["state"] == "working" and s["activity"] in ("idle", "ready"), "the agent at rest")
    return sid


def _notified(sink: HttpSink, kind: str) -> list[dict]:
    return [b for b in (json.loads(r.body) for r in sink.requests("/hook")) if b["kind"] == kind]


def test_a_worker_reports_blocked_over_mcp_and_a_message_to_it_clears_the_report(fleet: Fleet, sink: HttpSink) -> None:
    sid = _worker(fleet)
    env = {**fleet.aod.env(), "AO_SESSION_ID": sid}
    with McpPeer(env, cwd=Path(fleet.session(sid)["workspace"])) as peer:
        peer.initialize()
        names = {t["name"] for t in peer.request("tools/list")["result"]["tools"]}
        assert {"session_report", "human_ask"} <= names
        reported = peer.call_tool("session_report", {"status": "blocked", "message": "the API key for staging is missing"})
        assert reported["isError"] is False, reported
        assert reported["structuredContent"] == {"id": sid, "status": "blocked", "activity": "blocked"}

    blocked = fleet.wait_state(sid, lambda s: s["state"] == "needs_input", "needs_input from the report")
    assert blocked["reason"] == "agent is blocked: the API key for staging is missing"
    assert blocked["report"]["status"] == "blocked" and blocked["lane"] == "needs_you"
    wait_for(lambda: _notified(sink, "agent-needs-input"), 20, "the notification")
    [told] = _notified(sink, "agent-needs-input")
    assert told["title"] == f"{sid} asks: the API key for staging is missing"
    history = [e for e in fleet.ok("history", sid)["entries"] if e["kind"] == "session.reported"]
    assert [(e["status"], e["message"]) for e in history] == [("blocked", "the API key for staging is missing")]

    # The human answers: once the message reaches the agent, the report no longer stands.
    fleet.ok("send", sid, "it is in the vault under staging/api")
    fleet.wait_received(sid, "it is in the vault under staging/api")
    back = fleet.wait_state(sid, lambda s: s["state"] == "working" and s.get("report") is None, "working again")
    assert back["activity"] != "blocked"


def test_each_question_is_told_once_and_the_answer_reaches_the_agent(fleet: Fleet, sink: HttpSink) -> None:
    sid = _worker(fleet)
    env = {**fleet.aod.env(), "AO_SESSION_ID": sid}
    asked = fleet.aod.aoctl("--json", "ask", "Postgres 15 or 16?")
    assert asked.returncode == 2 and "AO_SESSION_ID" in asked.stderr  # aoctl outside a session: says how
    with McpPeer(env, cwd=fleet.repo) as peer:
        peer.initialize()
        answer = peer.call_tool("human_ask", {"question": "Postgres 15 or 16?"})
        assert answer["structuredContent"]["activity"] == "waiting_input"
    waiting = fleet.wait_state(sid, lambda s: s["state"] == "needs_input", "needs_input from the question")
    assert waiting["reason"] == "agent asks: Postgres 15 or 16?"
    wait_for(lambda: _notified(sink, "agent-needs-input"), 20, "the notification")
    seen = fleet.aod.result("daemon.status")["last_tick"]["count"]
    wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= seen + 5, 20, "five more ticks")
    assert len(_notified(sink, "agent-needs-input")) == 1  # told once, not every tick

    fleet.ok("send", sid, "16")
    fleet.wait_received(sid, "16")
    fleet.wait_state(sid, lambda s: s["state"] == "working", "working again")
    # A second question is a new episode: told again.
    again = fleet.aod.aoctl("--json", "ask", "--session", sid, "And the schema name?")
    assert again.returncode == 0, again.stderr
    wait_for(lambda: len(_notified(sink, "agent-needs-input")) == 2, 20, "the second notification")
    assert _notified(sink, "agent-needs-input")[1]["title"] == f"{sid} asks: And the schema name?"


def test_reports_are_checked_and_an_ended_session_cannot_report(fleet: Fleet) -> None:
    sid = _worker(fleet)
    wrong = fleet.aod.aoctl("report", "finished", "--session", sid)
    assert wrong.returncode == 2 and "finished" in wrong.stderr
    raw = fleet.aod.call("session.report", {"id": sid, "status": "done", "message": "x" * 5000})
    assert raw["error"]["code"] == -32602
    done = fleet.aod.aoctl("--json", "report", "done", "README written", "--session", sid)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"id": sid, "status": "done", "activity": "idle"}
    fleet.wait_state(sid, lambda s: (s.get("report") or {}).get("message") == "README written", "the report shown")
    fleet.ok("kill", sid)
    late = fleet.aod.aoctl("report", "blocked", "why", "--session", sid)
    assert late.returncode == 1 and "killed" in late.stderr
