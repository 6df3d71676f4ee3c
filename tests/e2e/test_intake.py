"""Issue intake end to end: aod and aoctl as processes, the local forge's issues, real git
worktrees and tmux with the scripted agent. Matching issues get one worker each, within the
orchestrator's max_workers, never twice: not after a kill, not after a restart, not after aod
was SIGKILLed between writing its ledger and spawning (failpoints).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, start_fleet
from tests.support.tmux import tmux_server

INTAKE = (
    "orchestrator: {max_workers: 2}\n"
    "projects:\n"
    "  demo:\n"
    "    intake: {labels: [ao], every: 1s}\n"
)


def workers(fleet: Fleet) -> dict[str, list[str]]:
    """Issue -> its sessions' ids, every session (killed ones too)."""
    found: dict[str, list[str]] = {}
    for s in fleet.ok("status"):
        if s["issue"]:
            found.setdefault(s["issue"], []).append(s["id"])
    return found


def ledger(fleet: Fleet) -> dict[str, str]:
    path = fleet.aod.state_dir / "intake" / "demo.json"
    return json.loads(path.read_text())["taken"] if path.exists() else {}


def test_matching_issues_get_one_worker_each_within_the_limit_and_never_a_second(
    make_aod: Callable[..., AodProcess], tmp_path: Path
) -> None:
    with tmux_server() as tmux:
        fleet = start_fleet(make_aod, tmp_path, tmux, INTAKE)
        for title, labels in (("one", ["ao"]), ("two", ["ao", "bug"]), ("three", ["ao"]), ("not ours", ["bug"])):
            fleet.ok("issue", "add", "--title", title, *[a for label in labels for a in ("-l", label)])
        wait_for(lambda: sorted(workers(fleet)) == ["1", "2"], 30, "workers on the first two issues")
        first = workers(fleet)
        assert all(len(ids) == 1 for ids in first.values())
        assert ledger(fleet) == {"1": first["1"][0], "2": first["2"][0]}
        # Full (max_workers 2): issue 3 waits. A kill makes room, and issue 1 is not taken again.
        fleet.ok("kill", first["1"][0])
        wait_for(lambda: "3" in workers(fleet), 30, "a worker on issue 3 once there was room")
        assert workers(fleet)["1"] == first["1"] and "4" not in workers(fleet)

        # A restart reads the ledger: nothing new, nothing twice.
        fleet.aod.stop()
        fleet.aod.start()
        seen = fleet.aod.result("daemon.status")["last_tick"]
        count = seen["count"] if seen else 0
        wait_for(lambda: (fleet.aod.result("daemon.status")["last_tick"] or {"count": 0})["count"] >= count + 10, 30, "ten ticks")
        fleet.ok("kill", workers(fleet)["2"][0])  # room again: still nothing it took before
        wait_for(lambda: (fleet.aod.result("daemon.status")["last_tick"] or {"count": 0})["count"] >= count + 20, 30, "ten more ticks")
        after = workers(fleet)
        assert {issue: len(ids) for issue, ids in after.items()} == {"1": 1, "2": 1, "3": 1}


@pytest.mark.parametrize("point", ["intake-noted", "intake-spawned"])
def test_a_crash_between_the_ledger_and_the_spawn_starts_the_worker_once(
    make_aod: Callable[..., AodProcess], tmp_path: Path, point: str
) -> None:
    with tmux_server() as tmux:
        markers = tmp_path / "failpoints"
        fleet = start_fleet(make_aod, tmp_path, tmux, INTAKE, extra_env={"AOD_FAILPOINTS": point, "AOD_FAILPOINTS_DIR": str(markers)})
        fleet.ok("issue", "add", "--title", "one", "-l", "ao")
        assert fleet.aod.wait_exit(30) == -9  # SIGKILLed at the point, as a power cut would
        assert ledger(fleet)["1"].startswith("spawning:intake:local:demo:1")
        fleet.aod.start()
        wait_for(lambda: not ledger(fleet)["1"].startswith("spawning:"), 30, "the ledger to name the worker")
        assert workers(fleet) == {"1": [ledger(fleet)["1"]]}
