"""Issue 14, "tests that catch what they claim": targeted mutations of main (one rule broken at a
time) survived the suite; each test here fails with its mutation applied (docs/reliability.md,
R13, lists them with the mutation each one kills).
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio

from tests.support.aod_process import AodProcess, RawConnection, wait_for
from tests.support.fleet import Fleet, git
from tests.support.http_sink import HttpSink, Received, Reply

# -- 14: the size limit, at the byte, in both framings ------------------------------------------

LIMIT = 1024


def ping_of(size: int, request_id: str = "") -> bytes:
    """A daemon.ping request of exactly `size` bytes (its id pads it)."""
    empty = json.dumps({"jsonrpc": "2.0", "id": "", "method": "daemon.ping"}, separators=(",", ":"))
    body = json.dumps({"jsonrpc": "2.0", "id": "x" * (size - len(empty)), "method": "daemon.ping"}, separators=(",", ":"))
    assert len(body) == size
    return body.encode()


@pytest.fixture
def small_limit_aod(make_aod: Callable[..., AodProcess]) -> AodProcess:
    aod = make_aod()
    aod.write_config(f"api: {{max_message_bytes: {LIMIT}}}\n")
    return aod.start()


# The mutation: aod/framing.py `len(line) > self._max` (and the LSP `length > self._max`)
# turned into `>=`: only 1,025 bytes against 1,024 was tested, which both versions refuse.
@pytest.mark.parametrize("framing", ["line", "lsp"])
def test_exactly_the_limit_is_served_and_one_byte_more_is_refused(small_limit_aod: AodProcess, framing: str) -> None:
    def framed(body: bytes) -> bytes:
        return body + b"\n" if framing == "line" else b"Content-Length: %d\r\n\r\n" % len(body) + body

    with RawConnection(small_limit_aod.socket_path) as conn:
        conn.send(framed(ping_of(LIMIT)))
        reply = conn.receive_json() if framing == "line" else conn.receive_lsp()
        assert "result" in reply and len(reply["id"]) > 900, reply
    with RawConnection(small_limit_aod.socket_path) as conn:
        conn.send(framed(ping_of(LIMIT + 1)))
        reply = conn.receive_json() if framing == "line" else conn.receive_lsp()
        assert reply["error"]["code"] == -32002 and reply["error"]["data"]["limit"] == LIMIT, reply
        assert conn.at_eof()  # and the connection is closed


# -- 15: notifications inside a batch ------------------------------------------------------------


def notification(method: str = "daemon.ping") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method}


# The mutation: aod/dispatch.py answering the notifications of a batch (with id null). The batch
# tests keyed replies by id, so two nulls collapsed into one, and read only the next reply.
def test_a_batch_is_answered_once_with_one_reply_per_request_and_none_for_notifications(aod: AodProcess) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "daemon.ping"},
        notification(),
        {"jsonrpc": "2.0", "id": None, "method": "daemon.ping"},  # a request whose id is null
        notification("no.such.method"),
        {"jsonrpc": "2.0", "id": 2, "method": "no.such.method"},
        notification("daemon.status"),
    ]
    with RawConnection(aod.socket_path) as conn:
        conn.send_json(batch)
        replies = conn.receive_json()
        assert isinstance(replies, list)
        assert len(replies) == 3, replies  # the three requests; not one for a notification
        assert sorted(map(str, (r["id"] for r in replies))) == ["1", "2", "None"]
        assert [r["error"]["code"] for r in replies if r["id"] == 2] == [-32601]
        # Nothing else comes for that batch, before or after the next request's answer.
        conn.send_json([notification(), notification()])  # only notifications: no reply at all
        conn.send_json({"jsonrpc": "2.0", "id": "last", "method": "daemon.ping"})
        assert conn.receive_json()["id"] == "last"
        conn.sock.shutdown(socket.SHUT_WR)
        assert conn.at_eof(), conn.buffer


# -- 16: fsync, then replace, then fsync the directory -------------------------------------------


class SyscallLog:
    """os.fsync / os.replace / os.rename, recorded (by path) and then done for real."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, str]] = []
        real_fsync, real_replace, real_rename = os.fsync, os.replace, os.rename

        def fsync(fd: int) -> None:
            self.calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
            real_fsync(fd)

        def replace(src: Any, dst: Any, **kwargs: Any) -> None:
            self.calls.append(("replace", os.fsdecode(dst)))
            real_replace(src, dst, **kwargs)

        def rename(src: Any, dst: Any, **kwargs: Any) -> None:
            self.calls.append(("rename", os.fsdecode(dst)))
            real_rename(src, dst, **kwargs)

        monkeypatch.setattr(os, "fsync", fsync)
        monkeypatch.setattr(os, "replace", replace)
        monkeypatch.setattr(os, "rename", rename)


