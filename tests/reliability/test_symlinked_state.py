"""S2 (issue 14, security 2): aod never reads or writes through a symbolic link in its state dir.

Agents run as the same user and can leave links anywhere that user can write. A link where a
journal, an outbox, a session directory or any record should be would make aod append to any
file, write messages into any directory, or show another file as a session's. Every path below
the state root is checked component by component before it is opened, created or listed; a
link found is moved to quarantine/ (the link itself, its target untouched), logged once, and
the operation goes on as if nothing were there.

The first test drives a real aod over its socket; the rest use aod's Store on a real directory,
one kind of record each.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from aod.model import PortBlocks, Project, Session, SessionLedger, SessionUsage
from aod.store import NoSuchSession, Store
from tests.reliability.conftest import quarantined
from tests.support.aod_process import AodProcess
from tests.support.seed import now_iso, seed_sessions


def links_in_quarantine(state: Path) -> list[str]:
    directory = state / "quarantine"
    return sorted(p.name for p in directory.iterdir() if p.is_symlink())


def test_a_running_aod_writes_nothing_through_planted_links(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    aod = make_aod()
    seed_sessions(aod.state_dir, 2)
    sessions = aod.state_dir / "sessions"
    outside = tmp_path / "outside"
    outside.mkdir()
    # bench-2's directory is replaced by a link to a copy elsewhere; bench-1's journal by a link
    # to a file that is not aod's.
    os.rename(sessions / "bench-2", outside / "bench-2")
    os.symlink(outside / "bench-2", sessions / "bench-2")
    victim = outside / "victim.txt"
    victim.write_text('{"time": "2026-01-01T00:00:00Z", "kind": "forged"}\n')
    os.symlink(victim, sessions / "bench-1" / "journal.jsonl")
    aod.write_config("poll_interval: 200ms\n")
    aod.start()

    sent = aod.aoctl("send", "bench-2", "through the link?")
    assert sent.returncode != 0 and "Traceback" not in sent.stderr, (sent.stdout, sent.stderr)
    assert "bench-2" in sent.stderr
    assert sorted(p.name for p in (outside / "bench-2").iterdir()) == ["session.json"]  # no outbox, no journal
    listed = aod.result("session.list")["sessions"]
    assert [s["id"] for s in listed] == ["bench-1"]

    history = aod.result("session.history", {"id": "bench-1"})["entries"]
    assert all(e["kind"] != "forged" for e in history), history
    assert aod.aoctl("send", "bench-1", "hello").returncode == 0
    killed = aod.aoctl("kill", "bench-1")  # journals the queued message as not delivered
    assert killed.returncode == 0, killed.stderr
    assert victim.read_text() == '{"time": "2026-01-01T00:00:00Z", "kind": "forged"}\n'
    journal = sessions / "bench-1" / "journal.jsonl"
    assert not journal.is_symlink() and "forged" not in journal.read_text() and journal.read_text().strip()

    assert links_in_quarantine(aod.state_dir) == sorted(
        n for n in quarantined(aod.state_dir) if n.endswith(("sessions.bench-2", "sessions.bench-1.journal.jsonl"))
    )
    assert len(links_in_quarantine(aod.state_dir)) == 2
    assert os.readlink(next((aod.state_dir / "quarantine").glob("*sessions.bench-2"))) == str(outside / "bench-2")
    events = [e for e in aod.result("events.recent", {"limit": 200})["events"] if e["kind"] == "store.quarantined"]
    assert len(events) == 2, events
    assert aod.log().count("store.quarantined") == 2  # one log line each
    assert aod.proc is not None and aod.proc.poll() is None


# -- the store, one kind of path at a time ---------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state")
    store.acquire_lock()
    store.prepare()
    yield store
    store.release_lock()


@pytest.fixture
def reported(store: Store) -> list[tuple[Path, Path, str]]:
    seen: list[tuple[Path, Path, str]] = []
    store.on_quarantine = lambda original, moved, reason: seen.append((original, moved, reason))
    return seen


def session(sid: str = "demo-1") -> Session:
    now = now_iso()
    return Session(id=sid, project="demo", state="working", reason="", since=now, created_at=now, updated_at=now)


def plant(link: Path, target: Path) -> Path:
    """A link at `link` to `target` (a file with known bytes, or a directory)."""
    if link.exists() or link.is_symlink():
        os.rename(link, link.with_name(link.name + ".orig"))
    os.symlink(target, link)
    return target


def only_the_link_was_quarantined(reported: list[tuple[Path, Path, str]], link: Path) -> None:
    assert [r[0] for r in reported] == [link], reported
    moved = reported[0][1]
    assert moved.is_symlink() and "symbolic link" in reported[0][2]
    assert not link.is_symlink()


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    directory = tmp_path / "outside"
    directory.mkdir()
    (directory / "file").write_bytes(b"precious\n")
    return directory


def test_a_journal_link_is_not_appended_to(store: Store, reported: list, outside: Path) -> None:
    store.put_session_sync(session(), 0)
    link = store.root / "sessions" / "demo-1" / "journal.jsonl"
    plant(link, outside / "file")
    store.append_journal_sync("demo-1", {"kind": "test"})
    assert (outside / "file").read_bytes() == b"precious\n"
    assert json.loads(link.read_text())["kind"] == "test"
    only_the_link_was_quarantined(reported, link)


def test_a_journal_link_is_not_read(store: Store, reported: list, outside: Path) -> None:
    store.put_session_sync(session(), 0)
    (outside / "file").write_text('{"kind": "forged"}\n')
    link = store.root / "sessions" / "demo-1" / "journal.jsonl"
    plant(link, outside / "file")
    assert store.journal_tail_sync("demo-1", 10) == []
    only_the_link_was_quarantined(reported, link)


async def test_an_outbox_link_receives_no_message(store: Store, reported: list, outside: Path) -> None:
    store.put_session_sync(session(), 0)
    link = store.root / "sessions" / "demo-1" / "outbox"
    plant(link, outside)
    delivery = await store.enqueue("demo-1", "the message", "user", now_iso())
    assert sorted(p.name for p in outside.iterdir()) == ["file"]
    assert [d.text for d in await store.pending_deliveries("demo-1")] == ["the message"]
    assert (link / f"{delivery.seq:08d}.json").is_file()
    only_the_link_was_quarantined(reported, link)


def test_a_session_directory_link_is_no_session(store: Store, reported: list, outside: Path) -> None:
    store.put_session_sync(session("demo-2"), 0)
    os.rename(store.root / "sessions" / "demo-2", outside / "demo-2")
    link = store.root / "sessions" / "demo-2"
    os.symlink(outside / "demo-2", link)
    assert store.get_session_sync("demo-2") is None
    with pytest.raises(NoSuchSession):
        store.append_journal_sync("demo-2", {"kind": "test"})
    assert sorted(p.name for p in (outside / "demo-2").iterdir()) == ["session.json"]
    only_the_link_was_quarantined(reported, link)


def test_a_session_directory_link_found_by_a_listing_is_quarantined(store: Store, reported: list, outside: Path) -> None:
    store.put_session_sync(session("demo-1"), 0)
    link = store.root / "sessions" / "demo-9"
    os.symlink(outside, link)
    assert [s.id for s in store.list_sessions_sync()] == ["demo-1"]
    only_the_link_was_quarantined(reported, link)
    assert store.count_sessions_sync() == 1
    assert len(reported) == 1  # said once


def test_a_session_record_link_is_not_read_or_written_through(store: Store, reported: list, outside: Path) -> None:
    first = store.put_session_sync(session(), 0)
    (outside / "file").write_bytes(msgspec.json.encode(first))
    link = store.root / "sessions" / "demo-1" / "session.json"
    plant(link, outside / "file")
    assert store.get_session_sync("demo-1") is None
    store.put_session_sync(session(), 0)  # a fresh record, beside nothing
    assert not link.is_symlink() and (outside / "file").read_bytes() == msgspec.json.encode(first)
    only_the_link_was_quarantined(reported, link)


def test_a_session_record_link_found_by_a_listing_is_quarantined(store: Store, reported: list, outside: Path) -> None:
    # Listed once first: the record is in the store's cache when the link replaces it.
    first = store.put_session_sync(session(), 0)
    assert [s.id for s in store.list_sessions_sync()] == ["demo-1"]
    (outside / "file").write_bytes(msgspec.json.encode(first))
    link = store.root / "sessions" / "demo-1" / "session.json"
    plant(link, outside / "file")
    assert store.list_sessions_sync() == []
    only_the_link_was_quarantined(reported, link)


def test_the_lock_file_link_is_not_truncated(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "state"
    root.mkdir(mode=0o700)
    os.symlink(outside / "file", root / "aod.lock")
    store = Store(root)
    store.acquire_lock()
    try:
        assert (outside / "file").read_bytes() == b"precious\n"
        assert not (root / "aod.lock").is_symlink()
    finally:
        store.release_lock()


RECORDS: dict[str, tuple[Callable[[Store], Path], Callable[[Store], object]]] = {
    "reaction ledger": (
        lambda s: s.root / "sessions" / "demo-1" / "reactions.json",
        lambda s: s.put_ledger_sync(SessionLedger(session="demo-1"), 0),
    ),
    "usage": (
        lambda s: s.root / "sessions" / "demo-1" / "usage.json",
        lambda s: s.put_usage_sync(SessionUsage(session="demo-1"), 0),
    ),
    "project record": (
        lambda s: s.root / "projects" / "web.json",
        lambda s: s.put_project_sync(Project(name="web", path="/nowhere", default_branch="main"), 0),
    ),
    "ports": (
        lambda s: s.root / "ports.json",
        lambda s: s.allocate_ports_sync("demo-1", 20000, 10),
    ),
    "id counter": (
        lambda s: s.root / "counters" / "demo.json",
        lambda s: s.reserve_session_id_sync("demo"),
    ),
}


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_a_record_link_is_never_written_through(store: Store, reported: list, outside: Path, kind: str) -> None:
    where, write = RECORDS[kind]
    store.put_session_sync(session(), 0)
    link = where(store)
    link.parent.mkdir(parents=True, exist_ok=True)
    plant(link, outside / "file")
    write(store)
    assert (outside / "file").read_bytes() == b"precious\n"
    assert link.is_file() and not link.is_symlink()
    only_the_link_was_quarantined(reported, link)


async def test_local_forge_directories_and_ci_logs_are_never_written_through(store: Store, reported: list, outside: Path) -> None:
    forge = store.root / "forge" / "demo"
    forge.mkdir(parents=True)
    os.symlink(outside, forge / "ci")
    sha = "a" * 40
    await store.write_ci_log("demo", sha, b"ci output")
    assert sorted(p.name for p in outside.iterdir()) == ["file"]
    assert (forge / "ci" / f"{sha}.log").read_bytes() == b"ci output"
    only_the_link_was_quarantined(reported, forge / "ci")


async def test_the_cost_ledger_link_is_not_appended_to(store: Store, reported: list, outside: Path) -> None:
    link = store.root / "ledger" / "cost-2026-01.jsonl"
    plant(link, outside / "file")
    await store.append_cost("2026-01", [{"usd": 1}])
    assert (outside / "file").read_bytes() == b"precious\n"
    assert await store.read_cost("2026-01") == [{"usd": 1}]
    only_the_link_was_quarantined(reported, link)


def test_a_link_in_place_of_a_whole_state_subdirectory_is_refused_at_start(tmp_path: Path, outside: Path) -> None:
    from aod.paths import UnsafeDirectory

    root = tmp_path / "state"
    root.mkdir(mode=0o700)
    os.symlink(outside, root / "sessions")
    store = Store(root)
    store.acquire_lock()
    try:
        with pytest.raises(UnsafeDirectory):
            store.prepare()
    finally:
        store.release_lock()
