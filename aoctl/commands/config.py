"""`aoctl config check`: validate a config file exactly as aod will read it.

The check runs in a child `python -m aod check-config`, for two reasons: aoctl must not import
pydantic or yaml (their start-up cost; see DESIGN.md §2), and the verdict is then the daemon's
own rather than a second implementation's. It needs no running daemon.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click

from aoctl import exitcodes
from aoctl.context import Context, json_option


@click.group("config")
def config() -> None:
    """Check aod's config file."""


@config.command("check")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), required=False)
@json_option
@click.pass_context
def check(ctx: click.Context, file: Path | None) -> None:
    """Validate a config file (default: the one aod reads).

    Prints every error at once, one `file:line: key: message` per line. Exit 0 when the file
    is valid, 1 when it has errors or is missing. With --json, prints
    {"path": ..., "ok": ..., "errors": [...]}.
    """
    argv = [sys.executable, "-m", "aod", "check-config"]
    options: Context = ctx.obj
    if options.as_json:
        argv.append("--json")
    if file is not None:
        argv += ["--", str(file)]  # "--": a file named like an option is still a file
    try:
        # The child inherits stdout/stderr (output passes through as written) and the
        # environment (AOD_CONFIG picks the default file; ${VARS} in the file expand).
        completed = subprocess.run(argv, check=False)
    except OSError as exc:
        click.echo(f"aoctl: cannot run {sys.executable} -m aod: {exc.strerror or exc}", err=True)
        ctx.exit(exitcodes.FAILED)
    # A child killed by a signal reports -N; shells report that as 128+N.
    ctx.exit(completed.returncode if completed.returncode >= 0 else 128 - completed.returncode)


command = config