def session_record(session_id: str = "demo-1") -> Any:
    from aod.model import Session

    now = "2026-01-01T00:00:00.000Z"
    return Session(id=session_id, project="demo", state="working", reason="", since=now, created_at=now, updated_at=now)


# The mutation: aod/store/files.py replace_atomically without the fsync of the temp file, or without the
# fsync of the directory after os.replace. A SIGKILL cannot tell (the page cache survives it); a
# power cut can. So the order is checked here, on the real files.
def test_a_record_is_written_fsync_then_replace_then_fsync_of_its_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aod.store import Store

    store = Store(tmp_path / "state")
    store.acquire_lock()
    store.prepare()
    first = store.put_session_sync(session_record(), 0)  # the directory exists from here on
    directory = os.path.realpath(tmp_path / "state" / "sessions" / "demo-1")
    log = SyscallLog(monkeypatch)

    store.put_session_sync(msgspec.structs.replace(first, reason="again"), first.rev)

    temp = [p for op, p in log.calls if op == "fsync" and os.path.dirname(p) == directory and ".session.json." in p]
    assert len(temp) == 1, log.calls  # the temp file's data, synced
    assert log.calls == [
        ("fsync", temp[0]),
        ("replace", str(tmp_path / "state" / "sessions" / "demo-1" / "session.json")),
        ("fsync", directory),  # the rename itself, made durable
    ], log.calls


def test_a_journal_append_is_synced_and_a_new_journal_s_name_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aod.store import Store

    store = Store(tmp_path / "state")
    store.acquire_lock()
    store.prepare()
    store.put_session_sync(session_record(), 0)
    directory = os.path.realpath(tmp_path / "state" / "sessions" / "demo-1")
    journal = os.path.join(directory, "journal.jsonl")
    log = SyscallLog(monkeypatch)

    store.append_journal_sync("demo-1", {"kind": "first"})  # a new file: its name is synced too
    store.append_journal_sync("demo-1", {"kind": "second"})

    assert log.calls == [("fsync", journal), ("fsync", directory), ("fsync", journal)], log.calls


# -- 17: Enter pressed until the agent took our text, and only while it is still there -----------

TICKING_AGENT = Path(__file__).resolve().parents[1] / "support" / "ticking_agent.py"


@pytest.fixture
def tmux_runtime() -> Iterator[Any]:
    from aod.plugins.runtime.tmux import TmuxRuntime
    from tests.support.tmux import tmux_server

    with tmux_server() as name:
        yield TmuxRuntime(name, config_file="/dev/null")


async def start_ticking(runtime: Any, tmp_path: Path, *args: str) -> tuple[Any, Path]:
    from aod.plugins.runtime import LaunchSpec

    record = tmp_path / "record.jsonl"
    handle = await runtime.create(
        LaunchSpec(name="ao-1", argv=[sys.executable, str(TICKING_AGENT), "--record", str(record), *args],
                   cwd=tmp_path, width=120, height=30)
    )
    with trio.fail_after(10):
        while not (await runtime.capture(handle)).endswith("\n>"):  # its empty input line
            await trio.sleep(0.02)
    return handle, record


