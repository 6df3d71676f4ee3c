"""aoctl rpc METHOD [PARAMS_JSON]  ↔  any method: a raw call for scripts and debugging.

aoctl rpc --stdio  ↔  every method: a bridge from stdin/stdout to aod's socket (issue 21), what
another machine's aod runs over SSH (`ssh HOST -- aoctl rpc --stdio`) to federate this one."""

from __future__ import annotations

import os
import sys

import click
import msgspec

from aoctl.context import Context

_CHUNK = 256 * 1024


@click.command("rpc")
@click.argument("method", required=False)
@click.argument("params", required=False)
@click.option("--stdio", is_flag=True, help="Relay JSON-RPC between stdin/stdout and aod (started if absent) until either side closes.")
@click.pass_obj
def command(ctx: Context, method: str | None, params: str | None, stdio: bool) -> None:
    """Call METHOD with PARAMS (a JSON object or array; `-` reads it from stdin).

    Prints the result as JSON. `aoctl rpc rpc.discover` lists every method.

    With --stdio (no METHOD): every newline-delimited JSON-RPC message read from stdin goes to
    aod's socket as it is, and every message aod sends (replies and notifications) is written to
    stdout, until stdin ends (then aod's last replies are still passed on) or aod closes. aod is
    started in the background first when it is not running. This is how another machine's aod
    reaches this one over SSH (`hosts` in its config)."""
    if stdio:
        if method is not None:
            raise click.UsageError("--stdio takes no METHOD: the requests come on stdin")
        sys.exit(_bridge(ctx))
    if method is None:
        raise click.UsageError("give a METHOD (or --stdio)")
    decoded = None
    if params is not None:
        text = sys.stdin.read() if params == "-" else params
        try:
            decoded = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            raise click.BadParameter(f"not valid JSON: {exc}", param_hint="PARAMS") from None
        if not isinstance(decoded, dict | list):
            raise click.BadParameter("must be a JSON object or array", param_hint="PARAMS")
    with ctx.client() as client:
        result = client.call(method, decoded)
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(result), indent=2).decode() + "\n")


def _bridge(ctx: Context) -> int:
    """Relay bytes both ways between fds 0/1 and aod's socket. The socket is checked like every
    client's (its directory, the listener's uid) before a byte is sent."""
    import select

    from aoctl.client import DaemonNotRunning

    try:
        client = ctx.client(timeout=None)
    except DaemonNotRunning:
        from aoctl.commands.daemon import StartFailed, start_in_background

        try:
            start_in_background(ctx)
        except StartFailed as exc:
            click.echo(f"aoctl: {exc}", err=True)
            return 1
        client = ctx.client(timeout=None)
    sock = client._sock  # noqa: SLF001 - the checked, connected socket; the bridge moves raw bytes
    sock_fd = sock.fileno()
    stdin_fd, stdout_fd = sys.stdin.fileno(), sys.stdout.fileno()
    poller = select.poll()
    poller.register(stdin_fd, select.POLLIN)
    poller.register(sock_fd, select.POLLIN)
    stdin_open = True
    try:
        while True:
            for fd, _mask in poller.poll():
                if fd == sock_fd:
                    data = sock.recv(_CHUNK)
                    if not data:
                        return 0  # aod closed the connection: we are done
                    _write_all(stdout_fd, data)
                elif fd == stdin_fd and stdin_open:
                    data = os.read(stdin_fd, _CHUNK)
                    if data:
                        sock.sendall(data)
                    else:
                        # Our peer is done sending: tell aod, and pass on what it still answers.
                        stdin_open = False
                        poller.unregister(stdin_fd)
                        sock.shutdown(1)  # SHUT_WR
    except (BrokenPipeError, ConnectionError):
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        client.close()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
