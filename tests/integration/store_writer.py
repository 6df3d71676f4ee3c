"""Crash-test helper: writer processes that rewrite one session record until they are killed.

    python store_writer.py STATE_DIR SESSION_ID PAYLOAD_BYTES

A tiny fork server, so that each of the crash test's victims starts in well under a millisecond
instead of paying Python's and trio's import time again. For every `spawn` line on stdin it
forks a writer and prints `child <pid>`. The writer loops forever: read the record, store it
back with the next payload (compare-and-set on `rev`), print `wrote <rev>`. When the writer
dies the server prints `ended <pid> <wait status>` (after everything the writer printed, since
the writer is dead by then). EOF on stdin ends the server.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import NoReturn

import msgspec

from aod.model import Session
from aod.store import Store

STAMP_TIME = "2025-01-02T03:04:05Z"


def payload_for(rev: int, size: int) -> str:
    """`size` characters, different for every rev, so that a torn file, or one mixing two
    writes, cannot pass for a complete one."""
    stamp = f"<rev {rev}>"
    return (stamp * (size // len(stamp) + 1))[:size]


def write_forever(store: Store, session_id: str, size: int) -> NoReturn:
    while True:
        current = store.get_session_sync(session_id)
        base = current or Session(
            id=session_id, project="", created_at=STAMP_TIME, updated_at=STAMP_TIME
        )
        rev = 0 if current is None else current.rev
        next_version = msgspec.structs.replace(base, project=payload_for(rev + 1, size))
        stored = store.put_session_sync(next_version, expected_rev=rev)
        os.write(sys.stdout.fileno(), f"wrote {stored.rev}\n".encode())


def serve(store: Store, session_id: str, size: int) -> None:
    for command in sys.stdin:
        if command.strip() != "spawn":
            raise SystemExit(f"store_writer: unknown command {command!r}")
        pid = os.fork()
        if pid == 0:
            try:
                write_forever(store, session_id, size)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(1)  # never return into the server's loop in the child
        os.write(sys.stdout.fileno(), f"child {pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(sys.stdout.fileno(), f"ended {pid} {status}\n".encode())


if __name__ == "__main__":
    root, session_id, size = sys.argv[1:]
    serve(Store(Path(root)), session_id, int(size))