def recorded(record: Path) -> list[str]:
    return [json.loads(line)["message"] for line in record.read_text().splitlines()] if record.exists() else []


# The mutations: aod/delivery.py deliver pressing Enter only once; and taking "the screen changed
# after Enter" as proof although our text can be seen, still, in the input. A screen that never
# stops moving (a spinner, a clock) and a swallowed first Enter tell them apart.
async def test_a_swallowed_enter_on_a_moving_screen_is_pressed_again_until_taken(tmux_runtime: Any, tmp_path: Path) -> None:
    from aod.delivery import deliver
    from aod.plugins.agent.custom import CustomAgent

    handle, record = await start_ticking(tmux_runtime, tmp_path, "--swallow", "1", "--tick", "0.15")
    result = await deliver(tmux_runtime, handle, "please run the tests", read_input=CustomAgent().read_input)
    assert result.submitted, result
    assert result.enter_presses == 2, result  # the first one was swallowed; the screen moved anyway
    assert "our text left the input after Enter #2" in result.detail
    with trio.fail_after(5):
        while not recorded(record):
            await trio.sleep(0.02)
    assert recorded(record) == ["please run the tests"]


async def test_a_moving_screen_is_no_proof_while_our_text_stays_in_the_input(tmux_runtime: Any, tmp_path: Path) -> None:
    from aod.delivery import deliver
    from aod.plugins.agent.custom import CustomAgent

    handle, record = await start_ticking(tmux_runtime, tmp_path, "--swallow", "-1", "--tick", "0.1")
    result = await deliver(
        tmux_runtime, handle, "never taken", read_input=CustomAgent().read_input, attempts=3, verify_window=0.3
    )
    assert not result.submitted, result
    assert result.in_input and result.enter_presses == 3, result
    assert "still in the input after 3 Enter presses" in result.detail
    assert recorded(record) == []


# -- 18: the reactor writes its intent before it acts ---------------------------------------------


class WitnessSink(HttpSink):
    """An HTTP sink that, as each request arrives, reads a session's reaction ledger from disk."""

    def __init__(self, ledger_of: Callable[[str], Path]) -> None:
        self.ledger_of = ledger_of
        self.seen: list[tuple[Received, dict[str, Any] | None]] = []
        super().__init__()

    def _record(self, request: Received) -> Reply:
        session = json.loads(request.body).get("session") or ""
        path = self.ledger_of(session)
        self.seen.append((request, json.loads(path.read_text()) if path.exists() else None))
        return super()._record(request)


def intent(ledger: dict[str, Any] | None, fingerprint: str) -> dict[str, Any] | None:
    return next((i for i in (ledger or {}).get("intents", []) if i["fingerprint"] == fingerprint), None)


