"""A headless Neovim driven over its own msgpack-RPC socket (`nvim --headless --listen`), for
the editor plugin's tests. Standard library only: the few msgpack types Neovim's API uses are
encoded and decoded here (nil, bool, int, float, str, bin, array, map, ext for buffer/window
handles), so the tests need no pynvim/msgpack package.

    with Nvim(env) as nv:
        nv.command("Ao")
        nv.input("k")
        nv.lua("return require('ao.list').lines()")
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.support.aod_process import wait_for


def pack(obj: Any) -> bytes:
    if obj is None:
        return b"\xc0"
    if obj is True:
        return b"\xc3"
    if obj is False:
        return b"\xc2"
    if isinstance(obj, int):
        if 0 <= obj < 128:
            return bytes([obj])
        if -32 <= obj < 0:
            return struct.pack("b", obj)
        if obj >= 0:
            return b"\xcf" + struct.pack(">Q", obj)
        return b"\xd3" + struct.pack(">q", obj)
    if isinstance(obj, float):
        return b"\xcb" + struct.pack(">d", obj)
    if isinstance(obj, str):
        data = obj.encode("utf-8")
        return b"\xdb" + struct.pack(">I", len(data)) + data
    if isinstance(obj, bytes):
        return b"\xc6" + struct.pack(">I", len(obj)) + obj
    if isinstance(obj, (list, tuple)):
        return b"\xdd" + struct.pack(">I", len(obj)) + b"".join(pack(x) for x in obj)
    if isinstance(obj, dict):
        return b"\xdf" + struct.pack(">I", len(obj)) + b"".join(pack(k) + pack(v) for k, v in obj.items())
    raise TypeError(f"cannot pack {type(obj).__name__}")


class _Incomplete(Exception):
    pass


def unpack(data: bytes, i: int = 0) -> tuple[Any, int]:
    """One object from data[i:], and where the next starts; _Incomplete when more bytes are needed."""

    def need(n: int) -> None:
        if i + n > len(data):
            raise _Incomplete

    need(1)
    b = data[i]
    i += 1

    def take(n: int) -> bytes:
        nonlocal i
        need(n)
        out = data[i : i + n]
        i += n
        return out

    def seq(n: int) -> list[Any]:
        nonlocal i
        out = []
        for _ in range(n):
            v, i = unpack(data, i)
            out.append(v)
        return out

    def mapping(n: int) -> dict[Any, Any]:
        nonlocal i
        out = {}
        for _ in range(n):
            k, i = unpack(data, i)
            v, i = unpack(data, i)
            out[k] = v
        return out

    if b < 0x80:
        return b, i
    if b >= 0xE0:
        return b - 256, i
    if 0x80 <= b <= 0x8F:
        return mapping(b & 0x0F), i
    if 0x90 <= b <= 0x9F:
        return seq(b & 0x0F), i
    if 0xA0 <= b <= 0xBF:
        return take(b & 0x1F).decode("utf-8", "surrogateescape"), i
    simple = {0xC0: None, 0xC2: False, 0xC3: True}
    if b in simple:
        return simple[b], i
    if b in (0xC4, 0xC5, 0xC6):
        n = struct.unpack(">" + "BHI"[b - 0xC4], take(1 << (b - 0xC4)))[0]
        return take(n), i
    if b in (0xC7, 0xC8, 0xC9):  # ext 8/16/32
        n = struct.unpack(">" + "BHI"[b - 0xC7], take(1 << (b - 0xC7)))[0]
        take(1)
        ext, _ = unpack(take(n) or b"\xc0")
        return ext, i
    if b in (0xCA, 0xCB):
        return struct.unpack(">f" if b == 0xCA else ">d", take(4 if b == 0xCA else 8))[0], i
    if 0xCC <= b <= 0xD3:
        fmt = {0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}[b]
        return struct.unpack(fmt, take(struct.calcsize(fmt)))[0], i
    if 0xD4 <= b <= 0xD8:  # fixext: Neovim's Buffer/Window/Tabpage handles, an int inside
        take(1)
        ext, _ = unpack(take(1 << (b - 0xD4)))
        return ext, i
    if b in (0xD9, 0xDA, 0xDB):
        n = struct.unpack(">" + "BHI"[b - 0xD9], take(1 << (b - 0xD9)))[0]
        return take(n).decode("utf-8", "surrogateescape"), i
    if b in (0xDC, 0xDD):
        return seq(struct.unpack(">H" if b == 0xDC else ">I", take(2 if b == 0xDC else 4))[0]), i
    if b in (0xDE, 0xDF):
        return mapping(struct.unpack(">H" if b == 0xDE else ">I", take(2 if b == 0xDE else 4))[0]), i
    raise ValueError(f"msgpack byte {b:#x}")


class NvimError(Exception):
    pass


class Nvim:
    """`nvim --headless --listen SOCK` with `env`; requests over SOCK."""

    def __init__(self, env: dict[str, str], args: tuple[str, ...] = (), cwd: str | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="nv-", dir="/tmp"))
        self.address = str(self.dir / "nvim.sock")
        self.log = self.dir / "nvim.out"
        nvim = shutil.which("nvim")
        assert nvim, "nvim is not installed"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [nvim, "--headless", "-u", "NORC", "-i", "NONE", "-n", "--listen", self.address, *args],
                env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )
        self._ids = itertools.count(1)
        self._buffer = b""
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        wait_for(self._connect, 10, "nvim to listen")
        self.sock.settimeout(30)

    def _connect(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"nvim exited with {self.proc.returncode}: {self.output()}")
        try:
            self.sock.connect(self.address)
            return True
        except (FileNotFoundError, ConnectionRefusedError):
            return False

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def request(self, method: str, *args: Any) -> Any:
        msgid = next(self._ids)
        self.sock.sendall(pack([0, msgid, method, list(args)]))
        while True:
            try:
                message, used = unpack(self._buffer)
            except _Incomplete:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise NvimError(f"nvim closed the connection: {self.output()}") from None
                self._buffer += chunk
                continue
            self._buffer = self._buffer[used:]
            if message[0] == 1 and message[1] == msgid:
                if message[2] is not None:
                    raise NvimError(f"{method}: {message[2]}")
                return message[3]
            # notifications (none are asked for) and other replies are dropped

    def lua(self, code: str, *args: Any) -> Any:
        return self.request("nvim_exec_lua", code, list(args))

    def command(self, cmd: str) -> None:
        self.request("nvim_command", cmd)

    def input(self, keys: str) -> None:
        self.request("nvim_input", keys)

    def buffer_text(self, name: str = "ao://sessions") -> str:
        return self.lua(
            "for _, b in ipairs(vim.api.nvim_list_bufs()) do "
            "if vim.api.nvim_buf_get_name(b) == ... then "
            "return table.concat(vim.api.nvim_buf_get_lines(b, 0, -1, false), '\\n') end end return ''",
            name,
        )

    def wait_buffer(self, predicate: Any, what: str, name: str = "ao://sessions", timeout: float = 30) -> str:
        return wait_for(lambda: (t := self.buffer_text(name)) and predicate(t) and t, timeout, what)

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Nvim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def nvim_env(base: dict[str, str], root: Path) -> dict[str, str]:
    """`base` (aod's test env: AOD_SOCKET, XDG_DATA_HOME, HOME) with a config dir of its own."""
    env = dict(base)
    for name in ("config", "cache", "state"):
        (root / f"nv-{name}").mkdir(parents=True, exist_ok=True)
    env.update(
        XDG_CONFIG_HOME=str(root / "nv-config"),
        XDG_CACHE_HOME=str(root / "nv-cache"),
        XDG_STATE_HOME=str(root / "nv-state"),
        TERM=os.environ.get("TERM", "xterm-256color"),
    )
    return env
