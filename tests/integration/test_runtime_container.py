"""ContainerRuntime against real podman (its own storage, runc, a locally built image) and a real
tmux server on a private socket. Skipped only when podman (or runc, busybox) is not installed."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio

from aod.config.scale_out import ContainerConfig
from aod.model import RuntimeHandle
from aod.plugins.runtime import LaunchSpec, RuntimeError_
from aod.plugins.runtime.container import ContainerRuntime, daemon_label, git_dirs
from aod.plugins.runtime.tmux import TmuxRuntime
from aod.proc import ToolMissing
from tests.support.container_image import Engine, podman_missing, shared_engine
from tests.support.tmux import tmux_server

pytestmark = pytest.mark.skipif(podman_missing() is not None, reason=podman_missing() or "")

# Says where it is and what it sees, then echoes every line it reads.
PROBE = (
    "import json, os, socket, sys\n"
    "home = os.environ.get('PROBE_HOME', '')\n"
    "net = sorted(os.listdir('/sys/class/net'))\n"
    "print('SEEN ' + json.dumps({'cwd': os.getcwd(), 'home_visible': os.path.exists(home),\n"
    "    'ws': sorted(os.listdir('.')), 'net': net, 'secret': os.environ.get('AOD_TEST_SECRET'),\n"
    "    'session': os.environ.get('AO_SESSION_ID'), 'root': sorted(os.listdir('/'))}), flush=True)\n"
    "for line in sys.stdin:\n"
    "    print('got ' + line.strip(), flush=True)\n"
)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return shared_engine()


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    with tmux_server() as name:
        yield name


def make_runtime(tmux_socket: str, settings: ContainerConfig, daemon: str = "itest") -> ContainerRuntime:
    return ContainerRuntime(
        TmuxRuntime(tmux_socket, config_file="/dev/null"),
        lambda _project: settings,
        lambda: [settings],
        daemon=daemon,
        timeout=20.0,
    )


@pytest.fixture
def settings(engine: Engine) -> ContainerConfig:
    return ContainerConfig(
        engine="podman", image=engine.image, network="none", mounts=["/usr:/usr:ro"],
        env=["AOD_TEST_SECRET"], engine_args=engine.engine_args,
    )


@pytest.fixture(autouse=True)
def engine_env(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # aod's own environment: where the engine's config is, and a secret passed by name.
    for key, value in engine.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AOD_TEST_SECRET", "s3cr3t-value")


async def eventually(probe: Callable[[], Awaitable[object]], what: str, timeout: float = 20.0) -> object:
    with trio.move_on_after(timeout):
        while True:
            value = await probe()
            if value:
                return value
            await trio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def launch(name: str, cwd: Path, *argv: str, **env: str) -> LaunchSpec:
    return LaunchSpec(name=name, argv=list(argv), cwd=cwd, env={"AO_SESSION_ID": name, "AO_PROJECT": "demo", **env})


async def test_create_snapshot_capture_paste_enter_kill(tmux_socket: str, settings: ContainerConfig, engine: Engine, tmp_path: Path) -> None:
    runtime = make_runtime(tmux_socket, settings)
    home = Path.home() / f".aod-container-test-{os.getpid()}"
    home.write_text("private\n")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "visible.txt").write_text("yes\n")
    try:
        handle = await runtime.create(launch("demo-1", workspace, "/usr/bin/python3", "-c", PROBE, PROBE_HOME=str(home)))
        assert handle.kind == "container" and handle.name == "demo-1"
        assert handle.pane_id and handle.pane_id.startswith("%") and handle.socket == tmux_socket

        # A label query finds it, labelled with session, project and this aod.
        assert engine.labelled("ao.session=demo-1") == ["ao-itest-demo-1"]
        labels = json.loads(engine.podman("inspect", "ao-itest-demo-1").stdout)[0]["Config"]["Labels"]
        assert labels["ao.project"] == "demo" and labels["ao.daemon"] == "itest"

        snap = await runtime.snapshot()
        assert snap is not None and runtime.liveness(handle, snap) == "alive"
        assert snap["demo-1"].pane_id == handle.pane_id
        assert getattr(snap, "containers")["demo-1"].state == "running"

        screen = str(await eventually(lambda: _seen(runtime, handle), "the probe's report"))
        seen = json.loads(screen)
        assert seen["cwd"] == str(workspace)  # the worktree, at its own path
        assert seen["ws"] == ["visible.txt"]
        assert seen["home_visible"] is False  # nothing of the home directory
        assert seen["net"] == ["lo"]  # network none: loopback only
        assert seen["secret"] == "s3cr3t-value"  # passed by name from aod's environment
        assert seen["session"] == "demo-1"  # the session's variables reach the agent
        assert "work" not in seen["root"]  # the host's /work (aod's checkout here) is not there

        await runtime.paste(handle, "hello from aod")
        await runtime.press_enter(handle)
        await eventually(lambda: _shows(runtime, handle, "got hello from aod"), "the echo")
        look = await runtime.look(handle)
        assert "got hello from aod" in look.text
        many = await runtime.capture_many([handle])
        assert "got hello from aod" in many["demo-1"]
        assert runtime.attach_argv(handle) == ["tmux", "-L", tmux_socket, "attach-session", "-t", "=demo-1"]
        viewer = runtime.viewer_command(handle, control=False)
        assert "attach-session" in viewer.argv and viewer.can_type
        async with runtime.hold_window_size(handle):  # the dashboard's size-holding client
            pass

        await runtime.kill(handle)
        assert engine.labelled("ao.session=demo-1") == []
        after = await runtime.snapshot()
        assert runtime.liveness(handle, after) == "dead"
        await runtime.kill(handle)  # idempotent
    finally:
        home.unlink()


async def _seen(runtime: ContainerRuntime, handle: RuntimeHandle) -> str | None:
    text = (await runtime.capture(handle)).replace("\n", "")
    start = text.find("SEEN ")
    if start < 0 or "}" not in text[start:]:
        return None
    return text[start + 5 : text.index("}", start) + 1]


async def _shows(runtime: ContainerRuntime, handle: RuntimeHandle, text: str) -> bool:
    return text in await runtime.capture(handle)


async def test_a_stopped_container_is_dead_and_an_agent_exit_leaves_its_screen(
    tmux_socket: str, settings: ContainerConfig, engine: Engine, tmp_path: Path
) -> None:
    runtime = make_runtime(tmux_socket, settings)
    handle = await runtime.create(launch("demo-2", tmp_path, "/usr/bin/python3", "-c", "import sys; print('up', flush=True); sys.stdin.read()"))
    await eventually(lambda: _shows(runtime, handle, "up"), "the agent up")
    engine.podman("kill", "ao-itest-demo-2")

    async def dead() -> bool:
        return runtime.liveness(handle, await runtime.snapshot()) == "dead"

    await eventually(dead, "the session dead once its container is")
    await runtime.kill(handle)
    assert engine.labelled("ao.session=demo-2") == []


async def test_reap_removes_containers_of_sessions_no_longer_live(
    tmux_socket: str, settings: ContainerConfig, engine: Engine, tmp_path: Path
) -> None:
    runtime = make_runtime(tmux_socket, settings, daemon="reaper")
    other = make_runtime(tmux_socket, settings, daemon="someone-else")
    keep = await runtime.create(launch("keep-1", tmp_path, "/bin/sh", "-c", "read x"))
    gone = await runtime.create(launch("gone-1", tmp_path, "/bin/sh", "-c", "read x"))
    theirs = await other.create(launch("theirs-1", tmp_path, "/bin/sh", "-c", "read x"))
    try:
        # `live` (read before the engine was asked) misses keep-1; the store read again has it.
        async def fresh() -> set[str]:
            return {"keep-1"}

        removed = await runtime.reap(set(), fresh)
        assert removed == ["gone-1"]
        assert engine.labelled("ao.daemon=reaper") == ["ao-reaper-keep-1"]
        assert engine.labelled("ao.session=theirs-1") == ["ao-someone-else-theirs-1"]  # another aod's
        # Nothing ended and nothing to look at: no engine call at all.
        assert await runtime.reap({"keep-1"}, fresh) == []
    finally:
        for rt, handle in ((runtime, keep), (runtime, gone), (other, theirs)):
            await rt.kill(handle)
    assert engine.labelled("ao.daemon=reaper") == [] and engine.labelled("ao.daemon=someone-else") == []


async def test_a_missing_image_says_to_build_it_and_nothing_is_left(tmux_socket: str, settings: ContainerConfig, engine: Engine, tmp_path: Path) -> None:
    missing = settings.model_copy(update={"image": "localhost/aod-no-such-image:9"})
    runtime = make_runtime(tmux_socket, missing)
    with pytest.raises(RuntimeError_, match="aod never pulls: build it"):
        await runtime.create(launch("demo-3", tmp_path, "/bin/sh"))
    assert engine.labelled("ao.session=demo-3") == []
    no_image = settings.model_copy(update={"image": None})
    with pytest.raises(RuntimeError_, match="needs an image"):
        await make_runtime(tmux_socket, no_image).create(launch("demo-3", tmp_path, "/bin/sh"))


async def test_a_missing_engine_says_to_install_it(tmux_socket: str, settings: ContainerConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    (bare / "tmux").symlink_to(shutil.which("tmux") or "/usr/bin/tmux")  # tmux, but no podman
    monkeypatch.setenv("PATH", str(bare))
    with pytest.raises(ToolMissing, match="install podman"):
        await make_runtime(tmux_socket, settings).create(launch("demo-4", tmp_path, "/bin/sh"))


async def test_a_hung_engine_is_never_read_as_dead(tmux_socket: str, settings: ContainerConfig, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(tmux_socket, settings)
    handle = await runtime.create(launch("demo-5", tmp_path, "/bin/sh", "-c", "read x"))
    try:
        # The engine stops answering (a stand-in `podman` that never returns, first on PATH).
        stub = tmp_path / "bin"
        stub.mkdir()
        (stub / "podman").write_text("#!/bin/sh\nexec sleep 60\n")
        (stub / "podman").chmod(stat.S_IRWXU)
        monkeypatch.setenv("PATH", f"{stub}:{os.environ['PATH']}")
        runtime.timeout = 0.5
        snap = await runtime.snapshot()
        assert snap is not None and getattr(snap, "containers") is None
        assert runtime.liveness(handle, snap) == "alive"
        assert await runtime.reap(set()) == []  # unknown: nothing removed
    finally:
        monkeypatch.undo()
        runtime.timeout = 20.0
        await runtime.kill(handle)


def test_git_dirs_of_a_linked_worktree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "-C", str(repo), "init", "-q", "-b", "main"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x"], check=True)
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "w"], check=True)
    assert git_dirs(tmp_path / "wt") == [(repo / ".git").resolve()]
    assert git_dirs(repo) == []


def test_daemon_label_is_stable_and_short() -> None:
    assert daemon_label("/x/state") == daemon_label(Path("/x/state"))
    assert daemon_label("/x/state") != daemon_label("/y/state") and len(daemon_label("/x")) == 10


def test_ps_output_of_podman_and_docker_is_read_alike() -> None:
    from aod.plugins.runtime.container import _labels, _name, parse_ps

    podman = parse_ps('[{"Names": ["ao-x-demo-1"], "Labels": {"ao.session": "demo-1"}, "State": "running"}]')
    docker = parse_ps('{"Names":"ao-x-demo-1","Labels":"ao.daemon=x,ao.session=demo-1","State":"running"}\n'
                      '{"Names":"ao-x-demo-2","Labels":"ao.session=demo-2","State":"exited"}\n')
    assert [(_name(r), _labels(r)["ao.session"], r["State"]) for r in podman] == [("ao-x-demo-1", "demo-1", "running")]
    assert [(_name(r), _labels(r)["ao.session"]) for r in docker] == [("ao-x-demo-1", "demo-1"), ("ao-x-demo-2", "demo-2")]
    assert parse_ps("") == [] and parse_ps("[]") == []


def test_a_project_s_container_section_replaces_the_global_one(tmp_path: Path) -> None:
    from aod.app import build_plugins
    from aod.config import Config
    from aod.paths import Locations

    config = Config.model_validate({
        "runtime": {"kind": "tmux", "container": {"image": "global:1", "engine_args": ["--root", "/g"]}},
        "projects": {"boxed": {"runtime": "container", "container": {"engine": "docker", "image": "boxed:1"}}},
    })
    locations = Locations.resolve(environ={"AOD_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path)})
    runtime = build_plugins(config, locations).runtimes["container"]
    assert runtime.kind == "container"
    assert runtime.settings("boxed").image == "boxed:1" and runtime.settings("boxed").engine == "docker"
    assert runtime.settings("other").image == "global:1" and runtime.settings(None).image == "global:1"
    assert sorted(runtime._all_engines()) == [("docker",), ("podman", "--root", "/g")]
    assert runtime.in_use()  # a project runs in containers
    assert runtime.daemon == daemon_label(locations.state_dir)
