"""Cost, budgets and usage limits end to end: aod and aoctl as processes, the scripted agent in
real tmux writing token usage into a Claude Code transcript (where Claude Code keeps them) and
printing a plan usage-limit message."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, make_repo
from tests.support.mcp_peer import McpPeer
from tests.support.tmux import FAKE_AGENT, tmux_server


def start(make_aod: Callable[..., AodProcess], tmp_path: Path, tmux: str, extra: str) -> Fleet:
    aod = make_aod()
    records = aod.root / "records"
    records.mkdir()
    metered = [sys.executable, str(FAKE_AGENT), "--style", "plain", "--record", str(records / "{session}.jsonl")]
    agent = f"  metered: {{command: {json.dumps(metered)}, prompt: paste, usage: claude, ready_timeout: 5s}}\n"
    text = config_text(tmux, records, extra).replace("agents:\n", "agents:\n" + agent, 1)
    aod.write_config(text.replace("defaults: {agent: fake}", "defaults: {agent: metered, usage_limit_margin: 1s}"))
    aod.start()
    fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
    fleet.ok("project", "add", str(fleet.repo))
    return fleet


def test_usage_is_priced_per_model_and_a_budget_pauses_until_resumed(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start(make_aod, tmp_path, tmux, "budgets: {session: 0.05}\n")
        # 1000 in + 1000 out of Sonnet ($3/$15 per M) = $0.018; of Opus ($15/$75) = $0.09.
        sid = fleet.ok("spawn", "--task", "/fake usage claude-sonnet-4-5 1000 1000")["id"]
        wait_for(lambda: fleet.session(sid).get("cost_usd") == 0.018, 30, "the sonnet usage to be counted")
        assert fleet.session(sid)["state"] != "paused"

        fleet.ok("send", sid, "/fake usage claude-opus-4-1 1000 1000")
        paused = fleet.wait_state(sid, lambda s: s["state"] == "paused", "the budget pause", 30)
        assert paused["reason"].startswith("budget: this session's budget of $0.05 is reached ($0.11 spent)")
        assert paused["cost_usd"] == 0.108

        listed = fleet.aod.aoctl("status", "--cost")
        assert listed.returncode == 0 and "$0.11" in listed.stdout
        month = fleet.ok("cost")
        assert month["total_usd"] == 0.108
        assert [(m["name"], m["cost_usd"]) for m in month["models"]] == [("claude-opus-4-1", 0.09), ("claude-sonnet-4-5", 0.018)]
        assert [(s["name"], s["agent"]) for s in month["sessions"]] == [(sid, "metered")]
        # The configured budget, against what the costliest session spent this month.
        assert month["budgets"] == [
            {"name": "each project, per session", "project": "", "period": "session", "limit_usd": 0.05, "spent_usd": 0.108, "exceeded": True},
        ]
        text = fleet.aod.aoctl("cost")
        assert "claude-opus-4-1" in text.stdout and "$0.11" in text.stdout
        assert "each project, per session  $0.05  $0.11  EXCEEDED" in text.stdout
        history = fleet.ok("history", sid)["entries"]
        assert any(e.get("kind") == "reaction.done" and e.get("key") == "budget-exceeded" for e in history)

        # `aoctl resume` lifts the budget for this session: it goes on, and stays going.
        resumed = fleet.ok("resume", sid)
        assert resumed["state"] != "paused", resumed
        seen = fleet.aod.result("daemon.status")["last_tick"]["count"]
        wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= seen + 10, 20, "ten ticks")
        assert fleet.session(sid)["state"] != "paused"

        # The ledger outlives the session.
        fleet.ok("kill", sid)
        fleet.ok("cleanup", "--force")
        assert fleet.ok("cost")["total_usd"] == 0.108
        bad = fleet.aod.aoctl("cost", "--month", "2026-13")
        assert bad.returncode != 0 and "YYYY-MM" in bad.stderr and "Traceback" not in bad.stderr


def test_a_usage_limit_pauses_and_resumes_with_a_continue_message(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start(make_aod, tmp_path, tmux, "")
        sid = fleet.ok("spawn", "--task", "/fake limit You've hit your usage limit. Try again in 3 seconds.")["id"]
        paused = fleet.wait_state(sid, lambda s: s["state"] == "paused", "the usage-limit pause", 30)
        assert paused["reason"] == "usage_limit"
        # Not stuck, not errored: paused until the reset (+ the margin), then told to go on.
        wait_for(lambda: any("usage limit has been lifted" in m for m in fleet.received(sid)), 30, "the continue message")
        assert fleet.session(sid)["state"] == "working"
        seen = fleet.aod.result("daemon.status")["last_tick"]["count"]
        wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= seen + 10, 20, "ten ticks")
        # The old message is still on screen: it is not a new limit.
        assert fleet.session(sid)["state"] == "working"
        assert sum("usage limit has been lifted" in m for m in fleet.received(sid)) == 1


def test_a_spent_monthly_budget_stops_the_orchestrator_starting_workers(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = start(make_aod, tmp_path, tmux, "budgets: {project_month: 0.01}\n")
        worker = fleet.ok("spawn", "--task", "/fake usage claude-sonnet-4-5 1000 1000")["id"]
        wait_for(lambda: fleet.session(worker).get("cost_usd") == 0.018, 30, "the usage to be counted")
        orchestrator = fleet.ok("orchestrator", "start", "--agent", "fake")["id"]
        peer = McpPeer({**fleet.aod.env(), "AO_SESSION_ID": orchestrator}, cwd=fleet.repo)
        with peer:
            peer.initialize()
            refused = peer.call_tool("session_spawn", {"task": "more work"})
        assert refused["isError"] is True
        assert refused["content"][0]["text"] == (
            "aod refused: policy: the budget each project, per month is spent ($0.02 of $0.01); "
            "no new workers until it resets or the human raises it"
        )
        assert [s["id"] for s in fleet.ok("status")] == [worker]  # nothing started
