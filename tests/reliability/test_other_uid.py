"""R6: another uid cannot use the socket.

tests/e2e/test_daemon.py::test_another_uid_is_refused_even_if_the_socket_is_opened_up loosens the
file permissions to prove the second wall (the kernel-reported peer uid, answered -32001). This
file covers the first wall as shipped: with aod's own 0700 directory and 0600 socket, another
uid's connect fails with EACCES, `aoctl` run by that uid fails with a clear message (no
traceback), and aod neither crashes nor stops serving its owner. Both ways to become another
user are tried where they exist (`setpriv`, `runuser`); we must be root to use them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.support.aod_process import AodProcess

AS_NOBODY = {
    "setpriv": ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
    "runuser": ["runuser", "-u", "nobody", "--"],
}

PROBE = """\
import errno, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as exc:
    print(errno.errorcode.get(exc.errno, exc.errno))
else:
    print("connected")
"""


def as_nobody(tool: str) -> list[str]:
    if os.getuid() != 0:
        pytest.skip("needs root to run a client as another uid")
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    return AS_NOBODY[tool]


def runs_as(prefix: list[str], python: str) -> bool:
    """Whether the other uid can start this interpreter (it may live under a 0700 home)."""
    return subprocess.run([*prefix, python, "-c", "pass"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.parametrize("tool", sorted(AS_NOBODY))
def test_another_uid_cannot_even_connect(aod: AodProcess, tool: str) -> None:
    prefix = as_nobody(tool)
    candidates = (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3")
    python = next((p for p in candidates if os.path.exists(p) and runs_as(prefix, p)), None)
    if python is None:
        pytest.skip(f"no Python interpreter that uid 65534 may run under {tool}")
    probe = subprocess.run([*prefix, python, "-c", PROBE, str(aod.socket_path)], capture_output=True, text=True, timeout=30)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "EACCES", probe.stdout
    if python == sys.executable:  # aoctl itself needs this environment's packages
        env = {**aod.env(), "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
        ping = subprocess.run([*prefix, python, "-m", "aoctl", "ping"], capture_output=True, text=True, timeout=30, env=env, cwd="/")
        assert ping.returncode == 1, (ping.returncode, ping.stdout, ping.stderr)
        assert "Traceback" not in ping.stderr and "Permission denied" in ping.stderr, ping.stderr
    assert aod.proc is not None and aod.proc.poll() is None
    assert aod.call("daemon.ping")["result"]["pid"] == aod.proc.pid  # the owner is still served
    assert "Traceback" not in aod.log()


def test_another_uid_is_told_permission_denied_not_that_aod_is_down(aod: AodProcess) -> None:
    prefix = as_nobody("setpriv")
    if not runs_as(prefix, sys.executable):
        pytest.skip("uid 65534 may not run this environment's Python")
    env = {**aod.env(), "HOME": "/nonexistent", "PYTHONDONTWRITEBYTECODE": "1"}
    ping = subprocess.run([*prefix, sys.executable, "-m", "aoctl", "ping"], capture_output=True, text=True, timeout=30, env=env, cwd="/")
    assert ping.returncode != 0 and "Permission denied" in ping.stderr, ping.stderr
    assert "not running" not in ping.stderr and "daemon start" not in ping.stderr, ping.stderr
