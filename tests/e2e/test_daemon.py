"""aod as a real process: start-up, permissions, signals, single instance, systemd hooks."""

from __future__ import annotations

import json
import shutil
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, RawConnection, wait_for


def test_starts_answers_and_stops_cleanly_on_sigterm(aod: AodProcess) -> None:
    assert aod.socket_path.stat().st_mode & 0o777 == 0o600
    assert aod.socket_path.parent.stat().st_mode & 0o777 == 0o700
    assert aod.state_dir.stat().st_mode & 0o777 == 0o700
    status = aod.result("daemon.status")
    assert status["socket_path"] == str(aod.socket_path)
    assert status["state_dir"] == str(aod.state_dir)
    assert status["config_loaded"] is False
    assert status["poll_interval_s"] == 5.0
    aod.signal(signal.SIGTERM)
    assert aod.wait_exit() == 0
    assert not aod.socket_path.exists()


def test_sigint_is_as_graceful_as_sigterm(aod: AodProcess) -> None:
    aod.signal(signal.SIGINT)
    assert aod.wait_exit() == 0
    assert not aod.socket_path.exists()
    assert "Traceback" not in aod.log()


def test_shutdown_method_replies_then_exits(aod: AodProcess) -> None:
    reply = aod.call("daemon.shutdown")
    assert reply["result"] == {"stopping": True}
    assert aod.wait_exit() == 0
    assert not aod.socket_path.exists()


def test_a_second_instance_is_refused_naming_the_first(aod: AodProcess) -> None:
    second = aod.spawn()
    assert second.wait(20) == 1
    assert f"already running (pid {aod.proc.pid}" in aod.log()  # type: ignore[union-attr]
    assert aod.call("daemon.ping")["result"]  # the first is untouched, socket included


def test_restart_after_kill_9_replaces_the_stale_socket(aod: AodProcess) -> None:
    aod.proc.kill()  # type: ignore[union-attr]
    aod.wait_exit()
    assert aod.socket_path.is_socket()  # left behind by the crash
    aod.start()
    assert aod.result("daemon.ping")["pid"] == aod.proc.pid  # type: ignore[union-attr]


def test_sighup_reloads_the_config(aod: AodProcess) -> None:
    aod.write_config("poll_interval: 250ms\n")
    aod.signal(signal.SIGHUP)
    wait_for(lambda: aod.result("daemon.status")["poll_interval_s"] == 0.25, what="reload")
    # A broken config on SIGHUP is reported in the log and the running config stays.
    aod.write_config("poll_interval: soon\n")
    aod.signal(signal.SIGHUP)
    wait_for(lambda: "config reload failed" in aod.log(), what="reload failure logged")
    assert aod.result("daemon.status")["poll_interval_s"] == 0.25
    assert aod.proc.poll() is None  # type: ignore[union-attr]


def test_reload_method_reports_every_config_error(aod: AodProcess) -> None:
    aod.write_config("poll_interval: soon\nlog:\n  level: loud\n")
    reply = aod.call("daemon.reload")
    assert reply["error"]["code"] == -32010
    errors = reply["error"]["data"]["errors"]
    assert len(errors) == 2
    assert errors[0].startswith(f"{aod.config_path}:1: poll_interval")
    assert errors[1].startswith(f"{aod.config_path}:3: log.level")


