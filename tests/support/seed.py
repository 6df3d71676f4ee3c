"""Session records written straight into a state dir with aod's own store, for tests and
benchmarks that need many sessions without spawning agents (aod must not be running), and idle
tmux panes for them to point at."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path


def now_iso() -> str:
    from aod.model import iso_utc

    return iso_utc(datetime.now(UTC))


def seed_sessions(state_dir: Path, count: int, project: str = "bench", panes: dict[str, tuple[str, int]] | None = None,
                  tmux_socket: str | None = None, workspace: str = "",
                  workspaces: dict[str, str] | None = None) -> list[str]:
    """Write `count` live session records straight into `state_dir` with aod's own store (no
    aod running). With `panes` (tmux session name -> (pane id, pid)), each record points at
    its pane; without, the records have no runtime (nothing to probe: enough for listings).
    `workspaces` (session id -> path) overrides `workspace` for the sessions it names."""
    from aod.model import RuntimeHandle, Session
    from aod.store import Store

    store = Store(state_dir)
    store.acquire_lock()
    try:
        store.prepare()
        now = now_iso()
        ids = []
        for n in range(1, count + 1):
            sid = f"{project}-{n}"
            runtime = None
            if panes is not None:
                pane_id, pid = panes[sid]
                runtime = RuntimeHandle(kind="tmux", name=sid, pane_id=pane_id, pid=pid, socket=tmux_socket)
            session = Session(
                id=sid,
                project=project,
                state="working",
                reason="benchmark",
                since=now,
                created_at=now,
                updated_at=now,
                task=f"benchmark task {n}: make the thing do the other thing",
                agent="fake",
                branch=f"ao/{sid}",
                base_branch="main",
                workspace=(workspaces or {}).get(sid, workspace),
                runtime=runtime,
                activity="idle",
                activity_at=now,
                delivered_seq=1,
            )
            store.put_session_sync(session, 0)
            ids.append(sid)
        return ids
    finally:
        store.release_lock()


# What the panes of `make_idle_panes` run, by the kind of agent they stand for.
PANE_PROGRAMS: dict[str, list[str]] = {
    # waiting at its prompt
    "prompt": ["sh", "-c", 'printf "> "; exec sleep 1000000'],
    # a custom command or a long build that prints nothing at all
    "silent": ["sh", "-c", "exec sleep 1000000"],
    # at work: a new line of output every second (letters too: changing digits alone are a
    # clock, not progress, to aod)
    "busy": ["sh", "-c", "while :; do head -c 9 /dev/urandom | base64; sleep 1; done"],
}


def make_idle_panes(tmux: str, names: Sequence[str], batch: int = 50, kind: str = "prompt") -> dict[str, tuple[str, int]]:
    """One tmux session per name on server `tmux`, each running the program of `kind`
    (`PANE_PROGRAMS`; by default one that shows a prompt, `> `, as an agent waiting at its
    prompt does). Returns name -> (pane id, pid)."""
    program = PANE_PROGRAMS[kind]
    for start in range(0, len(names), batch):
        args: list[str] = ["tmux", "-L", tmux, "-f", "/dev/null"]
        for i, name in enumerate(names[start:start + batch]):
            if i:
                args.append(";")
            args += ["new-session", "-d", "-s", name, "-x", "120", "-y", "40", "--", *program]
        subprocess.run(args, check=True, capture_output=True, timeout=60)
    out = subprocess.run(
        ["tmux", "-L", tmux, "list-panes", "-a", "-F", "#{session_name} #{pane_id} #{pane_pid}"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout
    panes = {}
    for line in out.splitlines():
        name, pane_id, pid = line.split()
        panes[name] = (pane_id, int(pid))
    missing = set(names) - set(panes)
    if missing:
        raise RuntimeError(f"tmux did not start {len(missing)} panes")
    return panes
