"""aoctl's entry point: global options, error handling, and the list of commands.

Each command lives in `aoctl/commands/<name>.py`, calls one RPC method, and that method's
handler lives in `aod/handlers/` under the same namespace (see docs/architecture.md).
"""

from __future__ import annotations

import sys

import click

from aoctl import exitcodes
from aoctl.client import DaemonNotRunning, NotYourDaemon, ProtocolError, RpcError, UntrustedSocket
from aoctl.context import Context
from aod import __version__
from aod.wire import SOCKET_ENV, default_socket_path


# Command name -> the module in aoctl/commands that defines it (as `command`). Imported only
# when the command runs (or --help lists them): aoctl starts in the time of the one it needs.
COMMANDS = {
    "ask": "ask", "attach": "attach", "batch-spawn": "batch_spawn", "cleanup": "cleanup", "compare": "compare", "config": "config",
    "cost": "cost", "daemon": "daemon", "dashboard": "dashboard", "doctor": "doctor", "done": "done", "events": "events", "history": "history", "hook": "hook",
    "issue": "issue", "kill": "kill", "logs": "logs", "mcp": "mcp", "merge": "merge", "notify": "notify", "orchestrator": "orchestrator",
    "pause": "pause", "pick": "pick", "ping": "ping", "pr": "pr", "project": "project", "report": "report", "restore": "restore",
    "resume": "resume", "review": "review", "rpc": "rpc", "send": "send", "service": "service",
    "spawn": "spawn", "start": "start", "status": "status", "stop": "stop",
    "plan": "plan",
}  # fmt: skip
# issue 19, per-turn checkpoints
COMMANDS.update({"checkpoints": "checkpoints", "rollback": "rollback"})
# issue 21, remote hosts
COMMANDS.update({"hosts": "hosts"})
# issue 22, editor integrations (local: copies package data)
COMMANDS.update({"editor": "editor"})
# issue 22, plugins from other packages
COMMANDS.update({"plugins": "plugins"})


class _Group(click.Group):
    """Turns aoctl's expected failures into one-line messages and documented exit codes, and
    loads each command's module on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMANDS.get(cmd_name)
        if module_name is None:
            return None
        # __import__, not importlib.import_module: the import statement's own path, which
        # `python -X importtime` (and the test that keeps aoctl light) can see.
        module = __import__(f"aoctl.commands.{module_name}", fromlist=["command"])
        command: click.Command = module.command
        return command

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DaemonNotRunning as exc:
            click.echo(
                f"aoctl: aod is not running (no answer at {exc.path}: {exc.why}).\n"
                "Start it with `aoctl daemon start` (or `aod` in a terminal, or "
                "`aoctl service install` to start it at login).",
                err=True,
            )
            ctx.exit(exitcodes.NOT_RUNNING)
        except NotYourDaemon as exc:
            click.echo(
                f"aoctl: cannot connect to {exc.path}: Permission denied. That aod belongs to another "
                "user and serves only them; run aoctl as that user, or point --socket at your own aod.",
                err=True,
            )
            ctx.exit(exitcodes.FAILED)
        except UntrustedSocket as exc:
            click.echo(
                f"aoctl: not talking to {exc.path}: {exc.why}. It may not be your aod: another "
                "user could have made it to read what you send. Remove it if it is yours, or point "
                "--socket (AOD_SOCKET) at a socket in a directory only you can write "
                "(XDG_RUNTIME_DIR usually is one).",
                err=True,
            )
            ctx.exit(exitcodes.PROTOCOL)
        except RpcError as exc:
            click.echo(f"aoctl: {exc.message}", err=True)
            for line in _error_details(exc):
                click.echo(f"  {line}", err=True)
            ctx.exit(exitcodes.FAILED)
        except ProtocolError as exc:
            click.echo(f"aoctl: {exc}", err=True)
            ctx.exit(exitcodes.PROTOCOL)
        except KeyboardInterrupt:
            ctx.exit(exitcodes.INTERRUPTED)


def _error_details(exc: RpcError) -> list[str]:
    data = exc.data
    if isinstance(data, dict):
        if isinstance(data.get("errors"), list):
            return [str(e) for e in data["errors"]]
        if "path" in data:
            return [f"at {data['path']}"]
        if isinstance(data.get("valid"), list):
            return [f"valid: {', '.join(map(str, data['valid']))}"]
    return []


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--socket",
    type=click.Path(dir_okay=False),
    envvar=SOCKET_ENV,
    show_envvar=True,
    help="aod's socket (default: $XDG_RUNTIME_DIR/ao/aod.sock).",
)
@click.option("--json", "as_json", is_flag=True, help="Print results as JSON.")
@click.version_option(__version__, prog_name="aoctl")
@click.pass_context
def cli(ctx: click.Context, socket: str | None, as_json: bool) -> None:
    """Drive aod, the orchestrator of your AI coding agents.

    \b
    Exit codes: 0 ok, 1 aod reported a failure, 2 usage error,
    3 aod is not running, 4 protocol error, timeout or untrusted
    socket, 130 interrupted.
    """
    ctx.obj = Context(socket_path=socket or default_socket_path(), as_json=as_json)




def main() -> None:
    try:
        cli.main(prog_name="aoctl")
    except KeyboardInterrupt:
        sys.exit(exitcodes.INTERRUPTED)
