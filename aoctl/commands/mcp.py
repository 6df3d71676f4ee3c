"""aoctl mcp  ↔  every method of `aoctl/mcp/tools.py`: aod as an MCP server on stdin/stdout.

A transport, like `aoctl rpc`: each tool call is one call of its method on aod's socket, over
one connection kept for the life of the server (made again after aod restarts).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from aoctl.client import Client, ProtocolError
from aoctl.context import Context

CALL_TIMEOUT = 120.0
"""A spawn makes a worktree and starts an agent: seconds, not milliseconds."""


class _Connection:
    """One client to aod, opened on first use and again after it was lost."""

    def __init__(self, socket_path: str) -> None:
        self._socket_path = socket_path
        self._client: Client | None = None

    def call(self, method: str, params: dict[str, Any]) -> Any:
        if self._client is None:
            self._client = Client(self._socket_path, timeout=CALL_TIMEOUT)
        try:
            return self._client.call(method, params)
        except ProtocolError:
            self.close()
            raise

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


@click.command("mcp")
@click.pass_obj
def command(ctx: Context) -> None:
    """Serve aod's API to an MCP client (an agent CLI, an editor) on stdin/stdout.

    \b
    Configure it as a stdio server whose command is `aoctl mcp`, e.g.
      claude mcp add aod -- aoctl mcp
    Inside an aod session it reports as that session ($AO_SESSION_ID).
    See docs/mcp.md.
    """
    from aod import __version__
    from aoctl.mcp.server import McpServer

    connection = _Connection(ctx.socket_path)
    server = McpServer(
        connection.call, version=__version__, cwd=os.getcwd(), session_id=os.environ.get("AO_SESSION_ID") or None
    )
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        for line in stdin:
            answer = server.handle_line(line)
            if answer is not None:
                stdout.write(answer)
                stdout.flush()
    except (BrokenPipeError, KeyboardInterrupt):
        pass
    finally:
        connection.close()
