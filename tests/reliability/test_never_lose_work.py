"""Issue 14, "never lose work": git-ignored files are work (R7b), and a full or read-only state
directory is a documented error, never a misrecorded session (R12).

R7 (tests/reliability/test_dirty_worktree.py) covers what `git status` shows; these cover what it
does not: an agent's `build/notes.txt` under an ignored `build/`, a `run.log`, an edited `.env`,
which removing the worktree deletes just the same.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.reliability.test_dirty_worktree import tree_digest
from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.tmux import tmux_server

IGNORE = ".env\nbuild/\n*.log\nnode_modules/\n__pycache__/\n"


def ignore_more(fleet: Fleet) -> None:
    (fleet.repo / ".gitignore").write_text(IGNORE)
    git(fleet.repo, "commit", "-q", "-am", "ignore build outputs and logs")


def spawn_and_end(fleet: Fleet) -> tuple[str, Path]:
    sid = fleet.ok("spawn", "--task", "work")["id"]
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    fleet.ok("kill", sid)
    return sid, Path(fleet.session(sid)["workspace"])


def leave_ignored_work(workspace: Path) -> None:
    """What an agent leaves that only ignore rules hide: all of it work, but for the
    disposable node_modules/ and __pycache__/."""
    (workspace / "build").mkdir()
    (workspace / "build" / "notes.txt").write_text("what I found out, not committed anywhere\n")
    (workspace / "run.log").write_text("the long test run's output\n")
    (workspace / ".env").write_text("SECRET=edited by the agent\n")  # was an unchanged copy (.worktreeinclude)
    (workspace / "node_modules" / "left-pad").mkdir(parents=True)
    (workspace / "node_modules" / "left-pad" / "index.js").write_text("module.exports = 1\n")
    (workspace / "pkg" / "__pycache__").mkdir(parents=True)
    (workspace / "pkg" / "__pycache__" / "mod.cpython-312.pyc").write_bytes(b"\x00\x01")


# The bug: aod/plugins/workspace/worktree.py workspace_status / is_dirty / write_snapshot leave
# ignored files out, so `aoctl cleanup` removed a worktree whose only dirt was ignored files:
# without --force, without a snapshot.
def test_cleanup_keeps_ignored_work_names_it_and_saves_it(make_fleet: Callable[..., Fleet], tmp_path: Path) -> None:
    fleet = make_fleet()
    ignore_more(fleet)
    sid, workspace = spawn_and_end(fleet)
    leave_ignored_work(workspace)
    assert git(workspace, "status", "--porcelain") == ""  # clean, as far as git status can tell
    on_disk = tree_digest(workspace)

    dry = fleet.ok("cleanup", "--dry-run")["items"]
    assert [(i["id"], i["action"]) for i in dry] == [(sid, "kept")], dry
    kept = fleet.ok("cleanup")["items"]
    assert [(i["id"], i["action"]) for i in kept] == [(sid, "kept")], kept
    reason = kept[0]["reason"]
    for name in (".env", "build/notes.txt", "run.log"):
        assert name in reason, reason
    assert "node_modules" not in reason and "__pycache__" not in reason, reason
    assert tree_digest(workspace) == on_disk  # kept means untouched

    ref = kept[0]["wip_ref"]
    assert git(fleet.repo, "show", f"{ref}:build/notes.txt") == "what I found out, not committed anywhere\n"
    assert git(fleet.repo, "show", f"{ref}:run.log") == "the long test run's output\n"
    saved = git(fleet.repo, "ls-tree", "-r", "--name-only", ref).split()
    assert not [n for n in saved if n.startswith("node_modules/") or "__pycache__" in n], saved

    removed = fleet.ok("cleanup", "--force")["items"]
    assert [(i["id"], i["action"]) for i in removed] == [(sid, "removed")]
    assert not workspace.exists()
    back = tmp_path / "back"
    git(fleet.repo, "worktree", "add", "-q", "--detach", str(back), f"ao/{sid}")
    git(back, "checkout", ref, "--", ".")  # the documented way back
    assert (back / "build" / "notes.txt").read_text() == "what I found out, not committed anywhere\n"
    assert (back / ".env").read_text() == "SECRET=edited by the agent\n"


def test_only_disposable_and_unchanged_copies_do_not_hold_cleanup_up(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    ignore_more(fleet)
    sid, workspace = spawn_and_end(fleet)
    (workspace / "node_modules" / "x").mkdir(parents=True)
    (workspace / "node_modules" / "x" / "big.js").write_text("// installed\n" * 1000)
    assert (workspace / ".env").read_text() == "SECRET=1\n"  # copied in by .worktreeinclude, unchanged
    removed = fleet.ok("cleanup")["items"]
    assert [(i["id"], i["action"]) for i in removed] == [(sid, "removed")], removed
    assert not workspace.exists()


def test_a_project_declares_its_own_disposable_files(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet("projects:\n  demo:\n    disposable: [build/, '*.log']\n")
    ignore_more(fleet)
    sid, workspace = spawn_and_end(fleet)
    (workspace / "build").mkdir()
    (workspace / "build" / "out.o").write_bytes(b"\x7fELF")
    (workspace / "run.log").write_text("noise\n")
    assert [(i["id"], i["action"]) for i in fleet.ok("cleanup")["items"]] == [(sid, "removed")]


# The automatic cleanup after a merge (the pr-merged reaction) goes through the same door: it is
# never forced, so ignored work keeps the worktree, and the reaction says why.
def test_the_cleanup_after_a_merge_keeps_ignored_work(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet(
        "projects:\n  demo:\n    open_pr: auto\n    auto_merge: true\n"
        "    reactions:\n      pr-merged: {threshold: 0s}\n"
    )
    ignore_more(fleet)
    sid = fleet.ok("spawn", "--task", "/fake write build/notes.txt my notes\n/fake write app.txt feature\n/fake commit add the feature")["id"]
    workspace = Path(fleet.session(sid)["workspace"])
    wait_for(lambda: (workspace / "build" / "notes.txt").exists(), 30, "the agent's notes")
    fleet.wait_state(sid, lambda s: s.get("pr_number") is not None, "aod to open the PR", 60)
    fleet.ok("review", sid, "--approve")

    def cleanup_done() -> dict[str, object] | None:
        return next(
            (e for e in fleet.journal(sid) if e.get("kind") == "reaction.done" and e.get("key") == "pr-merged" and e.get("action") == "cleanup"),
            None,
        )

    done = wait_for(cleanup_done, 90, "the pr-merged cleanup")
    assert str(done.get("outcome", "")).startswith("kept") and "build/notes.txt" in str(done), done
    assert (workspace / "build" / "notes.txt").read_text() == "my notes\n"
    assert fleet.session(sid)["state"] == "merged"


# -- R12: a full or read-only state directory ---------------------------------------------------


class TinyDisk:
    """A small tmpfs mounted over aod's state directory, and ways to fill it or make it read-only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.filler = path / "filler.bin"

    def fill(self) -> None:
        """Take every free page (again: aod frees some when it deletes a delivered message)."""
        fd = os.open(self.filler, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            for size in (65536, 4096, 1):
                try:
                    while True:
                        os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
        finally:
            os.close(fd)

    def free(self) -> None:
        self.filler.unlink()

    @contextmanager
    def read_only(self, directory: str) -> Iterator[None]:
        """`directory` (under the disk) read-only, through a read-only bind mount over it: the
        disk itself cannot be remounted while aod holds its lock file open for writing."""
        target = str(self.path / directory)
        subprocess.run(["mount", "--bind", target, target], check=True, capture_output=True)
        try:
            subprocess.run(["mount", "-o", "remount,bind,ro", target], check=True, capture_output=True)
            yield
        finally:
            subprocess.run(["umount", target], check=True, capture_output=True)


@pytest.fixture
def tiny_disk_fleet(make_aod: Callable[..., AodProcess]) -> Iterator[tuple[Fleet, TinyDisk]]:
    """A fleet whose state directory is a 4 MB tmpfs (skipped where mounting is not allowed)."""
    aod = make_aod()
    aod.state_dir.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", str(aod.state_dir)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        with tmux_server() as tmux:
            records = aod.root / "records"
            records.mkdir()
            aod.write_config(config_text(tmux, records))
            aod.start()
            fleet = Fleet(aod, tmux, make_repo(aod.root / "demo"))
            fleet.ok("project", "add", str(fleet.repo), "--name", "demo")
            yield fleet, TinyDisk(aod.state_dir)
            aod.stop()
    finally:
        aod.stop()
        subprocess.run(["umount", "-l", str(aod.state_dir)], capture_output=True)


def refused_for_storage(fleet: Fleet, *args: str) -> str:
    result = fleet.fails(*args)
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "internal error" not in result.stderr, result.stderr
    return result.stderr


def pane_alive(fleet: Fleet, sid: str) -> bool:
    return sid in fleet.tmux_sessions()


# The bug: ENOSPC from the store escaped as -32603 "internal error, see log" (send, spawn, issue
# add, kill); kill stopped the agent first and then failed to record it, so once space returned
# the tick found a `working` record with its agent gone: `errored: agent is gone`, urgent.
def test_a_full_state_directory_is_a_clear_error_and_nothing_is_misrecorded(
    tiny_disk_fleet: tuple[Fleet, TinyDisk],
) -> None:
    fleet, disk = tiny_disk_fleet
    sid = fleet.ok("spawn", "--task", "work")["id"]
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    # Settled: the first prompt's queue entry deleted (a deletion frees a page of the disk).
    fleet.wait_state(sid, lambda s: s["activity"] in ("idle", "ready") and s["pending_messages"] == 0, "the agent at its prompt")
    before = fleet.tmux_sessions()

    for args in (("send", sid, "a message that cannot be queued"), ("issue", "add", "--title", "no room"), ("kill", sid)):
        disk.fill()
        stderr = refused_for_storage(fleet, *args)
        assert "the state directory is full (No space left on device); free some space and retry" in stderr, stderr
    disk.fill()
    reply = fleet.aod.call("session.send", {"id": sid, "message": "raw"})
    assert reply["error"]["code"] == -32040 and reply["error"]["data"]["errno"] == "ENOSPC", reply
    disk.fill()
    assert "full" in refused_for_storage(fleet, "spawn", "--task", "no room for this one")
    assert pane_alive(fleet, sid)  # the kill that could not be recorded did not stop the agent
    assert fleet.tmux_sessions() == before  # and the spawn that could not be recorded started none

    disk.free()
    start = fleet.aod.result("daemon.status")["last_tick"]["count"]
    wait_for(lambda: fleet.aod.result("daemon.status")["last_tick"]["count"] >= start + 5, 30, "five ticks")
    info = fleet.session(sid)
    assert info["state"] == "working" and info["activity"] in ("idle", "ready"), info
    assert not [e for e in fleet.journal(sid) if str(e.get("kind", "")).startswith("reaction")]
    # The spawn refused for want of space left no live session behind (at most an errored record).
    assert all(s["state"] == "errored" for s in fleet.ok("status") if s["id"] != sid)
    fleet.ok("send", sid, "room again")
    fleet.wait_received(sid, "room again")
    fleet.ok("kill", sid)
    assert fleet.session(sid)["state"] == "killed" and not pane_alive(fleet, sid)
    log = fleet.aod.log()
    assert "handler crashed" not in log and "Traceback" not in log, log[-3000:]


def test_a_read_only_state_directory_is_a_clear_error(tiny_disk_fleet: tuple[Fleet, TinyDisk]) -> None:
    fleet, disk = tiny_disk_fleet
    sid = fleet.ok("spawn", "--task", "work")["id"]
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    with disk.read_only("sessions"):
        for args in (("send", sid, "nowhere to put this"), ("kill", sid)):
            stderr = refused_for_storage(fleet, *args)
            assert "read-only (Read-only file system); make it writable" in stderr, stderr
            assert f"{fleet.aod.state_dir}/sessions/{sid}/" in stderr  # where the write was refused
        assert pane_alive(fleet, sid)
        assert fleet.session(sid)["state"] == "working"
    fleet.ok("kill", sid)
    assert not pane_alive(fleet, sid)
