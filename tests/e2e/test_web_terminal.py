"""The live terminal end to end: aod as a process with an agent in real tmux, the WebSocket
`/term/<id>` over loopback (tests/support/ws_client.py), the same frames a page gets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, make_repo
from tests.support.tmux import tmux_server
from tests.support.ws_client import WsClient

LINE_AGENT = Path(__file__).resolve().parents[1] / "support" / "line_agent.py"


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Fleet]:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        line = [sys.executable, str(LINE_AGENT), "--record", str(records / "{session}.jsonl")]
        aod.write_config(config_text(tmux, records, f"  linebot: {{command: {json.dumps(line)}, ready_timeout: 1h}}\n"))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        yield fleet


def viewer_pids(tmux: str) -> list[int]:
    out = subprocess.run(
        ["tmux", "-L", tmux, "list-clients", "-F", "#{client_pid} #{client_control_mode}"],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    return [int(pid) for pid, control_mode in (line.split() for line in out.splitlines()) if control_mode != "1"]


def test_a_page_watches_takes_control_types_and_leaves_nothing_behind(fleet: Fleet) -> None:
    sid = fleet.ok("spawn", "--agent", "linebot", "--task", "wait for me")["id"]
    fleet.wait_received(sid, "wait for me")
    port = fleet.aod.result("daemon.status")["web"]["port"]
    origin = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=origin, timeout=10) as client:
        reply = client.post("/auth", json={"token": fleet.aod.result("web.token")["token"]}, headers={"Origin": origin})
        assert reply.status_code == 204, reply.text
        cookie = f"aod_session={client.cookies['aod_session']}"

    with WsClient(port, f"/term/{sid}", origin=origin, cookie=cookie) as ws:
        assert ws.receive_json() == {"type": "mode", "control": False, "readonly_reason": None}
        ws.send_json({"type": "resize", "cols": 100, "rows": 30})
        screen = b""
        while b"linebot 1.0" not in screen:
            frame = ws.receive()
            assert isinstance(frame, bytes), (frame, screen)
            screen += frame
        [pid] = viewer_pids(fleet.tmux)

        ws.send_bytes(b"read-only keys\r")
        ws.send_json({"type": "control", "on": True})
        while (message := ws.receive()) is not None and not isinstance(message, str):
            pass  # output frames until the answer
        assert message is not None and json.loads(message) == {"type": "mode", "control": True, "readonly_reason": None}
        ws.send_bytes(b"typed in the browser\r")
        fleet.wait_received(sid, "typed in the browser")
        assert "read-only keys" not in fleet.received(sid)

    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 10, "the viewer's tmux client to end")
    wait_for(lambda: viewer_pids(fleet.tmux) == [], 10, "no client left on the session")
    assert sid in fleet.tmux_sessions()
    fleet.ok("send", sid, "still listening")
    fleet.wait_received(sid, "still listening")
