"""`runtime: container` end to end: a real aod, real podman (own storage, runc, an image built from
the host's files), the scripted agent inside the container, a real git worktree and tmux server.

A session lives in its container and sees only its worktree; kill -9 of aod and a restart adopt
it again (alive, messages still reach it); containers of sessions that ended while aod was down,
or that no record knows, go at start-up; kill and cleanup leave no container with its label.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.container_image import AGENT_IN_IMAGE, Engine, podman_missing, shared_engine
from tests.support.fleet import Fleet, git, make_repo
from tests.support.tmux import tmux_server

pytestmark = pytest.mark.skipif(podman_missing() is not None, reason=podman_missing() or "")


def container_config(tmux: str, records: Path, engine: Engine) -> str:
    # A program only the image has: aod looks for it there, not on its own PATH.
    agent = [AGENT_IN_IMAGE, "--style", "plain", "--record", str(records / "{session}.jsonl")]
    return (
        "poll_interval: 200ms\n"
        f"runtime: {{kind: container, tmux_socket: {tmux}, container: {engine.config_yaml(mounts=[f'{records}:{records}'])}}}\n"
        "defaults: {agent: fake}\n"
        "agents:\n"
        f"  fake: {{command: {json.dumps(agent)}, prompt: paste, ready_timeout: 30s}}\n"
    )


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Fleet]:
    engine = shared_engine()
    with tmux_server() as tmux:
        aod = make_aod(extra_env=engine.env)
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(container_config(tmux, records, engine))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        fleet.engine = engine  # type: ignore[attr-defined]
        yield fleet


def kill9_and_restart(fleet: Fleet, between: Callable[[], None] = lambda: None) -> None:
    assert fleet.aod.proc is not None
    fleet.aod.proc.send_signal(signal.SIGKILL)
    assert fleet.aod.proc.wait(30) == -signal.SIGKILL
    between()
    fleet.aod.start()


def test_a_session_in_a_container_survives_kill_9_and_is_reaped_by_cleanup(fleet: Fleet) -> None:
    engine: Engine = fleet.engine  # type: ignore[attr-defined]
    spawned = fleet.ok("spawn", "--task", "hello from the host")
    sid, workspace = spawned["id"], Path(spawned["workspace"])
    assert spawned["state"] == "working" and spawned["runtime"]["kind"] == "container"
    names = engine.labelled(f"ao.session={sid}")
    assert len(names) == 1 and names[0].endswith(f"-{sid}")
    daemon = json.loads(engine.podman("inspect", names[0]).stdout)[0]["Config"]["Labels"]["ao.daemon"]

    wait_for(lambda: fleet.received(sid), 40, "the first prompt inside the container")
    assert "hello from the host" in fleet.received(sid)[0]
    fleet.ok("send", sid, "a message for the box")
    fleet.wait_received(sid, "a message for the box")
    # The agent works in the worktree (mounted at its own path) and commits through git.
    fleet.ok("send", sid, "/fake write notes.txt written inside\n/fake commit inside the box")
    wait_for(lambda: "inside the box" in git(fleet.repo, "log", "-1", "--format=%s", f"ao/{sid}"), 40, "the agent's commit")
    assert (workspace / "notes.txt").read_text() == "written inside\n"
    assert fleet.ok("logs", sid, "--lines", "20")["alive"] == "alive"

    # kill -9 aod; meanwhile a container no record knows (left by a crash) appears.
    def leave_an_orphan() -> None:
        engine.podman(
            "run", "-d", "--name", f"ao-{daemon}-ghost-9", "--label", "ao.session=ghost-9", "--label", f"ao.daemon={daemon}",
            "--network", "none", "--entrypoint", "sleep", engine.image, "infinity",
        )

    kill9_and_restart(fleet, leave_an_orphan)
    wait_for(lambda: engine.labelled("ao.session=ghost-9") == [], 20, "the orphan reaped at start-up")
    assert engine.labelled(f"ao.session={sid}") == names  # adopted, not replaced
    session = fleet.session(sid)
    assert session["state"] == "working"
    fleet.ok("send", sid, "after the restart")
    fleet.wait_received(sid, "after the restart")
    assert fleet.ok("logs", sid, "--lines", "5")["alive"] == "alive"

    fleet.ok("kill", sid)
    assert engine.labelled(f"ao.session={sid}") == []
    removed = fleet.ok("cleanup", "--force")["items"]
    assert [(i["id"], i["action"]) for i in removed] == [(sid, "removed")]
    assert engine.labelled(f"ao.daemon={daemon}") == []


def test_a_session_that_ended_while_aod_was_down_leaves_no_container(fleet: Fleet) -> None:
    engine: Engine = fleet.engine  # type: ignore[attr-defined]
    sid = fleet.ok("spawn", "--task", "short job")["id"]
    wait_for(lambda: fleet.received(sid), 40, "the first prompt")
    assert len(engine.labelled(f"ao.session={sid}")) == 1

    def agent_dies() -> None:  # its pane goes while aod is down (the container stays)
        subprocess.run(["tmux", "-L", fleet.tmux, "kill-session", "-t", f"={sid}"], check=True)

    kill9_and_restart(fleet, agent_dies)
    fleet.wait_state(sid, lambda s: s["state"] == "errored", "the session judged gone", 30)
    wait_for(lambda: engine.labelled(f"ao.session={sid}") == [], 20, "its container reaped")

    # A session marked done (its agent still running): the tick reaps its container; cleanup
    # archives it, and no container of this aod is left.
    done = fleet.ok("spawn", "--task", "another job")["id"]
    wait_for(lambda: fleet.received(done), 40, "the first prompt")
    [name] = engine.labelled(f"ao.session={done}")
    daemon = json.loads(engine.podman("inspect", name).stdout)[0]["Config"]["Labels"]["ao.daemon"]
    fleet.ok("done", done)
    wait_for(lambda: engine.labelled(f"ao.session={done}") == [], 20, "the done session's container reaped")
    removed = fleet.ok("cleanup", "--force")["items"]
    assert sorted((i["id"], i["action"]) for i in removed) == sorted([(sid, "removed"), (done, "removed")])
    assert engine.labelled(f"ao.daemon={daemon}") == []


def test_an_image_that_is_not_there_fails_the_spawn_saying_to_build_it(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    engine = shared_engine()
    with tmux_server() as tmux:
        aod = make_aod(extra_env=engine.env)
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(container_config(tmux, records, engine).replace(engine.image, "localhost/aod-missing:1"))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        result = fleet.aod.aoctl("--json", "spawn", "--task", "x", timeout=60)
        assert result.returncode == 1, result.stderr
        session = fleet.session("demo-1")
        assert session["state"] == "errored"
        assert "aod never pulls: build it" in session["reason"]
        assert engine.labelled("ao.session=demo-1") == []


def test_doctor_checks_the_container_engine_and_tmux(fleet: Fleet) -> None:
    result = fleet.aod.aoctl("--json", "doctor")  # exit 1 when any check fails (an agent CLI missing here)
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["container engine podman"]["ok"] is True
    assert "podman" in checks["container engine podman"]["detail"]
    # The agents' panes are on aod's tmux server: tmux is needed, not optional.
    assert checks["tmux"].get("optional", False) is False
