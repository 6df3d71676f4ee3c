"""An MCP client for tests: `aoctl mcp` as a real process, spoken to line by line on its stdio."""

from __future__ import annotations

import itertools
import json
import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

MODERN = "2026-07-28"


class McpPeer:
    def __init__(self, env: dict[str, str], cwd: Path, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aoctl", "mcp"], env=env, cwd=cwd,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._ids = itertools.count(1)
        self._buffer = b""

    def __enter__(self) -> McpPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream:
                stream.close()

    def send_raw(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line if line.endswith(b"\n") else line + b"\n")
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps(message).encode())

    def receive(self) -> Any:
        """The next message the server writes (each is one line of JSON)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + self.timeout
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while b"\n" not in self._buffer:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError(f"aoctl mcp said nothing within {self.timeout} s")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError(f"aoctl mcp ended: {self.stderr()}")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def request(self, method: str, params: dict[str, Any] | None = None, *, modern: bool = False) -> Any:
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None or modern:
            message["params"] = dict(params or {})
        if modern:
            message["params"]["_meta"] = {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientInfo": {"name": "tests", "version": "0"},
                "io.modelcontextprotocol/clientCapabilities": {},
            }
        self.send(message)
        reply = self.receive()
        assert reply.get("id") == request_id, reply
        return reply

    def initialize(self, version: str = "2025-06-18") -> Any:
        reply = self.request("initialize", {
            "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "tests", "version": "0"},
        })
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    def call_tool(self, name: str, arguments: dict[str, Any] | None = None, *, modern: bool = False) -> Any:
        reply = self.request("tools/call", {"name": name, "arguments": arguments or {}}, modern=modern)
        assert "result" in reply, reply
        return reply["result"]

    def stderr(self) -> str:
        if self.proc.poll() is None or self.proc.stderr is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")
