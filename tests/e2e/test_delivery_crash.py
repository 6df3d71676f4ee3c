"""aod SIGKILLed between pasting a message and pressing Enter, for every agent plugin: after the
restart each message reaches the agent exactly once (issue 12, item 1).

The failpoint `delivery-pasted` kills aod right after the paste of the first delivery: the text
sits in the agent's input, the journal says `delivery.started` and nothing more. The restarted
aod must find the text there and press Enter only: not paste it again (the agent would get it
twice, or doubled in one submission), and not record it as delivered without submitting it.
Every plugin runs on the scripted agent drawing that CLI's screens; the messages are multi-line.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, make_repo
from tests.support.tmux import FAKE_AGENT, tmux_server

STYLES = {
    "claude-code": "claude", "codex": "codex", "aider": "aider", "goose": "goose", "opencode": "opencode",
    "fake": "plain",
}  # fmt: skip
MESSAGE = "Second thoughts on the task:\n\n  - keep the old API\n  - add a test for it\n\nThen commit."


def config(tmux: str, records: Path) -> str:
    lines = ["poll_interval: 200ms", f"runtime: {{tmux_socket: {tmux}}}", "agents:"]
    for agent, style in STYLES.items():
        argv = [sys.executable, str(FAKE_AGENT), "--style", style, "--record", str(records / "{session}.jsonl")]
        # opencode's idle screen after a first turn is not recognised yet (issue 13): a short wait.
        lines.append(f"  {agent}: {{command: {json.dumps(argv)}, ready_timeout: 3s}}")
    return "\n".join(lines) + "\n"




def delivered(fleet: Fleet, session_id: str) -> list[dict[str, Any]]:
    return [e for e in fleet.journal(session_id) if e.get("kind") == "delivery.done"]


@pytest.mark.parametrize("agent", list(STYLES))
def test_a_paste_cut_off_from_its_enter_by_sigkill_is_submitted_once(
    make_aod: Callable[..., AodProcess], tmp_path: Path, agent: str
) -> None:
    with tmux_server() as tmux:
        marker_dir = tmp_path / "failpoints"
        aod = make_aod(extra_env={"AOD_FAILPOINTS": "delivery-pasted", "AOD_FAILPOINTS_DIR": str(marker_dir)})
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(config(tmux, records))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        sid = fleet.ok("spawn", "--agent", agent, "--task", "Rename the helper module")["id"]
        if agent == "claude-code":
            # Its first prompt is on its command line; the first delivery is a message.
            wait_for(lambda: fleet.received(sid), 30, "the first prompt")
            fleet.ok("send", sid, MESSAGE)
        assert aod.proc is not None
        proc = aod.proc
        wait_for(lambda: proc.poll() is not None, 60, "aod to die between the paste and the Enter")
        assert proc.returncode == -signal.SIGKILL, aod.log()[-3000:]
        assert (marker_dir / "delivery-pasted").exists()
        [started] = [e for e in fleet.journal(sid) if e.get("kind") == "delivery.started"]
        assert not delivered(fleet, sid)

        aod.start()
        # The message after: for claude-code the interrupted one was MESSAGE itself.
        later = "And one more thing:\nrun the linter too." if agent == "claude-code" else MESSAGE
        fleet.ok("send", sid, later)
        try:
            wait_for(lambda: len(delivered(fleet, sid)) == 2, 90, "both deliveries")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{fleet.journal(sid)}\n{fleet.ok('logs', sid)['text']}\n{aod.log()[-4000:]}") from None
        done = delivered(fleet, sid)
        assert all(e["submitted"] for e in done), done
        [resumed] = [e for e in done if e["seq"] == started["seq"]]
        assert resumed["enter_presses"] >= 1 and "still in the input" in resumed["detail"], resumed
        received = fleet.received(sid)
        assert sum("Rename the helper module" in m for m in received) == 1, received
        assert received.count(MESSAGE) == 1, received
        assert received.count(later) == 1, received
