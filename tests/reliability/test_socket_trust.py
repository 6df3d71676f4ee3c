"""S1 (issue 14, security 1): aoctl talks only to its own user's aod.

Another local user who creates aoctl's socket directory first (`/tmp/ao-<uid>` when
XDG_RUNTIME_DIR is unset) and listens there would otherwise receive everything `aoctl send`
sends and could make `aoctl attach` run any command as the victim. aoctl refuses, before it
sends a byte, a socket whose directory others can write or own, and a listener that runs as
another uid (the kernel says who: SO_PEERCRED); `attach` runs only the runtimes' own attach
command shapes. Each case uses a real fake server (a process answering JSON-RPC lines) and the
real aoctl; the other uid is 65534 via setpriv, as in test_other_uid.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aod.protocol import attach_argv_problem
from tests.support.aod_process import short_tempdir, wait_for

# Listens on argv[1]; writes every byte it receives to argv[2]; answers each request line with
# the result in argv[3] (JSON). Standard library only: it may run as another uid.
FAKE_AOD = """\
import json, os, socket, sys
path, seen, result = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
server = socket.socket(socket.AF_UNIX)
server.bind(path)
os.chmod(path, 0o777)
server.listen(8)
open(path + ".ready", "w").close()
while True:
    conn, _ = server.accept()
    for line in conn.makefile("rb"):
        with open(seen, "ab") as out:
            out.write(line)
        request = json.loads(line)
        reply = {"jsonrpc": "2.0", "id": request.get("id"), "result": result}
        conn.sendall(json.dumps(reply).encode() + b"\\n")
    conn.close()
"""
PING = {"version": "9.9.9", "pid": 4242, "protocol": 1}


class FakeAod:
    def __init__(self, directory: Path, result: object, as_user: list[str] | None = None, python: str = sys.executable) -> None:
        self.socket_path = directory / "aod.sock"
        self.seen = directory.parent / f"{directory.name}.seen"
        self.seen.touch()
        os.chmod(self.seen, 0o666)
        errors = directory.parent / f"{directory.name}.err"
        with open(errors, "wb") as stderr:
            self.proc = subprocess.Popen(
                [*(as_user or []), python, "-c", FAKE_AOD, str(self.socket_path), str(self.seen), json.dumps(result)],
                stdout=subprocess.DEVNULL, stderr=stderr,
            )
        ready = Path(f"{self.socket_path}.ready")
        wait_for(lambda: ready.exists() or self.proc.poll() is not None, 20, "the fake aod to listen")
        assert self.proc.poll() is None, errors.read_text()

    def received(self) -> bytes:
        return self.seen.read_bytes()

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


def aoctl(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aoctl", *args], capture_output=True, text=True, timeout=60, env=env
    )


def env_without_runtime_dir(tmp: Path) -> dict[str, str]:
    """aoctl's default socket with XDG_RUNTIME_DIR unset: <temp dir>/ao-<uid>/aod.sock."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AOD_") and k != "XDG_RUNTIME_DIR"}
    env["TMPDIR"] = str(tmp)
    return env


@pytest.fixture
def tmp() -> Path:
    path = short_tempdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def fakes() -> list[FakeAod]:
    started: list[FakeAod] = []
    yield started
    for fake in started:
        fake.stop()


def refused(result: subprocess.CompletedProcess[str], why: str) -> None:
    assert result.returncode == 4, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert why in result.stderr, result.stderr
    assert result.stdout == "", result.stdout


def test_a_socket_directory_others_can_write_is_refused_before_anything_is_sent(tmp: Path, fakes: list[FakeAod]) -> None:
    planted = tmp / f"ao-{os.getuid()}"
    planted.mkdir()
    os.chmod(planted, 0o777)  # what another user's pre-created directory looks like
    fakes.append(fake := FakeAod(planted, PING))
    result = aoctl("send", "demo-1", "the secret plan", env=env_without_runtime_dir(tmp))
    refused(result, "writable by others")
    ping = aoctl("ping", env=env_without_runtime_dir(tmp))
    refused(ping, "writable by others")
    assert fake.received() == b""  # not one byte reached the listener


def test_a_socket_directory_owned_by_another_uid_is_refused(tmp: Path, fakes: list[FakeAod]) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to give a directory to another uid")
    planted = tmp / f"ao-{os.getuid()}"
    planted.mkdir(mode=0o700)
    fakes.append(fake := FakeAod(planted, PING))
    os.chown(planted, 65534, 65534)  # mode 0700, but not ours: its owner can swap the socket
    result = aoctl("send", "demo-1", "the secret plan", env=env_without_runtime_dir(tmp))
    refused(result, "belongs to uid 65534")
    assert fake.received() == b""


