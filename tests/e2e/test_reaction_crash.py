"""Exactly-once reactions across crashes: a real aod is SIGKILLed between deciding a reaction and
finishing it, restarted on the same state dir, and the agent still gets the message exactly once.

The reaction: `agent-stuck` set to nudge the agent (send-to-agent) after 2 s without progress,
with `retries: 1` so the second stuck episode escalates to a notification instead. The scripted
agent is told to `/fake hang`: it shows "working..." and nothing moves, so it is stuck.

aod kills itself with SIGKILL (aod/failpoints.py) at one point each run:
- after-intent: the intent is on disk; nothing was done and the new state was not written;
- before-intent-closed: the message is queued; the intent still says pending;
- reaction-pasted: the message was pasted into the agent; the delivery was not recorded.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, make_repo
from tests.support.tmux import tmux_server

REACTIONS = """\
reactions:
  agent-stuck: {action: send-to-agent, threshold: 2s, retries: 1, message: "NUDGE: still there?"}
"""


@pytest.fixture
def crashing_fleet(make_aod: Callable[..., AodProcess], tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Fleet]:
    point: str = request.param
    with tmux_server() as tmux:
        root_marker = tmp_path / "failpoints"
        aod = make_aod(extra_env={"AOD_FAILPOINTS": point, "AOD_FAILPOINTS_DIR": str(root_marker)})
        records = aod.root / "records"
        records.mkdir()
        # A busy agent never shows its prompt: the nudge is pasted after waiting 1 s for it.
        aod.write_config(config_text(tmux, records, REACTIONS, ready_timeout="1s"))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        fleet.failpoint_marker = root_marker / point  # type: ignore[attr-defined]
        yield fleet


def journal(fleet: Fleet, session_id: str) -> list[dict[str, Any]]:
    path = fleet.aod.state_dir / "sessions" / session_id / "journal.jsonl"
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            pass  # a line torn by the SIGKILL; the store's readers skip it too
    return entries


def nudges(fleet: Fleet, session_id: str) -> list[str]:
    return [m for m in fleet.received(session_id) if "NUDGE: still there?" in m]


def tick_count(fleet: Fleet) -> int:
    last = fleet.aod.result("daemon.status")["last_tick"]
    return last["count"] if last else 0


@pytest.mark.parametrize(
    "crashing_fleet", ["after-intent", "before-intent-closed", "reaction-pasted"], indirect=True
)
def test_a_reaction_interrupted_by_sigkill_is_finished_once_after_restart(crashing_fleet: Fleet) -> None:
    fleet = crashing_fleet
    # The claude-code plugin reads "esc to interrupt" as busy (the custom one sees only a prompt).
    sid = fleet.ok("spawn", "--agent", "claude-code", "--task", "/fake hang")["id"]

    # aod decides to nudge the stuck agent and dies at the failpoint.
    assert fleet.aod.proc is not None
    proc = fleet.aod.proc
    try:
        wait_for(lambda: proc.poll() is not None, 60, "aod to die at the failpoint")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{fleet.session(sid)}\n{fleet.aod.log()[-4000:]}") from None
    assert proc.returncode == -signal.SIGKILL, fleet.aod.log()[-3000:]
    assert fleet.failpoint_marker.exists()  # type: ignore[attr-defined]
    assert sid in fleet.tmux_sessions()  # the agent outlives aod

    fleet.aod.start()
    try:
        wait_for(lambda: nudges(fleet, sid), 40, "the nudge to reach the agent")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{journal(fleet, sid)}\n{fleet.aod.log()[-6000:]}") from None

    # The nudge moved the screen (progress), the agent got stuck again, and the second episode
    # escalated instead of nudging: the ledger's last word on this reaction.
    def escalated() -> bool:
        return any(
            e.get("kind") == "reaction.done" and e.get("key") == "agent-stuck" and e.get("action") == "notify"
            for e in journal(fleet, sid)
        )

    try:
        wait_for(escalated, 40, "the second stuck episode to escalate")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{fleet.session(sid)}\n{journal(fleet, sid)}\n{fleet.aod.log()[-3000:]}") from None
    seen = tick_count(fleet)
    wait_for(lambda: tick_count(fleet) >= seen + 10, 30, "ten more ticks")

    assert len(nudges(fleet, sid)) == 1, journal(fleet, sid)
    entries = journal(fleet, sid)
    intents = [e for e in entries if e.get("kind") == "reaction.intent" and e.get("action") == "send-to-agent"]
    assert len(intents) == 1
    done = [e for e in entries if e.get("kind") == "reaction.done" and e.get("fingerprint") == intents[0]["fingerprint"]]
    assert [d["state"] for d in done] == ["done"]
    ledger = json.loads((fleet.aod.state_dir / "sessions" / sid / "reactions.json").read_text())
    assert all(i["state"] != "pending" for i in ledger["intents"])
    assert ledger["entries"]["agent-stuck"]["escalated"] is True
    assert fleet.session(sid)["state"] in ("stuck", "working")
