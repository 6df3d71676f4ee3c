"""Run aod as a real process in its own temp dirs, and talk to it over its real socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTUP_TIMEOUT = 20.0


def short_tempdir() -> Path:
    """Unix socket paths are limited to ~104 bytes; pytest's tmp_path can be longer."""
    return Path(tempfile.mkdtemp(prefix="ao-", dir="/tmp"))


def wait_for(predicate: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll `predicate` until it returns something truthy; fail after `timeout`.

    Waiting on a condition with a deadline, never a fixed sleep standing in for one."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


@dataclass
class AodProcess:
    root: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    web_listen: str | None = "127.0.0.1:0"
    """$AOD_WEB_LISTEN: each test's aod on a free port of its own, never the real 7433 (a user's
    aod, or another test's); None leaves `web.listen` to the test's config."""

    @property
    def socket_path(self) -> Path:
        return self.root / "run" / "aod.sock"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yaml"

    @property
    def log_path(self) -> Path:
        return self.root / "aod.log"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AOD_", "NOTIFY_SOCKET", "LISTEN_", "WATCHDOG_"))
        }
        env.update(
            AOD_SOCKET=str(self.socket_path),
            AOD_STATE_DIR=str(self.state_dir),
            AOD_CONFIG=str(self.config_path),
            XDG_RUNTIME_DIR=str(self.root / "xdg-run"),
            XDG_STATE_HOME=str(self.root / "xdg-state"),
            XDG_CONFIG_HOME=str(self.root / "xdg-config"),
            XDG_DATA_HOME=str(self.root / "xdg-data"),
            HOME=str(self.root / "home"),
            PYTHONUNBUFFERED="1",
        )
        if self.web_listen is not None:
            env["AOD_WEB_LISTEN"] = self.web_listen
        env.update(self.extra_env)
        return env

    def write_config(self, text: str) -> None:
        self.config_path.write_text(text)

    def spawn(self, *args: str, **popen: Any) -> subprocess.Popen[bytes]:
        """Start `aod` without waiting for it (for tests of start-up failures)."""
        with open(self.log_path, "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "aod", "--log-format", "json", *args],
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **popen,
            )

    def start(self, *args: str, **popen: Any) -> AodProcess:
        self.proc = self.spawn(*args, **popen)
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"aod exited with {self.proc.returncode}:\n{self.log()}")
            return self.answers()

        wait_for(ready, STARTUP_TIMEOUT, "aod to answer")

    def answers(self) -> bool:
        try:
            self.call("daemon.ping")
            return True
        except OSError:
            return False

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def call(self, method: str, params: Any = None, timeout: float = 10.0) -> Any:
        """One request on a fresh connection; returns the whole reply object."""
        with RawConnection(self.socket_path, timeout) as conn:
            request: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
            if params is not None:
                request["params"] = params
            conn.send_json(request)
            return conn.receive_json()

    def result(self, method: str, params: Any = None) -> Any:
        reply = self.call(method, params)
        assert "result" in reply, reply
        return reply["result"]

    def aoctl(self, *args: str, input: bytes | None = None, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aoctl", *args],
            env=self.env(),
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RawConnection:
    """A bare socket to aod, for speaking (and mis-speaking) the protocol byte by byte."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
        except OSError:
            self.sock.close()
            raise
        self.buffer = b""

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_json(self, obj: Any) -> None:
        self.send(json.dumps(obj).encode() + b"\n")

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def receive_line(self) -> bytes | None:
        while b"\n" not in self.buffer:
            if not self._fill():
                return None
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def receive_json(self) -> Any:
        line = self.receive_line()
        if line is None:
            raise EOFError("aod closed the connection")
        return json.loads(line)

    def receive_lsp(self) -> Any:
        while b"\r\n\r\n" not in self.buffer:
            if not self._fill():
                raise EOFError("aod closed the connection")
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        length = int(head.split(b":", 1)[1])
        while len(self.buffer) < length:
            if not self._fill():
                raise EOFError("aod closed the connection mid-message")
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return json.loads(body)

    def at_eof(self) -> bool:
        """True once aod has closed its side (after any buffered data)."""
        return not self.buffer and not self._fill()


def aod_processes() -> Iterator[Any]:  # pragma: no cover - used by conftest
    roots: list[Path] = []
    daemons: list[AodProcess] = []

    def make(**kwargs: Any) -> AodProcess:
        root = short_tempdir()
        roots.append(root)
        daemon = AodProcess(root, **kwargs)
        daemons.append(daemon)
        return daemon

    yield make
    for daemon in daemons:
        daemon.stop()
    for root in roots:
        shutil.rmtree(root, ignore_errors=True)
