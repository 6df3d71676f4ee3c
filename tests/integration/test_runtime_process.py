"""ProcessRuntime: detached agents with a FIFO for input and a log for output (no tmux)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from aod.delivery import deliver, wait_until_ready
from aod.model import RuntimeHandle
from aod.plugins.runtime import LaunchSpec, Look, PaneState, RuntimeError_
from aod.plugins.runtime.process import ProcessRuntime
from aod.proc import ToolMissing
from tests.support.tmux import fake_agent_argv

REPO = Path(__file__).resolve().parents[2]


def plain_read_input(screen: str) -> str | None:
    for line in reversed(screen.split("\n")):
        if line.startswith(">"):
            return line[1:].strip()
    return None


def plain_activity(look: Look, _quiet: float) -> str:
    return "idle" if look.text.endswith(">") else "unknown"


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    runtime = ProcessRuntime(tmp_path / "state", kill_grace=2.0)
    yield runtime
    # Leave nothing running behind (and reap what this runtime started).
    snap = await runtime.snapshot()
    for name in snap or {}:
        await runtime.kill(RuntimeHandle(kind="process", name=name))


def messages(record: Path) -> list[str]:
    if not record.exists():
        return []
    return [json.loads(line)["message"] for line in record.read_text().splitlines()]


async def wait_for(probe: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Poll `probe` (plain or async) until it returns something truthy; fail after `timeout`."""
    with trio.move_on_after(timeout):
        while True:
            value = probe()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value
            await trio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def start_plain_agent(
    runtime: ProcessRuntime, tmp_path: Path, name: str = "s-1", *args: str
) -> tuple[RuntimeHandle, Path]:
    record = tmp_path / f"{name}.jsonl"
    handle = await runtime.create(
        LaunchSpec(
            name=name,
            argv=fake_agent_argv("--style", "plain", "--record", str(record), *args),
            cwd=tmp_path,
            env={"AO_SESSION_ID": name},
        )
    )
    assert await wait_until_ready(runtime, handle, plain_activity, timeout=10, stable_for=0.1) == "ready"
    return handle, record