# The mutation: aod/reactor.py performing an action before its intent is on disk. Checked only
# indirectly before (a crash test); here at the moment the notifier and the agent receive it.
def test_the_intent_is_on_disk_when_the_notifier_and_the_agent_receive_the_action(make_fleet: Callable[..., Fleet]) -> None:
    from aod.reactions import marker

    ledgers: dict[str, Path] = {}
    sink = WitnessSink(lambda sid: ledgers["root"] / "sessions" / sid / "reactions.json")
    try:
        fleet = make_fleet(
            f"notifiers:\n  witness: {{kind: webhook, url: '{sink.url('/hook')}', retries: 0}}\n"
            "projects:\n  demo: {open_pr: auto}\n"
        )
        ledgers["root"] = fleet.aod.state_dir
        ledger_template = str(fleet.aod.state_dir / "sessions" / "{session}" / "reactions.json")
        agent = [sys.executable, str(TICKING_AGENT), "--tick", "3600", "--record", str(fleet.records / "{session}.jsonl"),
                 "--witness", ledger_template]
        config = fleet.aod.config_path.read_text()
        fleet.aod.write_config(config.replace("agents:\n", f"agents:\n  witness: {{command: {json.dumps(agent)}, prompt: paste, ready_timeout: 5s}}\n", 1))
        fleet.ok("daemon", "reload")
        sid = fleet.ok("spawn", "--agent", "witness", "--task", "make the change")["id"]
        wait_for(lambda: fleet.received(sid), 30, "the first prompt")
        workspace = Path(fleet.session(sid)["workspace"])
        (workspace / "change.txt").write_text("the change\n")  # the work, as an agent would commit it
        git(workspace, "add", "change.txt")
        git(workspace, "commit", "-q", "-m", "make the change")

        # review-pending: notify. At the notifier's door, its intent is on disk, pending.
        wait_for(lambda: any(r.headers["x-ao-event"] == "review-pending" for r, _ in sink.seen), 60, "the review-pending notification")
        request, ledger = next((r, seen) for r, seen in sink.seen if r.headers["x-ao-event"] == "review-pending")
        written = intent(ledger, request.headers["x-ao-delivery"])
        assert written is not None and written.get("state", "pending") == "pending", ledger  # a default: not stored

        # changes-requested: send-to-agent. When the agent takes the message, its intent is on disk.
        fleet.ok("review", sid, "--request-changes", "-m", "Please rename the file")
        record = fleet.records / f"{sid}.jsonl"

        def reaction_message() -> dict[str, Any] | None:
            entries = [json.loads(line) for line in record.read_text().splitlines()]
            return next((e for e in entries if "Please rename the file" in e["message"]), None)

        entry = wait_for(reaction_message, 60, "the changes-requested message")
        tag = re.search(r"\[ao:[0-9a-f]+\]", entry["message"])
        assert tag is not None, entry["message"]
        seen = json.loads(entry["witness"]) if entry["witness"] else None
        matching = [i for i in (seen or {}).get("intents", []) if marker(i["fingerprint"]) == tag.group(0)]
        assert [i["key"] for i in matching] == ["changes-requested"], seen
        assert matching[0].get("state", "pending") in ("pending", "done"), matching  # written before, closed after
    finally:
        sink.close()


# -- 19: a spent GitHub budget sends nothing until the reset -------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


# The mutation: aod/plugins/forge/github_api.py `limit.remaining <= 0` turned into `< 0`. With
# `remaining: 0` on a successful answer (no 403, so no backoff), the next request went out.
async def test_an_answer_with_remaining_0_stops_every_request_until_the_reset() -> None:
    from aod.config import Config
    from aod.plugins.forge import ForgeUnavailable, RepoTarget
    from aod.plugins.forge.github import GithubForge
    from tests.support.github_emulator import GithubEmulator

    emulator = GithubEmulator()
    repo = "acme/shop"
    emulator.create_repo(repo)
    clock = FakeClock()
    config = Config.model_validate({"github": {"api_url": emulator.api_url, "retry_backoff": 0.005, "timeout": 5}})
    forge = GithubForge(lambda: config, env={"GH_TOKEN": emulator.token}, clock=clock)
    target = RepoTarget(project="shop", path="/nonexistent", default_branch="main", remote_url=emulator.remote_url(repo))
    try:
        number = emulator.create_pr(repo, "ao/one")
        emulator.set_rate("core", remaining=1, reset_in=60)
        await forge.comment(target, str(number), "the last request of the hour")  # answered 2xx, remaining: 0
        assert emulator.rate("core").remaining == 0
        mark = emulator.mark()
        for seconds in (0, 20, 35):  # 0 s, 20 s and 55 s after the answer
            clock.now += seconds
            emulator.advance(seconds)
            with pytest.raises(ForgeUnavailable, match="rate limit is spent"):
                await forge.comment(target, str(number), "one too many")
        assert emulator.requests(mark) == []  # nothing was sent to be refused
        clock.now += 10
        emulator.advance(10)  # past the reset
        await forge.comment(target, str(number), "a new hour")
        assert [r.method for r in emulator.requests(mark)] == ["POST"]
    finally:
        await forge.aclose()
        emulator.close()
