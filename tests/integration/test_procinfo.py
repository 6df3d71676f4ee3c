"""procinfo.foreground with real programs in a real tmux pane: what each kind of program is doing."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from aod.plugins.runtime import LaunchSpec
from aod.plugins.runtime.tmux import TmuxRuntime
from aod.procinfo import foreground, terminal_of
from tests.support.tmux import fake_agent_argv, tmux_server

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


@pytest.fixture
def runtime() -> Iterator[TmuxRuntime]:
    with tmux_server() as name:
        yield TmuxRuntime(name, config_file="/dev/null")


async def settled_state(runtime: TmuxRuntime, argv: list[str], tmp_path: Path, want: str | None) -> str | None:
    """The program's state once it has drawn something and, unless `want` is None, once it is
    `want` (the last state seen when it never got there)."""
    handle = await runtime.create(LaunchSpec(name="p", argv=argv, cwd=tmp_path))
    state = None
    with trio.move_on_after(10):
        while True:
            pane = ((await runtime.snapshot()) or {}).get("p")
            # Until tmux has wired the pane's terminal up, the child still holds tmux's /dev/null.
            started = pane is not None and pane.tty is not None and terminal_of(pane.pid) == pane.tty
            if started and (await runtime.capture(handle)).strip():
                assert pane is not None
                state = foreground(pane.pid, pane.tty)
                if state == want:
                    break
            await trio.sleep(0.05)
    await runtime.kill(handle)
    return state


async def test_a_line_mode_program_at_its_prompt_reads_its_terminal(runtime: TmuxRuntime, tmp_path: Path) -> None:
    assert await settled_state(runtime, [sys.executable, "-c", "input('> ')"], tmp_path, "reading") == "reading"


async def test_through_a_wrapper_shell(runtime: TmuxRuntime, tmp_path: Path) -> None:
    argv = ["sh", "-c", f"{sys.executable} -c \"input('> ')\"; echo done"]
    assert await settled_state(runtime, argv, tmp_path, "reading") == "reading"


async def test_a_program_on_the_cpu_is_running(runtime: TmuxRuntime, tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('busy', flush=True)\nwhile True: pass"]
    assert await settled_state(runtime, argv, tmp_path, "running") == "running"


async def test_a_shell_running_a_foreground_job(runtime: TmuxRuntime, tmp_path: Path) -> None:
    # An interactive shell gives each job its own process group, and the terminal to it.
    handle = await runtime.create(LaunchSpec(name="p", argv=["bash", "--norc", "-i"], cwd=tmp_path))
    await runtime.paste(handle, "sleep 30")  # the terminal keeps it until bash reads
    await runtime.press_enter(handle)
    found = None
    with trio.move_on_after(10):
        while found != "job":
            pane = ((await runtime.snapshot()) or {}).get("p")
            if pane is not None:
                found = foreground(pane.pid, pane.tty)
            await trio.sleep(0.05)
    await runtime.kill(handle)
    assert found == "job"


async def test_an_event_loop_tui_says_nothing(runtime: TmuxRuntime, tmp_path: Path) -> None:
    # The scripted agent waits in select(): idle or waiting for a model, the process cannot tell.
    assert await settled_state(runtime, fake_agent_argv(), tmp_path, None) is None


def test_no_such_process() -> None:
    assert foreground(None, "/dev/pts/0") is None
    assert foreground(2**22 + 12345, "/dev/pts/0") is None
    assert terminal_of(None) is None
