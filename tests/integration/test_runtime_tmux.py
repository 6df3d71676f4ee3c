"""TmuxRuntime against a real tmux server on a private socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import trio

from aod.model import RuntimeHandle
from aod.plugins.runtime import LaunchSpec, PaneState, RuntimeError_
from aod.plugins.runtime.tmux import TmuxRuntime
from aod.proc import ToolMissing
from tests.support.tmux import fake_agent_argv, tmux_server

# Prints its argv, cwd and one variable as JSON to $OUT, then waits for stdin to close.
ARGV_DUMPER = (
    "import json, os, sys\n"
    "with open(os.environ['OUT'], 'w') as f:\n"
    "    json.dump({'argv': sys.argv[1:], 'cwd': os.getcwd(), 'V': os.environ.get('V'),\n"
    "               'notify': os.environ.get('NOTIFY_SOCKET')}, f)\n"
    "sys.stdin.read()\n"
)
WAIT_FOREVER = "import sys; print('up', flush=True); sys.stdin.read()"


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    with tmux_server() as name:
        yield name


@pytest.fixture
def runtime(tmux_socket: str) -> TmuxRuntime:
    return TmuxRuntime(tmux_socket, config_file="/dev/null")


async def eventually(
    probe: Callable[[], Awaitable[object]], what: str, timeout: float = 5.0
) -> object:
    """Poll an async probe until it returns something truthy, failing after `timeout`."""
    with trio.move_on_after(timeout):
        while True:
            value = await probe()
            if value:
                return value
            await trio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


async def every_screen_shows(runtime: TmuxRuntime, handles: list[RuntimeHandle], text: str) -> bool:
    for handle in handles:
        if text not in await runtime.capture(handle):
            return False
    return True


def spec(name: str, cwd: Path, *argv: str, **env: str) -> LaunchSpec:
    return LaunchSpec(name=name, argv=list(argv), cwd=cwd, env=env, width=100, height=30)


async def test_create_snapshot_capture_and_attach(runtime: TmuxRuntime, tmp_path: Path) -> None:
    handle = await runtime.create(spec("ao-7", tmp_path, sys.executable, "-c", WAIT_FOREVER))
    assert handle.kind == "tmux"
    assert handle.name == "ao-7"
    assert handle.pane_id is not None and handle.pane_id.startswith("%")
    assert isinstance(handle.pid, int) and handle.pid > 0
    assert handle.socket == runtime.socket_name

    snap = await runtime.snapshot()
    assert snap is not None
    state = snap["ao-7"]
    assert state.pane_id == handle.pane_id
    assert state.pid == handle.pid
    assert not state.dead and state.exit_status is None
    assert state.activity_at is not None and state.activity_at > 0
    assert runtime.liveness(handle, snap) == "alive"

    async def shows_up() -> bool:
        return (await runtime.capture(handle)).endswith("up")

    await eventually(shows_up, "the agent's output")
    assert runtime.attach_argv(handle) == [
        "tmux", "-L", runtime.socket_name, "attach-session", "-t", "=ao-7",
    ]  # fmt: skip


async def test_no_server_is_definitely_empty(runtime: TmuxRuntime) -> None:
    assert await runtime.snapshot() == {}
    handle = RuntimeHandle(kind="tmux", name="ao-1", pane_id="%0", socket=runtime.socket_name)
    assert runtime.liveness(handle, {}) == "dead"
    assert runtime.liveness(handle, None) == "unknown"


async def test_a_session_is_judged_and_reached_on_the_server_it_started_on(tmp_path: Path) -> None:
    """After `runtime.tmux_socket` changes, a handle from the old server is probed, captured,
    sent to and killed there; a look at the new server says nothing about it."""
    with tmux_server() as old_socket, tmux_server() as new_socket:
        old = TmuxRuntime(old_socket, config_file="/dev/null")
        handle = await old.create(spec("ao-5", tmp_path, sys.executable, "-c", WAIT_FOREVER))
        reconfigured = TmuxRuntime(new_socket, config_file="/dev/null")
        assert reconfigured.server_of(handle) == old_socket
        on_new = await reconfigured.snapshot()
        assert on_new == {}  # no server there at all: definitely empty, but not this session's
        assert reconfigured.liveness(handle, on_new) == "unknown"
        assert reconfigured.liveness(handle, await reconfigured.snapshot(reconfigured.server_of(handle))) == "alive"

        async def shows_up() -> bool:
            return (await reconfigured.capture(handle)).endswith("up")

        await eventually(shows_up, "the agent's output, read on its own server")
        await reconfigured.kill(handle)
        assert reconfigured.liveness(handle, await reconfigured.snapshot(old_socket)) == "dead"
        assert reconfigured.attach_argv(handle)[:3] == ["tmux", "-L", old_socket]


async def test_dead_agent_keeps_its_pane_and_exit_status(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    script = "print('last words', flush=True); raise SystemExit(3)"
    handle = await runtime.create(spec("ao-3", tmp_path, sys.executable, "-c", script))

    async def dead() -> PaneState | None:
        snap = await runtime.snapshot()
        assert snap is not None
        state = snap.get("ao-3")
        # tmux may see the pty close a moment before it reaps the process and knows the status
        return state if state is not None and state.dead and state.exit_status is not None else None

    state = await eventually(dead, "the agent to exit and be reaped")
    assert isinstance(state, PaneState)
    assert state.exit_status == 3
    assert runtime.liveness(handle, await runtime.snapshot()) == "dead"
    assert "last words" in await runtime.capture(handle)


async def test_exact_targets_ao_1_never_resolves_to_ao_10(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    record = tmp_path / "ao-10.jsonl"
    ten = await runtime.create(
        spec("ao-10", tmp_path, *fake_agent_argv("--style", "plain", "--record", str(record)))
    )

    async def ten_ready() -> bool:
        return (await runtime.capture(ten)).endswith(">")

    await eventually(ten_ready, "ao-10's prompt")
    one = await runtime.create(spec("ao-1", tmp_path, sys.executable, "-c", WAIT_FOREVER))
    await runtime.kill(one)
    one_by_name = RuntimeHandle(kind="tmux", name="ao-1", socket=runtime.socket_name)

    snap = await runtime.snapshot()
    assert snap is not None and "ao-1" not in snap and "ao-10" in snap
    for handle in (one, one_by_name):
        assert runtime.liveness(handle, snap) == "dead"
        with pytest.raises(RuntimeError_):
            await runtime.capture(handle)
        with pytest.raises(RuntimeError_):
            await runtime.paste(handle, "meant for ao-1")
        with pytest.raises(RuntimeError_):
            await runtime.press_enter(handle)
        await runtime.kill(handle)  # already gone: fine, and ao-10 is untouched

    snap = await runtime.snapshot()
    assert snap is not None
    assert runtime.liveness(ten, snap) == "alive"
    # Nothing reached ao-10: its input line is still empty and nothing was submitted.
    assert (await runtime.capture(ten)).endswith(">")
    assert not record.exists()


async def test_kill_is_idempotent(runtime: TmuxRuntime, tmp_path: Path) -> None:
    handle = await runtime.create(spec("ao-5", tmp_path, sys.executable, "-c", WAIT_FOREVER))
    keep = await runtime.create(spec("ao-6", tmp_path, sys.executable, "-c", WAIT_FOREVER))
    await runtime.kill(handle)
    await runtime.kill(handle)
    snap = await runtime.snapshot()
    assert snap is not None and "ao-5" not in snap
    assert runtime.liveness(keep, snap) == "alive"
    await runtime.kill(keep)
    await runtime.kill(keep)  # the server is gone now too
    assert await runtime.snapshot() == {}


async def test_argv_cwd_and_env_reach_the_agent_unchanged(
    runtime: TmuxRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/should-not-leak")
    cwd = tmp_path / "dir #{pane_id} $HOME;"
    cwd.mkdir()
    out = tmp_path / "out.json"
    hostile = [";", "a;", "a\\;", "\\", "{", "}", "#{pane_id}", "$(touch pwned)", "`id`",
               "~", "%1", "-t", "", "two words", "'\"", "x\ny"]  # fmt: skip
    await runtime.create(
        spec("ao-2", cwd, sys.executable, "-c", ARGV_DUMPER, *hostile,
             OUT=str(out), V="#{session_name} $(id) ;")
    )  # fmt: skip

    async def written() -> bool:
        return out.exists() and out.stat().st_size > 0

    await eventually(written, "the agent to report its argv")
    seen = json.loads(out.read_text())
    assert seen["argv"] == hostile
    assert seen["cwd"] == str(cwd)
    assert seen["V"] == "#{session_name} $(id) ;"
    assert seen["notify"] is None
    assert not (cwd / "pwned").exists()


async def test_single_argument_argv_is_not_run_by_a_shell(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    program = tmp_path / "my agent; $(touch pwned)"
    marker = tmp_path / "ran"
    program.write_text(f"#!{sys.executable}\nopen({str(marker)!r}, 'w').close()\n")
    program.chmod(0o755)
    await runtime.create(spec("ao-4", tmp_path, str(program)))

    async def ran() -> bool:
        return marker.exists()

    await eventually(ran, "the one-argument program to run")
    assert not (tmp_path / "pwned").exists()


async def test_capture_returns_the_last_lines_without_trailing_blanks(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    script = "import sys\nfor i in range(100): print(i)\nsys.stdout.flush(); sys.stdin.read()"
    handle = await runtime.create(spec("ao-8", tmp_path, sys.executable, "-c", script))

    async def printed() -> bool:
        return (await runtime.capture(handle, lines=3)).endswith("99")

    await eventually(printed, "the output")
    assert await runtime.capture(handle, lines=5) == "95\n96\n97\n98\n99"
    by_name = RuntimeHandle(kind="tmux", name="ao-8", socket=runtime.socket_name)
    assert await runtime.capture(by_name, lines=2) == "98\n99"


async def test_capture_many_reads_each_pane_from_one_client_even_a_pane_that_forges_markers(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    # One pane prints lines shaped like capture_many's separators (with a guessed marker): they
    # stay that pane's text and never split or relabel the others.
    forger = "import sys\nprint('ao-cut-0000000000000000 0'); print('ao-cut- 1'); print('end-f', flush=True); sys.stdin.read()"
    plain = "import sys\nprint('line-{n}'); print('end-{n}', flush=True); sys.stdin.read()"
    handles = [await runtime.create(spec("ao-f", tmp_path, sys.executable, "-c", forger))]
    for n in range(3):
        handles.append(await runtime.create(spec(f"ao-p{n}", tmp_path, sys.executable, "-c", plain.format(n=n))))

    await eventually(lambda: every_screen_shows(runtime, handles, "end-"), "every pane's output")
    from aod.proc import COUNTER

    before = COUNTER.started
    screens = await runtime.capture_many(handles, lines=10)
    assert COUNTER.started - before == 1
    assert screens == {h.name: await runtime.capture(h, lines=10) for h in handles}
    assert screens["ao-f"] == "ao-cut-0000000000000000 0\nao-cut- 1\nend-f"
    assert screens["ao-p2"] == "line-2\nend-2"


async def test_capture_many_leaves_out_a_pane_gone_since_the_snapshot_and_reads_the_rest(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    script = "import sys\nprint('here-{n}', flush=True); sys.stdin.read()"
    handles = [await runtime.create(spec(f"ao-g{n}", tmp_path, sys.executable, "-c", script.format(n=n))) for n in range(4)]

    await eventually(lambda: every_screen_shows(runtime, handles, "here"), "every pane's output")
    await runtime.kill(handles[1])  # tmux stops a command list at its first failing command
    screens = await runtime.capture_many(handles, lines=5)
    assert screens == {"ao-g0": "here-0", "ao-g2": "here-2", "ao-g3": "here-3"}


async def test_capture_many_splits_what_does_not_fit_one_tmux_command(
    runtime: TmuxRuntime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aod.plugins.runtime.tmux as tmux_module

    monkeypatch.setattr(tmux_module, "CAPTURE_COMMAND_BUDGET", 250)  # two panes per client
    script = "import sys\nprint('pane-{n}', flush=True); sys.stdin.read()"
    handles = [await runtime.create(spec(f"ao-s{n}", tmp_path, sys.executable, "-c", script.format(n=n))) for n in range(5)]

    await eventually(lambda: every_screen_shows(runtime, handles, "pane"), "every pane's output")
    from aod.proc import COUNTER

    before = COUNTER.started
    screens = await runtime.capture_many(handles, lines=5)
    assert COUNTER.started - before == 3
    assert screens == {f"ao-s{n}": f"pane-{n}" for n in range(5)}


@pytest.mark.parametrize("name", ["", "a.b", "a:b", "a b", "=a", "a/b", "ä"])
async def test_bad_names_are_refused(runtime: TmuxRuntime, tmp_path: Path, name: str) -> None:
    with pytest.raises(RuntimeError_, match="invalid runtime session name"):
        await runtime.create(spec(name, tmp_path, sys.executable, "-c", "pass"))
    assert await runtime.snapshot() == {}


async def test_create_right_after_the_last_session_ended(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    # Killing the last session makes the server exit; a create racing with that exit must
    # still succeed (tmux answers "server exited unexpectedly" to the first try).
    for i in range(15):
        handle = await runtime.create(spec(f"ao-{i}", tmp_path, "sleep", "60"))
        await runtime.kill(handle)
    # The server may still be on its way out: a probe then answers "unknown" (None), never a
    # wrong "empty"; once it has gone, the answer is empty.
    with trio.fail_after(20):
        while (snapshot := await runtime.snapshot()) is None:
            await trio.sleep(0.05)
    assert snapshot == {}


async def test_a_missing_working_directory_is_an_error(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError_, match="does not exist"):
        await runtime.create(spec("ao-1", tmp_path / "gone", sys.executable, "-c", "pass"))
    assert await runtime.snapshot() == {}


async def test_duplicate_session_is_an_error(runtime: TmuxRuntime, tmp_path: Path) -> None:
    await runtime.create(spec("ao-9", tmp_path, sys.executable, "-c", WAIT_FOREVER))
    with pytest.raises(RuntimeError_, match="duplicate session"):
        await runtime.create(spec("ao-9", tmp_path, sys.executable, "-c", WAIT_FOREVER))


async def test_missing_tmux_binary_raises_tool_missing(tmp_path: Path) -> None:
    runtime = TmuxRuntime("unused", tmux="/nonexistent/tmux")
    with pytest.raises(ToolMissing, match="/nonexistent/tmux"):
        await runtime.create(spec("ao-1", tmp_path, sys.executable, "-c", "pass"))
    with pytest.raises(ToolMissing):
        await runtime.snapshot()


async def test_a_hung_server_is_unknown_not_dead(tmux_socket: str, tmp_path: Path) -> None:
    runtime = TmuxRuntime(tmux_socket, config_file="/dev/null", timeout=0.3)
    handle = await runtime.create(spec("ao-1", tmp_path, sys.executable, "-c", WAIT_FOREVER))
    server_pid = int(
        subprocess.run(
            ["tmux", "-L", tmux_socket, "display-message", "-p", "#{pid}"],
            capture_output=True, text=True, check=True, timeout=5,
        ).stdout
    )  # fmt: skip
    os.kill(server_pid, signal.SIGSTOP)
    try:
        snap = await runtime.snapshot()
    finally:
        os.kill(server_pid, signal.SIGCONT)
    assert snap is None
    assert runtime.liveness(handle, snap) == "unknown"
    snap = await runtime.snapshot()
    assert snap is not None and runtime.liveness(handle, snap) == "alive"
