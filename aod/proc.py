"""Running tools (git, tmux, agent CLIs' helpers) as subprocesses: argv only, always a timeout.

Every subprocess aod starts goes through `run`, so the rules hold everywhere: never a shell,
never a leaked systemd variable, prompts disabled for git and gh, and a count the tick reports.
"""

from __future__ import annotations

import math
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import trio

# What a child must never inherit: systemd's notification and activation handles belong to aod
# alone (an agent that wrote READY=1 or took our listening fd would confuse the service manager).
PRIVATE_VARIABLES = ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_USEC",
                      "WATCHDOG_PID", "INVOCATION_ID")
# Tools run non-interactively: a credential prompt would hang a probe until its timeout.
_TOOL_DEFAULTS = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",
    "GH_PROMPT_DISABLED": "1",
    "NO_COLOR": "1",
}


class ToolMissing(Exception):
    """The program is not installed (or not on PATH)."""

    def __init__(self, program: str) -> None:
        self.program = program
        super().__init__(f"{program!r} is not installed or not on PATH")


class ToolTimeout(Exception):
    def __init__(self, argv: Sequence[str], seconds: float) -> None:
        self.argv = list(argv)
        self.seconds = seconds
        super().__init__(f"{argv[0]} did not finish within {seconds:g}s")


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()


class ToolFailed(Exception):
    def __init__(self, result: Result, what: str = "") -> None:
        self.result = result
        detail = result.err or result.out.strip() or f"exit status {result.returncode}"
        super().__init__(f"{what or ' '.join(result.argv[:3])} failed: {detail}")


class Counter:
    """Subprocesses started; the tick reports how many it cost."""

    def __init__(self) -> None:
        self.started = 0


COUNTER = Counter()


def child_env(extra: Mapping[str, str] | None = None, *, tool: bool = True) -> dict[str, str]:
    """The environment for a child: aod's own minus systemd's handles, plus `extra`.

    `tool=True` adds the no-prompt defaults (for git, gh, tmux); agents get `tool=False` so they
    see the user's environment as it is.
    """
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_VARIABLES}
    if tool:
        env.update(_TOOL_DEFAULTS)
    if extra:
        env.update(extra)
    return env


async def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    check: bool = False,
    what: str = "",
    merge_stderr: bool = False,
) -> Result:
    """Run `argv` to completion (stdout and stderr captured) within `timeout` seconds.

    Raises ToolMissing when the program does not exist, ToolTimeout when it overran (it is
    killed), ToolFailed when `check` and it exited non-zero. `merge_stderr` interleaves stderr
    into stdout as the program wrote them (a CI log reads in order).
    """
    if not argv:
        raise ValueError("empty argv")
    COUNTER.started += 1
    full_env = dict(env) if env is not None else child_env()
    try:
        with trio.fail_after(timeout if math.isfinite(timeout) else 1e9):
            streams: dict[str, Any] = (
                {"stderr": subprocess.STDOUT} if merge_stderr else {"capture_stderr": True}
            )
            completed = await trio.run_process(
                list(argv),
                stdin=stdin if stdin is not None else subprocess.DEVNULL,
                capture_stdout=True,
                **streams,
                check=False,
                cwd=cwd,
                env=full_env,
            )
    except FileNotFoundError:
        if cwd is not None and not os.path.isdir(cwd):
            raise ToolFailed(
                Result(list(map(str, argv)), -1, b"", f"working directory {cwd} does not exist".encode()),
                what,
            ) from None
        raise ToolMissing(str(argv[0])) from None
    except trio.TooSlowError:
        raise ToolTimeout(argv, timeout) from None
    result = Result(list(map(str, argv)), completed.returncode, completed.stdout, completed.stderr or b"")
    if check and not result.ok:
        raise ToolFailed(result, what)
    return result


async def run_capped(
    argv: Sequence[str],
    *,
    timeout: float,
    limit: int,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[Result, bool]:
    """`run`, keeping at most `limit` bytes of stdout: a program that writes more is killed once
    it passed the limit (its output is not wanted, and need not sit in memory). Returns the result
    (stdout cut to `limit` bytes) and whether it was cut. Raises as `run` does."""
    if not argv:
        raise ValueError("empty argv")
    COUNTER.started += 1
    full_env = dict(env) if env is not None else child_env()
    out, err = bytearray(), bytearray()
    cut = False
    try:
        with trio.fail_after(timeout if math.isfinite(timeout) else 1e9):
            process = await trio.lowlevel.open_process(
                list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=cwd, env=full_env,
            )
            try:
                async def read_out() -> None:
                    nonlocal cut
                    assert process.stdout is not None
                    while chunk := await process.stdout.receive_some(65536):
                        out.extend(chunk)
                        if len(out) > limit:
                            cut = True
                            process.kill()
                            return

                async def read_err() -> None:
                    assert process.stderr is not None
                    while chunk := await process.stderr.receive_some(65536):
                        if len(err) < 65536:
                            err.extend(chunk)

                async with trio.open_nursery() as nursery:
                    nursery.start_soon(read_out)
                    nursery.start_soon(read_err)
                returncode = await process.wait()
            finally:
                with trio.CancelScope(shield=True):
                    if process.returncode is None:
                        process.kill()
                        await process.wait()
                    for stream in (process.stdout, process.stderr):
                        if stream is not None:
                            await stream.aclose()
    except FileNotFoundError:
        raise ToolMissing(str(argv[0])) from None
    except trio.TooSlowError:
        raise ToolTimeout(argv, timeout) from None
    if cut:
        returncode = 0  # killed by us, not failed
    return Result(list(map(str, argv)), returncode, bytes(out[:limit]), bytes(err)), cut
