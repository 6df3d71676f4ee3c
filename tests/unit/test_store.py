"""The disk store on real files (and, for the lock, real processes)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import msgspec
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from aod.model import SCHEMA_VERSION, Session
from aod.store import (
    AlreadyRunning,
    NoFreePorts,
    NoSuchSession,
    StaleRevision,
    Store,
    UnsupportedSchema,
    _complete_lines_backwards,
)

NOW = "2025-01-02T03:04:05Z"


def new_session(session_id: str = "fix-login", **changes: Any) -> Session:
    fields: dict[str, Any] = {
        "id": session_id,
        "project": "demo",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return Session(**(fields | changes))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "state")
    store.prepare()
    return store


def session_file(store: Store, session_id: str) -> Path:
    return store.root / "sessions" / session_id / "session.json"


def temp_leftovers(directory: Path) -> list[Path]:
    return list(directory.rglob(".*.tmp"))


# ---------------------------------------------------------------------------------------------
# Records: round trip, revisions, unchanged writes.
# ---------------------------------------------------------------------------------------------


async def test_round_trip_and_rev_bump(store: Store) -> None:
    stored = await store.put_session(new_session(), expected_rev=0)
    assert (stored.rev, stored.schema) == (1, SCHEMA_VERSION)
    assert await store.get_session("fix-login") == stored

    on_disk = json.loads(session_file(store, "fix-login").read_bytes())
    assert on_disk["rev"] == 1 and on_disk["schema"] == SCHEMA_VERSION

    working = msgspec.structs.replace(stored, state="working")
    again = await store.put_session(working, expected_rev=stored.rev)
    assert again.rev == 2
    assert await store.get_session("fix-login") == again
    assert await store.get_session("nobody-here") is None
    assert temp_leftovers(store.root) == []


async def test_a_new_record_must_be_written_with_expected_rev_zero(store: Store) -> None:
    with pytest.raises(StaleRevision):
        await store.put_session(new_session(), expected_rev=3)
    with pytest.raises(ValueError, match="expected_rev"):
        await store.put_session(new_session(), expected_rev=-1)
    assert await store.get_session("fix-login") is None


async def test_second_writer_on_the_same_rev_loses(store: Store) -> None:
    base = await store.put_session(new_session(), expected_rev=0)
    tick_copy = await store.get_session("fix-login")
    rpc_copy = await store.get_session("fix-login")
    assert tick_copy is not None and rpc_copy is not None

    killed = await store.put_session(
        msgspec.structs.replace(rpc_copy, state="killed"), rpc_copy.rev
    )
    with pytest.raises(StaleRevision) as lost:
        await store.put_session(msgspec.structs.replace(tick_copy, state="working"), tick_copy.rev)

    assert (lost.value.expected_rev, lost.value.actual_rev) == (base.rev, killed.rev)
    assert "re-read" in str(lost.value)
    assert await store.get_session("fix-login") == killed  # the kill was not overwritten


async def test_concurrent_writers_on_the_same_rev_exactly_one_wins(store: Store) -> None:
    base = await store.put_session(new_session(), expected_rev=0)
    winners: list[str] = []
    losers: list[str] = []

    async def write(state: str) -> None:
        try:
            await store.put_session(msgspec.structs.replace(base, state=state), base.rev)
        except StaleRevision:
            losers.append(state)
        else:
            winners.append(state)

    async with trio.open_nursery() as nursery:
        for i in range(8):
            nursery.start_soon(write, f"state-{i}")

    assert len(winners) == 1 and len(losers) == 7
    stored = await store.get_session("fix-login")
    assert stored is not None and (stored.state, stored.rev) == (winners[0], base.rev + 1)


async def test_unchanged_record_is_not_written_again(store: Store) -> None:
    stored = await store.put_session(new_session(), expected_rev=0)
    before = os.stat(session_file(store, "fix-login"))

    same = await store.put_session(new_session(), expected_rev=stored.rev)

    after = os.stat(session_file(store, "fix-login"))
    assert same == stored  # rev not bumped: nothing was written
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    # ...and the caller's copy is still current: the next real change goes through.
    changed = await store.put_session(msgspec.structs.replace(same, state="working"), same.rev)
    assert changed.rev == stored.rev + 1
    assert os.stat(session_file(store, "fix-login")).st_ino != before.st_ino


async def test_listing_and_counting(store: Store) -> None:
    for session_id in ("b-second", "a-first"):
        await store.put_session(new_session(session_id), expected_rev=0)
    sessions_dir = store.root / "sessions"
    (sessions_dir / "no-record-yet").mkdir()
    (sessions_dir / "Not-An-Id").mkdir()
    (sessions_dir / "stray-file").write_text("x")

    assert await store.count_sessions() == 2
    assert [s.id for s in await store.list_sessions()] == ["a-first", "b-second"]
    assert (sessions_dir / "Not-An-Id").is_dir()  # not ours: ignored, not touched


# ---------------------------------------------------------------------------------------------
# Quarantine and schema versions.
# ---------------------------------------------------------------------------------------------

CORRUPT_RECORDS = {
    "garbage": b"\x00\xffnot json",
    "empty": b"",
    "truncated": b'{"schema": 1, "rev": 3, "id": "broken", "proj',
    "not-an-object": b"[1, 2, 3]",
    "missing-field": b'{"schema": 1, "rev": 1, "id": "broken"}',
    "wrong-type": b'{"schema": 1, "rev": "one", "id": "broken"}',
    "impossible-schema": b'{"schema": 0, "rev": 1, "id": "broken", "project": "p",'
    b' "created_at": "t", "updated_at": "t"}',
    "id-of-another-session": msgspec.json.encode(new_session("someone-else")),
}


@pytest.mark.parametrize("content", CORRUPT_RECORDS.values(), ids=CORRUPT_RECORDS.keys())
async def test_corrupt_record_is_quarantined_and_the_rest_still_listed(
    tmp_path: Path, content: bytes
) -> None:
    calls: list[tuple[Path, Path, str, int]] = []
    store = Store(
        tmp_path / "state",
        on_quarantine=lambda original, moved_to, reason: calls.append(
            (original, moved_to, reason, threading.get_ident())
        ),
    )
    store.prepare()
    good = [await store.put_session(new_session(i), expected_rev=0) for i in ("alpha", "omega")]
    broken = session_file(store, "broken")
    broken.parent.mkdir(mode=0o700)
    broken.write_bytes(content)

    with capture_logs() as logs:
        assert await store.list_sessions() == good

    assert not broken.exists()
    [(original, moved_to, reason, thread)] = calls
    assert original == broken and reason
    assert moved_to.parent == store.root / "quarantine"
    assert moved_to.read_bytes() == content
    assert thread == threading.get_ident()  # called in the trio task, not the worker thread
    [line] = [entry for entry in logs if entry["event"] == "store.quarantined"]
    assert line["log_level"] == "warning"
    assert (line["path"], line["moved_to"], line["reason"]) == (str(broken), str(moved_to), reason)
    assert await store.count_sessions() == 2


async def test_a_record_changed_behind_the_stores_back_is_read_again(store: Store) -> None:
    # Listing remembers each record by its file's identity; a change made by anything else
    # (another inode from an atomic replace, or the same file rewritten in place) is read anew,
    # and a record broken in place is quarantined, not served from memory.
    from aod.store import encode_record, replace_atomically

    first = await store.put_session(new_session("alpha"), expected_rev=0)
    assert await store.list_sessions() == [first]
    path = session_file(store, "alpha")
    changed = msgspec.structs.replace(first, reason="edited outside", rev=7)
    replace_atomically(path, encode_record(changed))
    assert await store.list_sessions() == [changed]
    again = msgspec.structs.replace(changed, reason="edited in place", rev=8)
    with open(path, "r+b") as f:  # the same inode, written over
        f.truncate(0)
        f.write(encode_record(again))
    assert await store.get_session("alpha") == again
    with open(path, "ab") as f:  # broken where it lies (a size of its own)
        f.write(b"\x00garbage")
    with capture_logs():
        assert await store.list_sessions() == []
    assert not path.exists()


async def test_quarantine_never_overwrites_an_earlier_file(tmp_path: Path) -> None:
    moved: list[Path] = []
    store = Store(tmp_path / "state", on_quarantine=lambda _o, to, _r: moved.append(to))
    store.prepare()
    broken = session_file(store, "broken")
    broken.parent.mkdir(mode=0o700)
    for content in (b"first", b"second", b"third"):
        broken.write_bytes(content)
        assert await store.get_session("broken") is None

    assert [p.read_bytes() for p in moved] == [b"first", b"second", b"third"]
    assert len(set(moved)) == 3
    assert sorted(p.name for p in (store.root / "quarantine").iterdir()) == sorted(
        p.name for p in moved
    )


def test_sync_api_reports_quarantine_in_the_calling_thread(store: Store) -> None:
    calls: list[int] = []
    reporting = Store(store.root, on_quarantine=lambda *_: calls.append(threading.get_ident()))
    broken = session_file(store, "broken")
    broken.parent.mkdir(mode=0o700)
    broken.write_bytes(b"{")
    assert reporting.list_sessions_sync() == []
    assert calls == [threading.get_ident()]


async def test_a_write_over_a_corrupt_record_quarantines_it_first(store: Store) -> None:
    broken = session_file(store, "broken")
    broken.parent.mkdir(mode=0o700)
    broken.write_bytes(b"{")
    stored = await store.put_session(new_session("broken"), expected_rev=0)
    assert stored.rev == 1
    assert [p.read_bytes() for p in (store.root / "quarantine").iterdir()] == [b"{"]


async def test_a_record_from_a_newer_aod_is_refused_and_left_alone(tmp_path: Path) -> None:
    calls: list[object] = []
    store = Store(tmp_path / "state", on_quarantine=lambda *args: calls.append(args))
    store.prepare()
    newer = session_file(store, "from-future")
    newer.parent.mkdir(mode=0o700)
    # Fields this version does not know, and known ones in a new shape: still not "corrupt".
    content = json.dumps(
        {"schema": SCHEMA_VERSION + 1, "rev": 7, "id": "from-future", "state": {"name": "x"}}
    ).encode()
    newer.write_bytes(content)

    with pytest.raises(UnsupportedSchema, match="newer aod") as refused:
        await store.get_session("from-future")
    assert refused.value.schema == SCHEMA_VERSION + 1 and refused.value.path == newer
    # Listing goes on without it (the tick and `aoctl status` keep working), and says so once.
    with capture_logs() as logs:
        assert await store.list_sessions() == []
        assert await store.list_sessions() == []
    assert [entry["event"] for entry in logs] == ["store.newer_schema"]
    with pytest.raises(UnsupportedSchema):
        await store.put_session(new_session("from-future"), expected_rev=7)

    assert newer.read_bytes() == content
    assert list((store.root / "quarantine").iterdir()) == []
    assert calls == []


# ---------------------------------------------------------------------------------------------
# Ids are validated at the boundary.
# ---------------------------------------------------------------------------------------------

BAD_IDS = ["../x", "A", "", "a" * 70, "a" * 64, "-leading", "a/b", "a.b", "fix\n", ".", "é"]


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_invalid_session_ids_are_rejected_everywhere(store: Store, bad: str) -> None:
    before = sorted(str(p) for p in store.root.parent.rglob("*"))
    for attempt in (
        store.get_session(bad),
        store.put_session(new_session(bad), expected_rev=0),
        store.append_journal(bad, {"event": "x"}),
        store.journal_tail(bad, 5),
        store.archive_session(bad),
    ):
        with pytest.raises(ValueError, match="invalid session id"):
            await attempt
    assert sorted(str(p) for p in store.root.parent.rglob("*")) == before


@pytest.mark.parametrize("good", ["a", "7", "a" * 63, "fix-login-2", "0-trailing-"])
async def test_valid_session_ids_are_accepted(store: Store, good: str) -> None:
    stored = await store.put_session(new_session(good), expected_rev=0)
    assert await store.get_session(good) == stored


# ---------------------------------------------------------------------------------------------
# Journal.
# ---------------------------------------------------------------------------------------------


class Transition(msgspec.Struct):
    kind: str
    to: str


def journal_file(store: Store, session_id: str) -> Path:
    return store.root / "sessions" / session_id / "journal.jsonl"


async def test_journal_append_and_tail(store: Store) -> None:
    await store.put_session(new_session(), expected_rev=0)
    assert await store.journal_tail("fix-login", 5) == []

    await store.append_journal("fix-login", Transition(kind="transition", to="working"))
    for i in range(1, 5):
        await store.append_journal("fix-login", {"kind": "note", "i": i})

    assert await store.journal_tail("fix-login", 2) == [
        {"kind": "note", "i": 3},
        {"kind": "note", "i": 4},
    ]
    everything = await store.journal_tail("fix-login", 100)
    assert everything[0] == {"kind": "transition", "to": "working"} and len(everything) == 5
    assert await store.journal_tail("fix-login", 0) == []
    lines = journal_file(store, "fix-login").read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 6  # one JSON object per line, newline-terminated


async def test_journal_skips_a_torn_last_line_and_the_next_append_starts_fresh(
    store: Store,
) -> None:
    await store.put_session(new_session(), expected_rev=0)
    await store.append_journal("fix-login", {"n": 1})
    with journal_file(store, "fix-login").open("ab") as journal:
        journal.write(b'{"n": 2, "cut sh')  # a crash in the middle of an append

    assert await store.journal_tail("fix-login", 10) == [{"n": 1}]

    await store.append_journal("fix-login", {"n": 3})
    assert await store.journal_tail("fix-login", 10) == [{"n": 1}, {"n": 3}]
    assert await store.journal_tail("fix-login", 1) == [{"n": 3}]
    assert journal_file(store, "fix-login").read_bytes().endswith(b'cut sh\n{"n":3}\n')


async def test_journal_rejects_what_is_not_an_object_or_not_a_session(store: Store) -> None:
    await store.put_session(new_session(), expected_rev=0)
    with pytest.raises(TypeError, match="JSON object"):
        await store.append_journal("fix-login", ["not", "an", "object"])  # type: ignore[arg-type]
    with pytest.raises(NoSuchSession):
        await store.append_journal("never-spawned", {"n": 1})
    assert not (store.root / "sessions" / "never-spawned").exists()
    with pytest.raises(ValueError):
        await store.journal_tail("fix-login", -1)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_journal_tail_reads_only_the_end_of_a_huge_file(store: Store) -> None:
    store.put_session_sync(new_session(), expected_rev=0)
    journal = journal_file(store, "fix-login")
    with journal.open("wb") as f:
        f.truncate(256 * 1024 * 1024)  # sparse: 256 MiB of old history, no disk used
        f.seek(0, os.SEEK_END)
        f.write(b"\n")
    for i in range(3):
        store.append_journal_sync("fix-login", {"i": i})

    def bytes_read_so_far() -> int:
        counters = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
        return int(counters["rchar"])

    before = bytes_read_so_far()
    tail = store.journal_tail_sync("fix-login", 2)
    read = bytes_read_so_far() - before

    assert tail == [{"i": 1}, {"i": 2}]
    assert read < 1024 * 1024, f"journal_tail read {read} bytes of a 256 MiB journal"


@given(
    content=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"{}", b"xyz"]), max_size=30).map(
        b"".join
    ),
    block=st.integers(min_value=1, max_value=9),
)
def test_backwards_line_reader_agrees_with_splitting_the_whole_file(
    content: bytes, block: int
) -> None:
    *complete, _torn_tail = content.split(b"\n")
    with tempfile.TemporaryFile() as f:
        f.write(content)
        f.flush()
        lines = list(_complete_lines_backwards(f.fileno(), len(content), block))
    assert lines == complete[::-1]


# ---------------------------------------------------------------------------------------------
# Archive.
# ---------------------------------------------------------------------------------------------


async def test_archive_moves_the_whole_session_and_keeps_earlier_ones(store: Store) -> None:
    first = await store.put_session(new_session(), expected_rev=0)
    await store.append_journal("fix-login", {"kind": "done"})

    await store.archive_session("fix-login")

    archived = store.root / "archive" / "fix-login"
    assert msgspec.json.decode((archived / "session.json").read_bytes(), type=Session) == first
    assert (archived / "journal.jsonl").read_bytes() == b'{"kind":"done"}\n'
    assert not (store.root / "sessions" / "fix-login").exists()
    assert await store.get_session("fix-login") is None
    assert await store.count_sessions() == 0
    with pytest.raises(NoSuchSession):
        await store.archive_session("fix-login")
    # A stale writer that still holds the archived copy cannot resurrect it.
    with pytest.raises(StaleRevision):
        await store.put_session(msgspec.structs.replace(first, state="working"), first.rev)

    # The same id used again is archived beside the first, which is kept intact.
    await store.put_session(new_session(project="second"), expected_rev=0)
    await store.archive_session("fix-login")
    again = store.root / "archive" / "fix-login.1"
    assert json.loads((again / "session.json").read_bytes())["project"] == "second"
    assert (archived / "journal.jsonl").exists()


async def test_the_journal_of_an_archived_session_is_read_from_the_archive(store: Store) -> None:
    assert await store.archived_journal_tail("fix-login", 10) is None  # never archived
    await store.put_session(new_session(), expected_rev=0)
    for n in range(3):
        await store.append_journal("fix-login", {"kind": "step", "n": n})
    await store.archive_session("fix-login")
    assert await store.archived_journal_tail("fix-login", 2) == [{"kind": "step", "n": 1}, {"kind": "step", "n": 2}]
    assert await store.journal_tail("fix-login", 10) == []  # the live one is gone
    # Archived again under the same id: the newest archive speaks (fix-login.2 after .1).
    for number in (1, 2):
        await store.put_session(new_session(project=f"p{number}"), expected_rev=0)
        await store.append_journal("fix-login", {"kind": "again", "n": number})
        await store.archive_session("fix-login")
    assert await store.archived_journal_tail("fix-login", 5) == [{"kind": "again", "n": 2}]
    assert await store.archived_journal_tail("fix", 5) is None  # a prefix is not the id
    with pytest.raises(ValueError):
        await store.archived_journal_tail("../fix-login", 5)


# ---------------------------------------------------------------------------------------------
# prepare(): layout, permissions, temp leftovers.
# ---------------------------------------------------------------------------------------------


def test_prepare_creates_a_private_layout_and_sweeps_temp_leftovers(tmp_path: Path) -> None:
    root = tmp_path / "state"
    store = Store(root)
    assert not root.exists()  # the constructor does no I/O
    store.prepare()
    for name in ("", "sessions", "ledger", "archive", "quarantine"):
        assert stat.S_IMODE(os.stat(root / name).st_mode) == 0o700, name

    store.put_session_sync(new_session(), expected_rev=0)
    session_dir = root / "sessions" / "fix-login"
    leftovers = [
        session_dir / ".session.json.k2j4h1.tmp",
        root / ".aod.lock.x7.tmp",
        root / "ledger" / ".2025-01.jsonl.abc.tmp",
    ]
    kept = [
        session_dir / "notes.tmp",  # not hidden: not one of ours
        root / "quarantine" / ".session.json.q1.tmp",  # evidence stays as it is
        root / "archive" / ".session.json.a1.tmp",
    ]
    for path in leftovers + kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half a record")

    store.prepare()
    store.prepare()  # idempotent

    assert [p for p in leftovers if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    assert store.get_session_sync("fix-login") is not None


# ---------------------------------------------------------------------------------------------
# Single instance: the lock, across real processes.
# ---------------------------------------------------------------------------------------------

TRY_LOCK = """
import sys
from pathlib import Path
from aod.store import AlreadyRunning, Store
try:
    Store(Path(sys.argv[1])).acquire_lock()
