"""The `aod` command: run the daemon in the foreground, or check a config file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from aod import __version__
from aod.paths import CONFIG_ENV, STATE_ENV, Locations
from aod.protocol import SOCKET_ENV

_path = click.Path(path_type=Path, dir_okay=False)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--socket", type=_path, envvar=SOCKET_ENV, show_envvar=True, help="Socket to listen on.")
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path, file_okay=False),
    envvar=STATE_ENV,
    show_envvar=True,
    help="State directory (default: $XDG_STATE_HOME/ao).",
)
@click.option(
    "--config",
    type=_path,
    envvar=CONFIG_ENV,
    show_envvar=True,
    help="Config file (default: $XDG_CONFIG_HOME/ao/config.yaml).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Overrides `log.level` from the config.",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "console"]),
    default=None,
    help="JSON lines or readable console output (auto: console on a TTY).",
)
@click.option(
    "--web-listen",
    metavar="HOST:PORT",
    envvar="AOD_WEB_LISTEN",  # aod.config.LISTEN_ENV, not imported here: it would load pydantic
    show_envvar=True,
    default=None,
    help="Overrides `web.listen`: where the dashboard listens (e.g. 127.0.0.1:0 for any free port).",
)
@click.version_option(__version__, prog_name="aod")
@click.pass_context
def main(
    ctx: click.Context,
    socket: Path | None,
    state_dir: Path | None,
    config: Path | None,
    log_level: str | None,
    log_format: str | None,
    web_listen: str | None,
) -> None:
    """aod: the daemon that runs your AI coding agents from issue to merged PR.

    Runs in the foreground until SIGTERM/SIGINT (SIGHUP reloads the config). Start it at login
    with `aoctl service install`, or in the background with `aoctl daemon start`.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = Locations.resolve(socket=socket, state_dir=state_dir, config=config)
        return
    from aod.daemon import run

    locations = Locations.resolve(socket=socket, state_dir=state_dir, config=config)
    sys.exit(run(locations, log_level=log_level, log_format=log_format, web_listen=web_listen))


@main.command("check-config")
@click.argument("file", type=_path, required=False)
@click.option("--json", "as_json", is_flag=True, help='Print {"path", "ok", "errors"} as JSON.')
@click.pass_obj
def check_config(locations: Locations, file: Path | None, as_json: bool) -> None:
    """Validate a config file; print every error as `file:line: key: message`.

    Exit 0 when valid, 1 when it has errors.
    """
    from aod.config import check_main

    sys.exit(check_main(file or locations.config_file, as_json=as_json))


@main.command("openrpc")
def openrpc() -> None:
    """Print the API as an OpenRPC document (what `rpc.discover` returns)."""
    import json

    from aod.protocol import openrpc_document

    click.echo(json.dumps(openrpc_document(__version__), indent=2, sort_keys=True))
