"""SIGKILL a writer at random points in its atomic rewrites: the record is never torn.

The writer (tests/integration/store_writer.py) rewrites one ~200 KB record in a loop through the
real Store; each payload is unique to its rev. After every kill the record must decode and be
exactly one complete version: the last one the writer reported, or the one it was finishing.
"""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from aod.store import Store
from tests.integration.store_writer import payload_for

WRITER = Path(__file__).with_name("store_writer.py")
SESSION_ID = "victim"
PAYLOAD_BYTES = 200_000
KILLS = 30
# Kills land at random, so a few may all miss the write window (a temp file written but not
# yet renamed) on a fast disk; then keep killing, up to this many, until enough of them hit it.
MIN_KILLS_MID_WRITE = 3
MAX_KILLS = 150
# A rewrite of 200 KB (encode, write, fsync, rename, fsync the dir) takes about a millisecond
# or a few; killing within this window after a completed write lands anywhere in the next ones.
MAX_KILL_DELAY_S = 0.004
SILENCE_LIMIT_S = 30.0


class LineReader:
    """Lines from a child's stdout, failing loudly instead of hanging if the child goes quiet."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._fd = stream.fileno()
        self._buffer = b""

    def next(self) -> str:
        deadline = time.monotonic() + SILENCE_LIMIT_S
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._fd], [], [], max(remaining, 0.0))
            if not ready:
                raise AssertionError(f"the writer said nothing for {SILENCE_LIMIT_S} s")
            chunk = os.read(self._fd, 65536)
            if not chunk:
                raise AssertionError("the writer server exited unexpectedly (see stderr)")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def expect(self, keyword: str) -> list[str]:
        words = self.next().split()
        assert words[0] == keyword, f"expected {keyword!r} from the writer, got {words}"
        return words[1:]


def temp_leftovers(root: Path) -> list[Path]:
    return list(root.rglob(".*.tmp"))


def test_sigkill_mid_write_never_leaves_a_torn_record(tmp_path: Path) -> None:
    root = tmp_path / "state"
    Store(root).prepare()
    quarantined: list[tuple[Path, Path, str]] = []
    reader_store = Store(root, on_quarantine=lambda *args: quarantined.append(args))
    # Seeded, printed and replayable (AOD_SEED=N), as tests/reliability/test_crash.py.
    seed = int(os.environ.get("AOD_SEED", "0")) or random.randrange(1, 1 << 30)
    print(f"seed {seed} (AOD_SEED={seed} replays the kill points)")
    rng = random.Random(seed)
    server = subprocess.Popen(
        [sys.executable, str(WRITER), str(root), SESSION_ID, str(PAYLOAD_BYTES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,
    )
    assert server.stdin is not None and server.stdout is not None
    lines = LineReader(server.stdout)
    victim: int | None = None
    kills = kills_mid_write = 0
    known_leftovers: set[Path] = set()
    try:
        while kills < KILLS or (kills_mid_write < MIN_KILLS_MID_WRITE and kills < MAX_KILLS):
            server.stdin.write(b"spawn\n")
            [pid] = lines.expect("child")
            victim = int(pid)
            [reported] = lines.expect("wrote")  # the victim is inside its write loop
            # Choosing the kill point, not waiting for anything.
            time.sleep(rng.uniform(0, MAX_KILL_DELAY_S))
            os.kill(victim, signal.SIGKILL)
            while (words := lines.next().split())[0] == "wrote":
                reported = words[1]
            assert words[:2] == ["ended", str(victim)], words
            status = int(words[2])
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
            victim = None
            kills += 1
            leftovers = set(temp_leftovers(root))
            kills_mid_write += bool(leftovers - known_leftovers)
            known_leftovers = leftovers

            record = reader_store.get_session_sync(SESSION_ID)
            assert record is not None and quarantined == [], f"seed {seed}: {quarantined}"
            last_reported = int(reported)
            assert record.rev in (last_reported, last_reported + 1), f"seed {seed}"
            assert record.project == payload_for(record.rev, PAYLOAD_BYTES), f"seed {seed}"
    finally:
        if victim is not None:
            os.kill(victim, signal.SIGKILL)
        server.stdin.close()
        server.wait(timeout=SILENCE_LIMIT_S)
        server.stdout.close()
    assert server.returncode == 0

    # The kills must have hit the window that matters, or this test would pass just as well
    # without atomic writes.
    assert kills_mid_write >= MIN_KILLS_MID_WRITE, f"seed {seed}: {kills_mid_write} of {kills} kills hit a write"

    # Whatever the kills left behind, plus a planted leftover, goes at the next start-up.
    planted = root / "sessions" / SESSION_ID / ".session.json.planted.tmp"
    planted.write_bytes(b'{"schema": 1, "rev": 99, "id": "vic')
    survivor = reader_store.get_session_sync(SESSION_ID)
    reader_store.prepare()
    assert temp_leftovers(root) == []
    assert reader_store.get_session_sync(SESSION_ID) == survivor
