"""The envelope and the socket: what every client needs before it knows any method.

Part of the contract in `aod/protocol.py`, which re-exports every name here; kept apart so that a
client's start-up (aoctl's every command) pays for a handful of Structs, not for all of them.
Imports only the standard library and msgspec.
"""

from __future__ import annotations

import os
from typing import Any, Final

import msgspec

JSONRPC: Final = "2.0"
DEFAULT_MAX_MESSAGE_BYTES: Final = 1024 * 1024

# ---------------------------------------------------------------------------------------------
# Where the socket is. Part of the contract: every client must find the same socket as aod.
# ---------------------------------------------------------------------------------------------

SOCKET_ENV: Final = "AOD_SOCKET"
SOCKET_NAME: Final = "aod.sock"


def default_socket_path(environ: dict[str, str] | None = None) -> str:
    """`$AOD_SOCKET`, else `$XDG_RUNTIME_DIR/ao/aod.sock`, else a per-uid dir under the temp dir.

    The temp-dir fallback is named by uid and must be owned by that uid with mode 0700; aod
    checks that before it binds, and a client must check it (`socket_dir_problem`) and who
    listens (`peer_uid`) before it sends anything: another user can create that directory
    first and listen in it. A plain string (os.path): `pathlib` costs a client's start-up ~6 ms.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(SOCKET_ENV)
    if explicit:
        return os.path.expanduser(explicit)
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "ao", SOCKET_NAME)
    import tempfile  # only here: it costs aoctl's start-up ~4 ms otherwise

    return os.path.join(tempfile.gettempdir(), f"ao-{os.getuid()}", SOCKET_NAME)


def socket_dir_problem(path: str | os.PathLike[str]) -> str | None:
    """Why the directory holding the socket at `path` cannot be trusted, or None.

    It must be owned by this user and writable by no one else: whoever can write it can put
    their own socket at `path`. A directory that does not exist, or that we may not even look
    into, is no problem here: nothing of ours can be reached through it, and connecting says
    so."""
    import stat

    parent = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        info = os.stat(parent)
    except (FileNotFoundError, PermissionError):
        return None  # connecting fails too, and says why (not running / not yours)
    except OSError as exc:
        return f"cannot inspect {parent}: {exc.strerror or exc}"
    uid = os.getuid()
    if info.st_uid != uid:
        return f"{parent} belongs to uid {info.st_uid}, not to you (uid {uid})"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"{parent} is writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    return None


# Linux `struct ucred` {pid, uid, gid}; BSD/macOS `struct xucred` {version, uid, ngroups, groups[16]}.
_UCRED = "3i"
_XUCRED_SIZE = 76
_SOL_LOCAL, _LOCAL_PEERCRED = 0, 1


def peer_uid(sock: Any) -> int | None:
    """The uid of the process at the other end of a connected Unix socket, from the kernel
    (on the client side: of whoever listens). None when this platform cannot tell."""
    import struct

    try:
        import _socket as socket  # the C module: `socket` costs a client's start-up ~4 ms
    except ImportError:  # pragma: no cover - an interpreter without it
        import socket  # type: ignore[no-redef]

    if hasattr(socket, "SO_PEERCRED"):
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize(_UCRED))
        return int(struct.unpack(_UCRED, creds)[1])
    try:  # macOS, FreeBSD: LOCAL_PEERCRED at level SOL_LOCAL
        creds = sock.getsockopt(_SOL_LOCAL, _LOCAL_PEERCRED, _XUCRED_SIZE)
        return int(struct.unpack_from("II", creds)[1])
    except OSError:
        pass
    import ctypes  # pragma: no cover - platforms with getpeereid only
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    uid, gid = ctypes.c_uint32(), ctypes.c_uint32()
    if getattr(libc, "getpeereid", None) and libc.getpeereid(sock.fileno(), ctypes.byref(uid), ctypes.byref(gid)) == 0:
        return uid.value
    return None


# ---------------------------------------------------------------------------------------------
# JSON-RPC 2.0 envelopes.
# ---------------------------------------------------------------------------------------------

RequestId = str | int | None


class ErrorObject(msgspec.Struct, omit_defaults=True):
    code: int
    message: str
    data: Any = None


class Request(msgspec.Struct):
    """A request (with `id`) or a notification (without). Unset members are left out."""

    method: str
    params: dict[str, Any] | list[Any] | msgspec.UnsetType = msgspec.UNSET
    id: RequestId | msgspec.UnsetType = msgspec.UNSET
    jsonrpc: str = JSONRPC


class Response(msgspec.Struct):
    id: RequestId
    result: Any
    jsonrpc: str = JSONRPC


class ErrorResponse(msgspec.Struct):
    id: RequestId
    error: ErrorObject
    jsonrpc: str = JSONRPC


class Notification(msgspec.Struct):
    method: str
    params: Any
    jsonrpc: str = JSONRPC
