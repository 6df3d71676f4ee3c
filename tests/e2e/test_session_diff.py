"""session.diff and SessionInfo.lane end to end: aod as a process, a real tmux server, git
worktrees, the scripted agent committing; asked over the Unix socket and over the dashboard's
POST /rpc, which must answer the same. And the one lane that depends on the reaction ledger."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from aod.protocol import ErrorCode
from aod.store import Store
from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.seed import seed_sessions
from tests.support.tmux import tmux_server


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Fleet]:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(config_text(tmux, records))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))
        yield fleet


def test_the_diff_of_what_the_agent_committed_and_the_lanes(fleet: Fleet) -> None:
    sid = fleet.ok("spawn", "--task", "write hello")["id"]
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    assert fleet.aod.result("session.list")["sessions"][0]["lane"] == "working"
    fleet.ok("send", sid, "/fake write hello.txt hi there\n/fake commit add hello")
    wait_for(lambda: git(fleet.repo, "rev-list", "--count", f"main..ao/{sid}").strip() == "1", 30, "the agent's commit")

    diff = fleet.aod.result("session.diff", {"id": sid})
    assert (diff["id"], diff["base"], diff["head"]) == (sid, "main", f"ao/{sid}")
    assert diff["base_sha"] == git(fleet.repo, "rev-parse", "main").strip()
    assert diff["head_sha"] == git(fleet.repo, "rev-parse", f"ao/{sid}").strip()
    assert diff["files"] == [{"path": "hello.txt", "status": "added", "additions": 1, "deletions": 0, "old_path": None, "binary": False}]
    assert "+hi there\n" in diff["patch"] and diff["truncated"] is False
    cut = fleet.aod.result("session.diff", {"id": sid, "max_bytes": 40})
    assert cut["truncated"] is True and len(cut["patch"].encode()) <= 40 and cut["files"] == diff["files"]

    # The dashboard asks the same method through the same dispatcher and gets the same answer.
    web = fleet.aod.result("daemon.status")["web"]
    origin = f"http://127.0.0.1:{web['port']}"
    token = fleet.aod.result("web.token")["token"]
    with httpx.Client(base_url=origin, timeout=10) as client:
        assert client.post("/auth", json={"token": token}, headers={"Origin": origin}).status_code == 204
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "session.diff", "params": {"id": sid}})
        assert client.post("/rpc", content=body, headers={"Origin": origin}).json()["result"] == diff

    missing = fleet.aod.call("session.diff", {"id": "demo-99"})
    assert missing["error"]["code"] == ErrorCode.NOT_FOUND
    assert fleet.ok("pause", sid)["lane"] == "needs_you"
    assert fleet.ok("kill", sid)["lane"] == "done"
    assert fleet.aod.result("session.get", {"id": sid})["lane"] == "done"
    assert fleet.aod.result("session.diff", {"id": sid})["files"] == diff["files"]  # the branch outlives the agent


def test_ci_failed_needs_you_once_its_reaction_escalated(make_aod: Callable[..., AodProcess]) -> None:
    """The lane is read from the session's reaction ledger, where the escalation is recorded."""
    aod = make_aod()
    escalated, retrying = seed_sessions(aod.state_dir, 2)
    store = Store(aod.state_dir)
    store.acquire_lock()
    try:
        for sid in (escalated, retrying):
            session = store.get_session_sync(sid)
            store.put_session_sync(msgspec.structs.replace(session, state="ci_failed", reason="checks failing"), session.rev)
        ledger = store.get_ledger_sync(escalated)
        entries = {"ci-failed": {"key": "ci-failed", "attempts": 2, "escalated": True}}
        store.put_ledger_sync(msgspec.structs.replace(ledger, entries=entries), ledger.rev)
    finally:
        store.release_lock()
    aod.write_config("poll_interval: 1h\n")
    aod.start()
    wait_for(lambda: aod.result("daemon.status")["last_tick"], 10, "the first tick")
    lanes = {s["id"]: (s["state"], s["lane"]) for s in aod.result("session.list")["sessions"]}
    assert lanes == {escalated: ("ci_failed", "needs_you"), retrying: ("ci_failed", "working")}
    assert aod.result("session.get", {"id": escalated})["lane"] == "needs_you"
