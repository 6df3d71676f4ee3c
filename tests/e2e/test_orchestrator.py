"""The orchestrator agent end to end: aod and aoctl as processes, real git worktrees and tmux,
the scripted agent as the orchestrator's CLI (it records the prompt and the messages it gets),
and the orchestrator's MCP tool calls made over a real `aoctl mcp` with its session id — what
its model would call. The policy is aod's: every refusal below comes from aod, not a prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.test_reactions import notifiers
from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, start_fleet
from tests.support.http_sink import HttpSink
from tests.support.mcp_peer import McpPeer
from tests.support.tmux import tmux_server

POLICY = "orchestrator: {max_workers: 1, labels: [ao], may_merge: false}\n"


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path, sink: HttpSink) -> Iterator[Fleet]:
    with tmux_server() as tmux:
        yield start_fleet(make_aod, tmp_path, tmux, notifiers(sink) + POLICY)


def _as(fleet: Fleet, session_id: str) -> McpPeer:
    peer = McpPeer({**fleet.aod.env(), "AO_SESSION_ID": session_id}, cwd=Path(fleet.session(session_id)["workspace"]))
    peer.initialize()
    return peer


def _text(result: dict) -> str:
    return result["content"][0]["text"]


def test_the_orchestrator_plans_spawns_within_its_policy_and_asks_the_human(fleet: Fleet) -> None:
    fleet.ok("issue", "add", "--title", "Fix the login", "-l", "ao")
    fleet.ok("issue", "add", "--title", "Add a health check", "-l", "ao")
    fleet.ok("issue", "add", "--title", "Rewrite everything in Rust")  # not labelled: not its to take
    orchestrator = fleet.ok("orchestrator", "start")
    oid = orchestrator["id"]
    assert orchestrator["kind"] == "orchestrator" and orchestrator["task"] == "orchestrate project demo"
    assert fleet.ok("orchestrator", "start")["id"] == oid  # never two: the live one again

    wait_for(lambda: fleet.received(oid), 30, "the orchestrator's prompt")
    prompt = fleet.received(oid)[0]
    assert "You are the orchestrator of project demo" in prompt
    assert "- 1: Fix the login [ao]" in prompt and "- 3: Rewrite everything in Rust" in prompt
    assert "at most 1 workers at once; only issues labelled ao; free-form tasks allowed; you may not merge" in prompt
    # `fake` is a custom command, which gets no MCP server: the prompt says how to act with aoctl.
    assert "`aoctl --json spawn ISSUE --reuse-live --key issue-ISSUE`" in prompt and "aoctl ask" in prompt

    with _as(fleet, oid) as peer:
        not_labelled = peer.call_tool("session_spawn", {"issue": "3", "reuse_live": True, "idempotency_key": "issue-3"})
        assert not_labelled["isError"] is True
        assert "issue 3 has none of the labels the orchestrator may take (ao)" in _text(not_labelled)
        first = peer.call_tool("session_spawn", {"issue": "1", "reuse_live": True, "idempotency_key": "issue-1"})
        wid = first["structuredContent"]["id"]
        again = peer.call_tool("session_spawn", {"issue": "1", "reuse_live": True, "idempotency_key": "issue-1-retry"})
        assert again["structuredContent"]["id"] == wid  # asked twice: one worker
        full = peer.call_tool("session_spawn", {"issue": "2", "reuse_live": True, "idempotency_key": "issue-2"})
        assert full["isError"] is True and "at most 1 workers at once and 1 are live" in _text(full)
        merge = peer.call_tool("pr_merge", {"id": wid})
        assert merge["isError"] is True and "the orchestrator may not merge" in _text(merge)
        listed = peer.call_tool("sessions_list", {})["structuredContent"]["sessions"]
        assert [s["id"] for s in listed] == [wid]  # the workers; the orchestrator lists apart

    # A person is not held to the orchestrator's policy.
    assert fleet.ok("spawn", "3")["issue"] == "3"

    # The worker says it is blocked; the orchestrator asks the human; the answer reaches it.
    with _as(fleet, wid) as worker:
        assert worker.call_tool("session_report", {"status": "blocked", "message": "which login provider?"})["isError"] is False
    with _as(fleet, oid) as peer:
        assert peer.call_tool("human_ask", {"question": f"{wid} asks: which login provider?"})["isError"] is False
    asked = fleet.wait_state(oid, lambda s: s["state"] == "needs_input", "the orchestrator waiting for the human")
    assert asked["reason"] == f"agent asks: {wid} asks: which login provider?"
    fleet.ok("send", oid, "Use GitHub OAuth.")
    fleet.wait_received(oid, "Use GitHub OAuth.")
    fleet.wait_state(oid, lambda s: s["state"] == "working", "the orchestrator working again")

    # Listed apart: status shows it above the table, --json leaves it out, --all puts it in.
    assert oid not in [s["id"] for s in fleet.ok("status")]
    assert oid in [s["id"] for s in fleet.ok("status", "--all")]
    table = fleet.aod.aoctl("status")
    assert table.stdout.startswith(f"orchestrator {oid} (demo): working")

    # Killed, it is never cleaned up; its worktree stays.
    fleet.ok("kill", oid)
    cleaned = {i["id"]: i for i in fleet.ok("cleanup")["items"]}
    assert cleaned[oid]["action"] == "kept" and "never cleaned up" in cleaned[oid]["reason"]
    assert Path(fleet.session(oid)["workspace"]).is_dir()
    # A new one may start now (the killed one is not live), and only one.
    assert fleet.ok("orchestrator", "start")["id"] != oid
