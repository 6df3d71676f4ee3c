"""Talking to agents without lying (issue 12), end to end: aod and aoctl as processes, a real
tmux server, the scripted agents standing in for the CLIs.

- a program with no prompt glyph gets its first prompt, and idles without ever being "stuck";
- a custom agent's `(y/n)` question makes the session need a person;
- Claude Code's hooks (installed per session) report turns to aod;
- a message that never gets taken is retried without a second paste and then told to a person;
- a message queued for a killed session ends quietly as not delivered.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, make_repo
from tests.support.tmux import FAKE_AGENT, tmux_server

LINE_AGENT = Path(__file__).resolve().parents[1] / "support" / "line_agent.py"


def extra_agents(records: Path) -> str:
    record = ["--record", str(records / "{session}.jsonl")]
    line = [sys.executable, str(LINE_AGENT), *record]
    deaf = [sys.executable, str(FAKE_AGENT), "--style", "claude", "--deaf", *record]
    return (
        # No prompt glyph and no patterns; ready_timeout so long that only generic readiness
        # (its process reading its terminal) can get a message to it within a test.
        f"  linebot: {{command: {json.dumps(line)}, ready_timeout: 1h}}\n"
        # Its input box is described by a pattern, so delivery sees our text stay there.
        f"  deaf: {{command: {json.dumps(deaf)}, prompt: argv, ready_timeout: 1s,"
        " screen: {idle: '\\? for shortcuts', input: '^❯ (?P<input>.*)$'}}\n"
        "reactions:\n"
        "  agent-stuck: {threshold: 3s}\n"
    )


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Fleet]:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        # config_text ends inside its `agents:` mapping: more agents, then other sections.
        aod.write_config(config_text(tmux, records, extra_agents(records), ready_timeout="5s"))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        yield fleet




def record(fleet: Fleet, session_id: str) -> dict[str, Any]:
    return json.loads((fleet.aod.state_dir / "sessions" / session_id / "session.json").read_text())


def ticks(fleet: Fleet) -> int:
    last = fleet.aod.result("daemon.status")["last_tick"]
    return last["count"] if last else 0


def wait_ticks(fleet: Fleet, n: int) -> None:
    start = ticks(fleet)
    wait_for(lambda: ticks(fleet) >= start + n, 30, f"{n} more ticks")


def test_a_program_without_a_prompt_glyph_gets_its_messages_and_idles_without_being_stuck(fleet: Fleet) -> None:
    sid = fleet.ok("spawn", "--agent", "linebot", "--task", "count the lines of README.md")["id"]
    wait_for(lambda: any("count the lines of README.md" in m for m in fleet.received(sid)), 30, "the first prompt")
    fleet.ok("send", sid, "please do some work now")
    fleet.wait_received(sid, "please do some work now")
    fleet.wait_state(sid, lambda s: s["activity"] == "idle", "the agent idle at its read")
    wait_ticks(fleet, 30)  # 6 s: twice the stuck threshold
    session = fleet.session(sid)
    assert session["state"] == "working" and session["activity"] == "idle", session
    entries = fleet.journal(sid)
    assert not [e for e in entries if e.get("kind") == "reaction.intent" and e.get("key") == "agent-stuck"]
    done = [e for e in entries if e.get("kind") == "delivery.done"]
    assert done and all(e["submitted"] and e["enter_presses"] == 1 for e in done), done
    assert fleet.received(sid).count("please do some work now") == 1


def test_a_custom_agent_s_question_needs_a_person_and_a_person_s_message_answers_it(fleet: Fleet) -> None:
    sid = fleet.ok("spawn", "--agent", "linebot", "--task", "start")["id"]
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    fleet.ok("send", sid, "please ask me something")
    fleet.wait_state(sid, lambda s: s["state"] == "needs_input", "needs_input", timeout=30)
    wait_for(
        lambda: any(e.get("kind") == "reaction.intent" and e.get("key") == "agent-needs-input" for e in fleet.journal(sid)),
        20, "the agent-needs-input reaction",
    )
    fleet.ok("send", sid, "y")  # the person's answer is delivered into the question
    wait_for(lambda: "answered 'y'" in fleet.ok("logs", sid)["text"], 30, "the answer")
    fleet.wait_state(sid, lambda s: s["state"] == "working", "working again", timeout=30)


def test_claude_code_hooks_report_each_turn_to_aod(fleet: Fleet) -> None:
    sid = fleet.ok("spawn", "--agent", "claude-code", "--task", "write hello")["id"]
    # UserPromptSubmit (active) then Stop (idle) came through `aoctl hook claude-code`.
    wait_for(lambda: record(fleet, sid).get("hook_activity") == "idle", 30, "the Stop hook")
    first = record(fleet, sid)["hook_at"]
    fleet.ok("send", sid, "/fake ask hello.py")
    wait_for(lambda: record(fleet, sid).get("hook_activity") == "waiting_input", 30, "the Notification hook")
    assert "permission" in record(fleet, sid)["hook_detail"]
    assert record(fleet, sid)["hook_at"] > first
    fleet.wait_state(sid, lambda s: s["state"] == "needs_input", "needs_input")
    assert not any(e.get("kind") == "hook" for e in fleet.journal(sid))  # hooks are not journal noise


def test_a_message_the_agent_never_takes_is_retried_without_a_second_paste_then_told(fleet: Fleet) -> None:
    sid = fleet.ok("spawn", "--agent", "deaf", "--task", "hello")["id"]
    wait_for(lambda: "hello" in fleet.ok("logs", sid)["text"], 30, "the agent up")
    text = "[marker-free] please rebase onto main now"
    queued = fleet.ok("send", sid, text)
    wait_for(
        lambda: any(e.get("kind") == "delivery.failed" and e.get("seq") == queued["seq"] for e in fleet.journal(sid)),
        60, "aod to give the message up",
    )
    entries = [e for e in fleet.journal(sid) if e.get("seq") == queued["seq"]]
    unverified = [e for e in entries if e["kind"] == "delivery.unverified"]
    assert [e["attempt"] for e in unverified] == [1, 2, 3]
    assert all("still in the input" in e["detail"] for e in unverified)
    assert not [e for e in entries if e["kind"] == "delivery.done"]  # never shown as delivered
    screen = fleet.ok("logs", sid, "-n", "200")["text"]
    assert screen.count("please rebase onto main now") == 1  # pasted once, never again
    wait_for(
        lambda: any(e.get("kind") == "reaction.done" and e.get("key") == "delivery-failed" for e in fleet.journal(sid)),
        20, "the delivery-failed notification",
    )
    assert fleet.session(sid)["pending_messages"] == 0


def test_a_message_queued_for_a_killed_session_ends_quietly_as_not_delivered(fleet: Fleet) -> None:
    sid = fleet.ok("spawn", "--agent", "claude-code", "--task", "/fake hang")["id"]
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    queued = fleet.ok("send", sid, "this waits for the prompt, which never comes")
    fleet.ok("kill", sid)
    wait_for(
        lambda: any(e.get("kind") == "delivery.done" and e.get("seq") == queued["seq"] for e in fleet.journal(sid)),
        20, "the message ended",
    )
    [ended] = [e for e in fleet.journal(sid) if e.get("kind") == "delivery.done" and e.get("seq") == queued["seq"]]
    assert ended["submitted"] is False and ended["detail"] == "not delivered: the session was killed"
    wait_ticks(fleet, 10)
    log = fleet.aod.log()
    assert "Traceback" not in log and "delivery failed" not in log, log[-3000:]
    assert fleet.session(sid)["activity"] == "exited"