def test_a_listener_running_as_another_uid_is_refused(tmp: Path, fakes: list[FakeAod]) -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to run a server as another uid")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    candidates = (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3")
    python = next(
        (p for p in candidates if os.path.exists(p)
         and subprocess.run([*as_nobody, p, "-c", "pass"], capture_output=True, timeout=30).returncode == 0),
        None,
    )
    if python is None:
        pytest.skip("no Python interpreter uid 65534 may run")
    os.chmod(tmp, 0o755)
    planted = tmp / f"ao-{os.getuid()}"
    planted.mkdir(mode=0o700)
    os.chown(planted, 65534, 65534)
    fakes.append(fake := FakeAod(planted, PING, as_user=as_nobody, python=python))
    # Now the directory is ours and private: only the listener's uid is left to give it away.
    os.chown(planted, os.getuid(), os.getgid())
    os.chmod(planted, 0o700)
    result = aoctl("send", "demo-1", "the secret plan", env=env_without_runtime_dir(tmp))
    refused(result, "served by uid 65534")
    assert fake.received() == b""


def test_our_own_listener_in_a_private_directory_is_trusted(tmp: Path, fakes: list[FakeAod]) -> None:
    own = tmp / f"ao-{os.getuid()}"
    own.mkdir(mode=0o700)
    fakes.append(fake := FakeAod(own, PING))
    result = aoctl("--json", "ping", env=env_without_runtime_dir(tmp))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["pid"] == 4242
    assert b"daemon.ping" in fake.received()


def test_attach_runs_only_a_runtime_attach_command(tmp: Path, fakes: list[FakeAod]) -> None:
    own = tmp / f"ao-{os.getuid()}"
    own.mkdir(mode=0o700)
    proof = tmp / "pwned"
    fakes.append(FakeAod(own, {"id": "demo-1", "argv": ["sh", "-c", f"touch {proof}"]}))
    result = aoctl("attach", "demo-1", env=env_without_runtime_dir(tmp))
    refused(result, "neither tmux nor tail")
    assert not proof.exists()


@pytest.mark.parametrize(
    "argv, why",
    [
        (["sh", "-c", "id"], "neither tmux nor tail"),
        (["tmux", "-L", "ao", "attach-session", "-t", "=ao-1", ";", "run-shell", "id"], "not the shape"),
        (["tmux", "-L", "ao", "new-session", "-t", "=ao-1"], "not the shape"),
        (["tmux", "-L", "ao", "attach-session", "-t", "ao-1"], "not the shape"),  # a prefix match
        (["tmux", "-L", "ao", "attach-session", "-t", "=ao;1"], "not the shape"),
        (["tmux", "-S", "/tmp/x", "attach-session", "-t", "=ao-1"], "not the shape"),
        (["tail", "-n", "200", "-f", "relative.log"], "not the shape"),
        (["tail", "-n", "200", "-F", "/x/output.log", "--pid=1"], "not the shape"),
        (["./tmux", "-L", "ao", "attach-session", "-t", "=ao-1"], "absolute path"),
        ([], "empty"),
    ],
)
def test_attach_argv_shapes_that_are_refused(argv: list[str], why: str) -> None:
    problem = attach_argv_problem(argv)
    assert problem is not None and why in problem, problem


def test_a_tmux_that_another_user_can_replace_is_refused(tmp: Path) -> None:
    shared = tmp / "bin"
    shared.mkdir()
    os.chmod(shared, 0o777)
    (shared / "tmux").write_text("#!/bin/sh\n")
    problem = attach_argv_problem([str(shared / "tmux"), "-L", "ao", "attach-session", "-t", "=ao-1"])
    assert problem is not None and "can be changed by another user" in problem


def test_the_runtimes_own_attach_commands_are_accepted(tmp: Path) -> None:
    from aod.model import RuntimeHandle
    from aod.plugins.runtime.process import ProcessRuntime
    from aod.plugins.runtime.tmux import TmuxRuntime

    tmux = TmuxRuntime("ao-test")
    assert attach_argv_problem(tmux.attach_argv(RuntimeHandle(kind="tmux", name="demo-12"))) is None
    assert attach_argv_problem(tmux.attach_argv(RuntimeHandle(kind="tmux", name="demo-1", socket="ao.2"))) is None
    process = ProcessRuntime(tmp / "state")
    assert attach_argv_problem(process.attach_argv(RuntimeHandle(kind="process", name="demo-3"))) is None
    real = shutil.which("tmux")
    if real:
        assert attach_argv_problem([real, "-L", "ao", "attach-session", "-t", "=demo-1"]) is None