def test_ticks_run_and_are_reported(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    aod.write_config("poll_interval: 50ms\n")
    aod.start()
    tick = wait_for(
        lambda: (aod.result("daemon.status")["last_tick"] or {}).get("count", 0) >= 3 and
        aod.result("daemon.status")["last_tick"],
        what="three ticks",
    )
    assert tick["duration_ms"] >= 0
    assert tick["started_at"].endswith("Z")


def test_invalid_config_at_start_exits_with_file_and_line(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    aod.write_config("poll_interval: 5s\nbogus: 1\n")
    proc = aod.spawn()
    assert proc.wait(20) == 1
    assert f"{aod.config_path}:2: bogus" in aod.log()
    assert not aod.socket_path.exists()


def test_unusable_socket_dir_is_a_clear_error(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    aod.socket_path.parent.parent.mkdir(parents=True, exist_ok=True)
    aod.socket_path.parent.write_text("not a directory")
    proc = aod.spawn()
    assert proc.wait(20) == 1
    assert "cannot listen on" in aod.log()
    assert "Traceback" not in aod.log()


def test_too_long_socket_path_is_a_clear_error(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    proc = aod.spawn("--socket", str(aod.root / ("d" * 120) / "aod.sock"))
    assert proc.wait(20) == 1
    assert "more than the" in aod.log()


def test_sd_notify_ready_watchdog_stopping(make_aod: Callable[..., AodProcess], short_dir: Path) -> None:
    notify_path = short_dir / "notify"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(20)
    try:
        aod = make_aod(extra_env={"NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "200000"})
        aod.start()
        received = [listener.recv(4096).decode() for _ in range(3)]
        assert received[0].startswith("READY=1")
        assert "WATCHDOG=1" in received[1:]
        aod.signal(signal.SIGTERM)
        while True:
            message = listener.recv(4096).decode()
            if message != "WATCHDOG=1":
                break
        assert message.startswith("STOPPING=1")
        assert aod.wait_exit() == 0
    finally:
        listener.close()


def test_socket_activation_uses_the_inherited_socket(
    make_aod: Callable[..., AodProcess], short_dir: Path
) -> None:
    path = short_dir / "activated.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(16)
    aod = make_aod()
    # systemd sets LISTEN_PID to the service's own pid after fork; this shim does the same.
    shim = (
        "import os, sys; os.dup2(int(sys.argv[1]), 3); "
        "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1'); "
        "os.execv(sys.executable, [sys.executable, '-m', 'aod', '--log-format', 'json'])"
    )
    with open(aod.log_path, "ab") as log:
        aod.proc = subprocess.Popen(
            [sys.executable, "-c", shim, str(listener.fileno())],
            env=aod.env(),
            pass_fds=(listener.fileno(),),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    listener.close()  # only aod holds it now
    try:
        with RawConnection(path) as conn:
            conn.send_json({"jsonrpc": "2.0", "id": 1, "method": "daemon.status"})
            status = conn.receive_json()["result"]
        assert status["socket_activated"] is True
        assert status["pid"] == aod.proc.pid
        assert not aod.socket_path.exists()  # it did not bind its own
        aod.signal(signal.SIGTERM)
        assert aod.wait_exit() == 0
        assert path.exists()  # the socket belongs to systemd: aod leaves it in place
    finally:
        aod.stop()


def test_foreign_systemd_variables_are_ignored(make_aod: Callable[..., AodProcess]) -> None:
    # A NOTIFY_SOCKET that leads nowhere and LISTEN_* meant for another pid (inherited from
    # a parent) must neither break start-up nor be taken as socket activation.
    aod = make_aod(
        extra_env={"NOTIFY_SOCKET": "/nonexistent/notify", "LISTEN_PID": "1", "LISTEN_FDS": "1"}
    )
    aod.start()
    assert aod.result("daemon.status")["socket_activated"] is False


def test_logs_are_json_lines_when_not_on_a_tty(aod: AodProcess) -> None:
    aod.call("daemon.ping")
    lines = [line for line in aod.log().splitlines() if line.startswith("{")]
    ready = [json.loads(line) for line in lines if '"aod ready"' in line]
    assert ready and ready[0]["level"] == "info" and ready[0]["pid"] == aod.proc.pid  # type: ignore[union-attr]


def test_runtime_dir_fallback_is_private_and_per_user(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    env = aod.env()
    del env["AOD_SOCKET"]
    env.pop("XDG_RUNTIME_DIR")
    env["TMPDIR"] = str(aod.root / "tmp")
    (aod.root / "tmp").mkdir()
    with open(aod.log_path, "ab") as log:
        aod.proc = subprocess.Popen([sys.executable, "-m", "aod"], env=env, stdout=log, stderr=subprocess.STDOUT)
    expected = aod.root / "tmp" / f"ao-{os.getuid()}" / "aod.sock"
    wait_for(expected.exists, 20, "the fallback socket")
    assert expected.parent.stat().st_mode & 0o777 == 0o700


@pytest.mark.skipif(
    os.getuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to connect as another uid",
)
def test_another_uid_is_refused_even_if_the_socket_is_opened_up(aod: AodProcess) -> None:
    # File permissions are the first wall (0700 dir, 0600 socket); loosen them to prove the
    # second one, the kernel-reported peer uid, holds on its own.
    os.chmod(aod.root, 0o755)
    os.chmod(aod.socket_path.parent, 0o755)
    os.chmod(aod.socket_path, 0o666)
    # aod answers a refused peer at once and hangs up, so the probe's write may meet a closed
    # socket; the refusal is already queued for reading either way.
    probe = (
        "import socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n"
        "try:\n"
        "    s.sendall(b'{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"daemon.status\"}\\n')\n"
        "except BrokenPipeError:\n"
        "    pass\n"
        "print(s.makefile('rb').readline().decode())\n"
    )
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-c", probe, str(aod.socket_path)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 0, result.stderr
    reply = json.loads(result.stdout)
    assert reply["error"]["code"] == -32001
    assert "result" not in reply
    assert aod.call("daemon.ping")["result"]  # the owner is still served
