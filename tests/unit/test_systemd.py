from __future__ import annotations

import os
import socket
from pathlib import Path

from aod.systemd import SystemdEnv


def test_take_reads_and_removes_every_systemd_variable() -> None:
    env = {
        "NOTIFY_SOCKET": "@abstract",
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": str(os.getpid()),
        "LISTEN_PID": str(os.getpid()),
        "LISTEN_FDS": "0",
        "LISTEN_FDNAMES": "aod.socket",
        "PATH": "/bin",
    }
    taken = SystemdEnv.take(env)
    assert env == {"PATH": "/bin"}  # children never see them
    assert taken.notify_socket == "@abstract"
    assert taken.watchdog_interval == 15.0
    assert taken.listen_fds == ()


def test_variables_meant_for_another_process_are_ignored() -> None:
    env = {"WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1", "LISTEN_PID": "1", "LISTEN_FDS": "2"}
    taken = SystemdEnv.take(env)
    assert taken.watchdog_interval is None
    assert taken.listen_fds == ()


def test_garbage_values_do_not_crash() -> None:
    taken = SystemdEnv.take({"WATCHDOG_USEC": "soon", "LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "x"})
    assert taken.watchdog_interval is None
    assert taken.listen_fds == ()


def test_notify_sends_a_datagram_and_never_raises(short_dir: Path) -> None:
    path = short_dir / "n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
        listener.bind(str(path))
        assert SystemdEnv(str(path), None, ()).notify("READY=1")
        assert listener.recv(100) == b"READY=1"
    assert SystemdEnv(str(short_dir / "gone"), None, ()).notify("READY=1") is False
    assert SystemdEnv(None, None, ()).notify("READY=1") is False
