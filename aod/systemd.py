"""systemd integration in pure Python: sd_notify, the watchdog, and socket activation.

Everything is read from the environment once, at start-up, and then removed from it, so that
the agents and tools aod starts never inherit NOTIFY_SOCKET or LISTEN_* and confuse systemd.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

SD_LISTEN_FDS_START = 3
_ENV_KEYS = (
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
)


@dataclass(frozen=True)
class SystemdEnv:
    notify_socket: str | None
    watchdog_interval: float | None
    """Seconds between WATCHDOG=1 pings (half of WATCHDOG_USEC), or None without a watchdog."""
    listen_fds: tuple[int, ...]

    @classmethod
    def take(cls, environ: dict[str, str] | os._Environ[str] | None = None) -> SystemdEnv:
        """Read systemd's variables and remove them from `environ` (default: os.environ)."""
        env = os.environ if environ is None else environ
        values = {key: env.pop(key, None) for key in _ENV_KEYS}
        pid = os.getpid()
        watchdog = None
        if values["WATCHDOG_USEC"] and values["WATCHDOG_PID"] in (None, str(pid)):
            try:
                watchdog = int(values["WATCHDOG_USEC"]) / 1e6 / 2
            except ValueError:
                watchdog = None
        fds: tuple[int, ...] = ()
        if values["LISTEN_PID"] == str(pid) and values["LISTEN_FDS"]:
            try:
                count = int(values["LISTEN_FDS"])
            except ValueError:
                count = 0
            fds = tuple(range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count))
            for fd in fds:
                os.set_inheritable(fd, False)
        return cls(values["NOTIFY_SOCKET"] or None, watchdog, fds)

    def notify(self, state: str) -> bool:
        """Send one sd_notify datagram; False (never an exception) when it cannot be sent."""
        if not self.notify_socket:
            return False
        address = self.notify_socket
        if address.startswith("@"):  # abstract namespace
            address = "\0" + address[1:]
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.connect(address)
                sock.sendall(state.encode())
        except OSError:
            return False
        return True


def activated_socket(fd: int) -> socket.socket:
    """The listening socket systemd handed us, as a socket object (not a copy of the fd)."""
    sock = socket.socket(fileno=fd)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise ValueError(f"socket activation passed fd {fd} that is not a Unix stream socket")
    return sock
