"""Bugs the reliability tests found in aod, each pinned down deterministically.

They were first written as strict xfails against the bugs; the fixes (in aod/observe.py,
aod/service.py with aod/delivery.py, and aod/dispatch.py) made them pass, and they stay as
regression tests. docs/reliability.md lists them with the guarantees they belong to.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet


# -- a tick's stale read turns a finished spawn into "spawn interrupted" -----------------------


# The bug: aod/observe.py Observer._observe: a session the tick read while it was `spawning` is
# marked errored ('spawn interrupted') when its spawn finished meanwhile: the check `session.id
# not in service.spawning` is made after the spawn task removed the id, on the stale record, and
# service.set_state overwrites the newer `working` record
async def test_a_tick_that_read_a_spawning_record_leaves_the_finished_spawn_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aod.config import Config
    from aod.events import EventBus
    from aod.model import RuntimeHandle, Session
    from aod.observe import Observer
    from aod.service import Plugins, SessionService
    from aod.store import Store

    store = Store(tmp_path / "state")
    store.acquire_lock()
    store.prepare()
    service = SessionService(
        store=store, bus=EventBus(), config=Config, plugins=Plugins(runtimes={}, workspaces={}),
        data_dir=tmp_path / "data", socket_path=tmp_path / "aod.sock",
    )
    now = "2025-01-01T00:00:00Z"
    spawning = store.put_session_sync(
        Session(id="demo-1", project="demo", state="spawning", reason="starting the agent",
                since=now, created_at=now, updated_at=now),
        0,
    )
    # The tick lists the sessions while the spawn is on its last step ...
    read_by_the_tick = await store.list_sessions()
    # ... and the spawn finishes (its task leaves service.spawning) before the tick gets to it.
    store.put_session_sync(
        msgspec.structs.replace(spawning, state="working", reason="", runtime=RuntimeHandle(kind="tmux", name="demo-1", pane_id="%1")),
        spawning.rev,
    )

    async def the_read_the_tick_made() -> list[Session]:
        return read_by_the_tick

    monkeypatch.setattr(store, "list_sessions", the_read_the_tick_made)
    await Observer(service).tick()
    after = store.get_session_sync("demo-1")
    assert after is not None
    assert (after.state, after.reason) == ("working", "")


# -- a message whose delivery a SIGKILL cut short is pasted again --------------------------------


def _tmux(fleet: Fleet, *args: str, stdin: bytes | None = None) -> str:
    return subprocess.run(
        ["tmux", "-L", fleet.tmux, *args], input=stdin, capture_output=True, check=True, timeout=10
    ).stdout.decode(errors="replace")


def _journal(fleet: Fleet, session_id: str) -> list[dict[str, Any]]:
    entries = []
    path = fleet.aod.state_dir / "sessions" / session_id / "journal.jsonl"
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            pass
    return entries


# The bug: aod/service.py SessionService._deliver_all: a user message (aoctl send) has no marker,
# so after a crash between `delivery.started` and `delivery.done` it is pasted again blindly: the
# agent gets it twice (Enter had been pressed) or doubled in one submission (the first paste still
# sat in its input line)
@pytest.mark.parametrize("how_far", ["pasted", "submitted"])
def test_a_message_whose_delivery_a_crash_cut_short_arrives_once(make_fleet: Callable[..., Fleet], how_far: str) -> None:
    from aod.store import Store

    fleet = make_fleet(ready_timeout="5s")
    # claude-code (the scripted agent drawing Claude's screens) shows when it is busy, so aod
    # holds a message until the agent is back at its prompt.
    sid = fleet.ok("spawn", "--agent", "claude-code", "--task", "/fake hang")["id"]
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    text = "please run the tests once"
    queued = fleet.ok("send", sid, text)  # on disk; the worker waits for the prompt (5 s)
    assert fleet.aod.proc is not None
    fleet.aod.proc.kill()
    fleet.aod.proc.wait()
    assert text not in fleet.received(sid)

    # What a SIGKILL between pasting the message and recording it leaves: `delivery.started`
    # in the journal, the text in the agent's input (for "submitted": and Enter pressed).
    _tmux(fleet, "send-keys", "-t", f"={sid}:", "Escape")  # the agent stops hanging
    wait_for(lambda: "? for shortcuts" in _tmux(fleet, "capture-pane", "-p", "-t", f"={sid}:"), 20, "the agent's prompt")
    Store(fleet.aod.state_dir).append_journal_sync(
        sid, {"time": "2025-01-01T00:00:00Z", "kind": "delivery.started", "seq": queued["seq"], "source": "user", "fingerprint": ""}
    )
    _tmux(fleet, "load-buffer", "-b", "crash", "-", stdin=text.encode())
    _tmux(fleet, "paste-buffer", "-p", "-d", "-b", "crash", "-t", f"={sid}:")
    if how_far == "submitted":
        _tmux(fleet, "send-keys", "-t", f"={sid}:", "Enter")
        fleet.wait_received(sid, text)

    fleet.aod.start()
    wait_for(
        lambda: any(e.get("kind") == "delivery.done" and e.get("seq") == queued["seq"] for e in _journal(fleet, sid)),
        40, "aod to finish the interrupted delivery",
    )
    fleet.wait_state(sid, lambda s: s["activity"] in ("idle", "ready"), "the agent back at its prompt")
    assert [m for m in fleet.received(sid) if text in m] == [text]


# -- deeply nested JSON breaks the connection instead of being answered ------------------------


# The bug: aod/dispatch.py Dispatcher.handle catches msgspec.DecodeError only: JSON nested ~1000
# deep (2 KB, far under api.max_message_bytes) makes msgspec raise RecursionError, which escapes
# to aod/server.py, logs 'connection failed' with a traceback and closes the connection without a
# reply (and cancels the connection's other requests in flight)
@pytest.mark.parametrize("where", ["top", "params"])
def test_deeply_nested_json_gets_a_parse_error(aod: AodProcess, where: str) -> None:
    import socket

    from tests.support.aod_process import RawConnection

    deep = "[" * 2000 + "]" * 2000
    message = deep if where == "top" else '{"jsonrpc":"2.0","id":7,"method":"daemon.ping","params":' + deep + "}"
    with RawConnection(aod.socket_path) as conn:
        conn.send(message.encode() + b"\n")
        conn.sock.shutdown(socket.SHUT_WR)
        line = conn.receive_line()
    assert aod.call("daemon.ping")["result"]  # aod itself survives either way
    assert line is not None, "aod closed the connection without an answer"
    reply = json.loads(line)
    assert reply["jsonrpc"] == "2.0" and reply["error"]["code"] in (-32700, -32600), reply
    assert '"connection failed"' not in aod.log()