async def test_create_snapshot_deliver_capture_kill(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    handle, record = await start_plain_agent(runtime, tmp_path)
    assert handle.kind == "process" and handle.name == "s-1"
    assert handle.pid is not None and handle.log_path is not None
    directory = tmp_path / "state" / "runtime" / "s-1"
    assert (directory / "stdin").exists()
    assert (directory / "stdin").stat().st_mode & 0o777 == 0o600
    assert handle.log_path == str(directory / "output.log")

    snap = await runtime.snapshot()
    assert snap is not None
    assert snap["s-1"].pid == handle.pid and not snap["s-1"].dead
    assert snap["s-1"].activity_at is not None
    assert runtime.liveness(handle, snap) == "alive"

    text = "two lines\nin one message $(id) `id` 'q' \"q\" ✓"
    result = await deliver(runtime, handle, text, read_input=plain_read_input)
    assert result.submitted, result
    await wait_for(lambda: messages(record), "the message")
    assert messages(record) == [text]
    screen = await runtime.capture(handle)
    assert "\x1b" not in screen and "you: two lines" in screen
    assert runtime.attach_argv(handle) == ["tail", "-n", "200", "-f", handle.log_path]

    await runtime.kill(handle)
    snap = await runtime.snapshot()
    assert snap is not None and snap["s-1"].dead
    assert runtime.liveness(handle, snap) == "dead"
    await runtime.kill(handle)  # idempotent
    await runtime.kill(RuntimeHandle(kind="process", name="never-created"))
    with pytest.raises(RuntimeError_, match="not running"):
        await runtime.paste(handle, "too late")


async def test_exit_status_is_recorded(runtime: ProcessRuntime, tmp_path: Path) -> None:
    handle, _ = await start_plain_agent(runtime, tmp_path, "s-2")
    await runtime.paste(handle, "/fake exit 7")
    await runtime.press_enter(handle)

    async def dead() -> PaneState | None:
        snap = await runtime.snapshot()
        assert snap is not None
        return snap["s-2"] if snap["s-2"].dead else None

    state = await wait_for(dead, "the agent to exit")
    assert isinstance(state, PaneState) and state.exit_status == 7
    # Its output stays readable, like a tmux pane kept by remain-on-exit.
    assert "you: /fake exit 7" in await runtime.capture(handle)


async def test_agent_outlives_the_aod_that_started_it(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    record = tmp_path / "rec.jsonl"
    argv = fake_agent_argv("--style", "plain", "--record", str(record))
    starter = (
        "import json, sys, trio\n"
        "from pathlib import Path\n"
        "from aod.plugins.runtime import LaunchSpec\n"
        "from aod.plugins.runtime.process import ProcessRuntime\n"
        "async def main():\n"
        "    rt = ProcessRuntime(Path(sys.argv[1]))\n"
        "    spec = LaunchSpec(name='s-3', argv=json.loads(sys.argv[2]), cwd=Path(sys.argv[3]))\n"
        "    handle = await rt.create(spec)\n"
        "    print(handle.pid)\n"
        "trio.run(main)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", starter, str(state_dir), json.dumps(argv), str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    pid = int(done.stdout)

    runtime = ProcessRuntime(state_dir, kill_grace=2.0)  # a "restarted aod"
    handle = RuntimeHandle(kind="process", name="s-3", pid=pid)
    try:
        snap = await runtime.snapshot()
        assert snap is not None and runtime.liveness(handle, snap) == "alive"
        assert await wait_until_ready(runtime, handle, plain_activity, timeout=10, stable_for=0.1) == "ready"
        result = await deliver(runtime, handle, "still here?", read_input=plain_read_input)
        assert result.submitted, result
        await wait_for(lambda: messages(record), "the message")
        assert messages(record) == ["still here?"]
    finally:
        await runtime.kill(handle)
    snap = await runtime.snapshot()
    assert snap is not None and runtime.liveness(handle, snap) == "dead"
    assert snap["s-3"].exit_status is None  # not our child: its status is unknown


async def test_a_reused_pid_is_not_the_agent(runtime: ProcessRuntime, tmp_path: Path) -> None:
    stranger = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        directory = tmp_path / "state" / "runtime" / "s-4"
        directory.mkdir(parents=True)
        # The pid file of an agent that died long ago, whose pid the stranger now holds.
        (directory / "pid").write_text(json.dumps({"pid": stranger.pid, "start": "1"}))
        handle = RuntimeHandle(kind="process", name="s-4", pid=stranger.pid)
        snap = await runtime.snapshot()
        assert snap is not None and snap["s-4"].dead
        assert runtime.liveness(handle, snap) == "dead"
        await runtime.kill(handle)
        assert stranger.poll() is None  # untouched
    finally:
        assert stranger.stdin is not None
        stranger.stdin.close()
        stranger.wait(timeout=10)


async def test_names_are_validated_and_unique(runtime: ProcessRuntime, tmp_path: Path) -> None:
    for bad in ("", "a.b", "a:b", "../x", "a/b", "a b"):
        with pytest.raises(RuntimeError_, match="invalid runtime session name"):
            await runtime.create(LaunchSpec(name=bad, argv=["true"], cwd=tmp_path))
    await start_plain_agent(runtime, tmp_path, "s-5")
    with pytest.raises(RuntimeError_, match="already running"):
        await runtime.create(LaunchSpec(name="s-5", argv=["true"], cwd=tmp_path))


async def test_kill_escalates_to_sigkill(runtime: ProcessRuntime, tmp_path: Path) -> None:
    stubborn = (
        "import signal, sys\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    fast = ProcessRuntime(tmp_path / "state", kill_grace=0.3)
    handle = await fast.create(
        LaunchSpec(name="s-6", argv=[sys.executable, "-c", stubborn], cwd=tmp_path)
    )

    async def ready() -> bool:
        return (await fast.capture(handle)) == "ready"

    await wait_for(ready, "the SIGTERM handler")
    await fast.kill(handle)
    snap = await fast.snapshot()
    assert snap is not None and snap["s-6"].dead
    assert snap["s-6"].exit_status == -9


async def test_missing_program_or_directory(
    runtime: ProcessRuntime, tmp_path: Path
) -> None:
    with pytest.raises(ToolMissing, match="/nonexistent/agent"):
        await runtime.create(LaunchSpec(name="s-7", argv=["/nonexistent/agent"], cwd=tmp_path))
    with pytest.raises(RuntimeError_, match="does not exist"):
        await runtime.create(LaunchSpec(name="s-8", argv=["true"], cwd=tmp_path / "gone"))
    snap = await runtime.snapshot()
    assert snap is not None and "s-7" not in snap and "s-8" not in snap


async def test_snapshot_of_an_empty_state_dir(tmp_path: Path) -> None:
    runtime = ProcessRuntime(tmp_path / "nothing-here")
    assert await runtime.snapshot() == {}
    assert os.listdir(tmp_path) == []
