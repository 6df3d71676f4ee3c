"""A private tmux server per test: unique socket names, and a server killed at the end.

    @pytest.fixture
    def tmux_socket() -> Iterator[str]:
        with tmux_server() as name:
            yield name
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_counter = itertools.count(1)

FAKE_AGENT = Path(__file__).resolve().parent / "fake_agent.py"


def tmux_socket_name() -> str:
    """A socket name no other test (or test run) uses: `aot-<pid>-<n>`."""
    return f"aot-{os.getpid()}-{next(_counter)}"


def kill_tmux_server(name: str) -> None:
    subprocess.run(
        ["tmux", "-L", name, "kill-server"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=10,
        check=False,
    )


@contextmanager
def tmux_server(name: str | None = None) -> Iterator[str]:
    """Yield a fresh socket name; whatever server ran on it is killed on the way out."""
    if shutil.which("tmux") is None:
        raise RuntimeError("these tests need tmux installed")
    name = name or tmux_socket_name()
    try:
        yield name
    finally:
        kill_tmux_server(name)


def fake_agent_argv(*args: str) -> list[str]:
    """The command line that runs the scripted agent with this interpreter."""
    return [sys.executable, str(FAKE_AGENT), *args]