except AlreadyRunning as refused:
    print(f"refused {refused.pid} {refused.lock_path}")
    print(refused, file=sys.stderr)
else:
    print("acquired")
"""

HOLD_LOCK = """
import sys
from pathlib import Path
from aod.store import Store
Store(Path(sys.argv[1])).acquire_lock()
print("locked", flush=True)
sys.stdin.read()  # hold the lock until killed
"""


def run_python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60
    )


def test_a_second_process_is_refused_with_the_holders_pid(store: Store) -> None:
    store.acquire_lock()
    try:
        assert store.lock_path.read_text() == f"{os.getpid()}\n"
        refused = run_python(TRY_LOCK, str(store.root))
        assert refused.stdout == f"refused {os.getpid()} {store.lock_path}\n", refused.stderr
        assert f"pid {os.getpid()}" in refused.stderr
    finally:
        store.release_lock()
    assert store.lock_path.read_text() == ""  # no stale pid left behind
    assert run_python(TRY_LOCK, str(store.root)).stdout == "acquired\n"


def test_the_lock_vanishes_when_the_holder_is_killed(store: Store) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(store.root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(AlreadyRunning) as refused:
            Store(store.root).acquire_lock()
        assert refused.value.pid == holder.pid
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=60)
        holder.stdin.close()  # type: ignore[union-attr]
        holder.stdout.close()  # type: ignore[union-attr]
    assert holder.returncode == -signal.SIGKILL

    store.acquire_lock()
    try:
        assert store.lock_path.read_text() == f"{os.getpid()}\n"
    finally:
        store.release_lock()


# -- the reaction ledger ----------------------------------------------------------------------------


async def test_ledger_is_compare_and_set_and_archived_with_its_session(store: Store) -> None:
    from aod.model import Intent, SessionLedger

    await store.put_session(new_session(), 0)
    empty = await store.get_ledger("fix-login")
    assert (empty.rev, empty.intents) == (0, [])
    intent = Intent(fingerprint="fix-login:ci-failed:abc:send-to-agent", kind="send-to-agent", key="ci-failed", subject="abc")
    first = await store.put_ledger(msgspec.structs.replace(empty, intents=[intent]), 0)
    assert first.rev == 1 and (await store.get_ledger("fix-login")).intents == [intent]
    with pytest.raises(StaleRevision):
        await store.put_ledger(SessionLedger(session="fix-login"), 0)  # a writer that read rev 0 loses

    await store.archive_session("fix-login")
    archived = store.root / "archive" / "fix-login" / "reactions.json"
    assert json.loads(archived.read_text())["intents"][0]["fingerprint"] == intent.fingerprint
    # A late write for an archived session records nothing (and recreates no directory).
    with pytest.raises(NoSuchSession):
        await store.put_ledger(first, first.rev)
    assert not (store.root / "sessions" / "fix-login").exists()


async def test_a_corrupt_ledger_is_quarantined_and_starts_afresh(store: Store) -> None:
    await store.put_session(new_session(), 0)
    (store.root / "sessions" / "fix-login" / "reactions.json").write_text('{"schema": 1, "rev": 3, "sess')
    assert (await store.get_ledger("fix-login")).rev == 0
    assert any("reactions.json" in p.name for p in (store.root / "quarantine").iterdir())



async def test_pr_view_is_compare_and_set_and_archived_with_its_session(store: Store) -> None:
    from aod.model import SessionPr

    await store.put_session(new_session(), 0)
    assert (await store.get_pr_view("fix-login")).facts is None
    facts = {"number": "7", "head_sha": "abc", "checks": "failing", "failing": [{"name": "ci", "conclusion": "failure", "log_excerpt": "FAILED"}]}
    first = await store.put_pr_view(SessionPr(session="fix-login", facts=facts, changed_at="2026-12-01T10:00:00Z"), 0)
    assert first.rev == 1 and (await Store(store.root).get_pr_view("fix-login")).facts == facts
    with pytest.raises(StaleRevision):
        await store.put_pr_view(SessionPr(session="fix-login"), 0)
    await store.archive_session("fix-login")
    assert json.loads((store.root / "archive" / "fix-login" / "pr.json").read_text())["facts"]["number"] == "7"
    with pytest.raises(NoSuchSession):
        await store.put_pr_view(first, first.rev)


# -- port blocks ---------------------------------------------------------------------------------


async def test_port_blocks_are_unique_across_projects_and_freed_by_archiving(store: Store) -> None:
    web = await store.reserve_session_id("web")
    api = await store.reserve_session_id("api")
    assert (web, api) == ("web-1", "api-1")  # the same number in two projects
    assert await store.allocate_ports(web, 20000, 10) == 20000
    assert await store.allocate_ports(api, 20000, 10) == 20010
    assert await store.allocate_ports(web, 20000, 10) == 20000  # asked again: the same block
    await store.put_session(new_session(web, port_base=20000), 0)
    await store.archive_session(web)
    web2 = await store.reserve_session_id("web")
    assert await store.allocate_ports(web2, 20000, 10) == 20000  # the archived session's block
    # A reserved id given up (a spawn that failed early) frees its block too.
    await store.release_session_id(api)
    assert await store.allocate_ports(await store.reserve_session_id("shop"), 20000, 10) == 20010
    assert json.loads((store.root / "ports.json").read_text())["blocks"] == {
        "shop-1": {"first": 20010, "size": 10}, "web-2": {"first": 20000, "size": 10},
    }


async def test_blocks_of_another_size_or_base_never_overlap(store: Store) -> None:
    ids = [await store.reserve_session_id("p") for _ in range(3)]
    assert await store.allocate_ports(ids[0], 20000, 10) == 20000
    assert await store.allocate_ports(ids[1], 20005, 10) == 20015  # 20005 would overlap 20000-20009
    assert await store.allocate_ports(ids[2], 20000, 100) == 20100


async def test_an_allocator_starts_from_the_blocks_sessions_already_have(store: Store) -> None:
    # Sessions from before the allocator (or after its file was lost) keep their blocks.
    old = await store.reserve_session_id("web")
    await store.put_session(new_session(old, port_base=20000), 0)
    (store.root / "ports.json").write_text("{not json")
    new = await store.reserve_session_id("api")
    assert await store.allocate_ports(new, 20000, 10) == 20010
    assert list((store.root / "quarantine").iterdir())  # the unreadable file is kept aside


def test_concurrent_allocations_never_share_a_block(store: Store) -> None:
    ids = [store.reserve_session_id_sync(f"p{n}") for n in range(16)]
    got: list[int] = []
    threads = [threading.Thread(target=lambda sid=sid: got.append(store.allocate_ports_sync(sid, 30000, 5))) for sid in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == [30000 + 5 * n for n in range(16)]


async def test_running_out_of_ports_says_what_frees_them(store: Store) -> None:
    first = await store.reserve_session_id("p")
    assert await store.allocate_ports(first, 65000, 500) == 65000
    with pytest.raises(NoFreePorts, match="aoctl cleanup"):
        await store.allocate_ports(await store.reserve_session_id("p"), 65000, 500)
