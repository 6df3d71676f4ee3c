"""Where aod keeps things: XDG locations, overridable by flags and AOD_* variables."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from aod.protocol import default_socket_path

APP = "ao"
STATE_ENV = "AOD_STATE_DIR"
CONFIG_ENV = "AOD_CONFIG"
# Linux sun_path holds 108 bytes including the terminating NUL; macOS 104.
MAX_SOCKET_PATH_BYTES = 103


def _xdg(env: dict[str, str], name: str, fallback: str) -> Path:
    value = env.get(name)
    if value and Path(value).is_absolute():
        return Path(value)
    return Path.home() / fallback


@dataclass(frozen=True)
class Locations:
    config_file: Path
    state_dir: Path
    socket_path: Path
    data_dir: Path

    @classmethod
    def resolve(
        cls,
        *,
        socket: Path | None = None,
        state_dir: Path | None = None,
        config: Path | None = None,
        environ: dict[str, str] | None = None,
    ) -> Locations:
        """Flags win over AOD_* variables, which win over XDG defaults."""
        env = dict(os.environ if environ is None else environ)
        if state_dir is None:
            state_dir = Path(env[STATE_ENV]) if env.get(STATE_ENV) else None
        if config is None:
            config = Path(env[CONFIG_ENV]) if env.get(CONFIG_ENV) else None
        return cls(
            config_file=(config or _xdg(env, "XDG_CONFIG_HOME", ".config") / APP / "config.yaml")
            .expanduser()
            .absolute(),
            state_dir=(state_dir or _xdg(env, "XDG_STATE_HOME", ".local/state") / APP)
            .expanduser()
            .absolute(),
            socket_path=Path(socket or default_socket_path(env)).expanduser().absolute(),
            data_dir=(_xdg(env, "XDG_DATA_HOME", ".local/share") / APP).absolute(),
        )


class UnsafeDirectory(Exception):
    """A directory that should be ours alone is not (wrong owner, or not a directory)."""


def ensure_private_dir(path: Path) -> None:
    """Create `path` (and parents) so that it is a 0700 directory owned by this user.

    An existing directory we own is tightened to 0700; one owned by someone else is refused,
    because whoever owns it could swap our socket for theirs.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectory(f"{path} is not a directory")
    if info.st_uid != os.getuid():
        raise UnsafeDirectory(
            f"{path} belongs to uid {info.st_uid}, not to you (uid {os.getuid()}); "
            "remove it or choose another socket path with --socket"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)


def check_socket_path(path: Path) -> None:
    if len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES:
        raise UnsafeDirectory(
            f"socket path is {len(os.fsencode(path))} bytes, more than the {MAX_SOCKET_PATH_BYTES} "
            f"a Unix socket allows: {path}; choose a shorter one with --socket or AOD_SOCKET"
        )
