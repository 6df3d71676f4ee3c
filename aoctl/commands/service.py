"""aoctl service install|uninstall: start aod at login (systemd user units / launchd agent).

No RPC: this talks to the service manager, not to aod. The work is in aoctl/service_units.py;
this module parses options and prints.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import click

from aoctl import exitcodes
from aoctl.context import Context, json_option

if TYPE_CHECKING:
    from aoctl import service_units as units

# service_units is imported only when a service command runs: its standard-library imports
# would otherwise cost every aoctl start (ping, status) several milliseconds.
_PLATFORMS = ("systemd", "launchd")


def _units():  # type: ignore[no-untyped-def]
    from aoctl import service_units

    return service_units

_INDENT = "    "


@click.group("service")
def command() -> None:
    """Start aod at login, or stop doing so (systemd on Linux, launchd on macOS).

    Agents keep running when aod stops or restarts; see docs/operations.md.
    """


def _platform_option(f: Callable[..., object]) -> Callable[..., object]:
    # Hidden: for tests, which render the launchd agent on Linux and vice versa.
    return click.option(
        "--platform",
        type=click.Choice(_PLATFORMS),
        default=None,
        hidden=True,
        envvar="AOCTL_SERVICE_PLATFORM",
    )(f)


@command.command("install")
@click.option("--dry-run", is_flag=True, help="Show what would be written and run; change nothing.")
@click.option("--no-start", is_flag=True, help="Write the files, but do not enable or start aod.")
@click.option("--force", is_flag=True, help="Overwrite installed files that differ.")
@_platform_option
@json_option
@click.pass_obj
def install(
    ctx: Context, dry_run: bool, no_start: bool, force: bool, platform: units.PlatformName | None
) -> None:
    """Install aod as a user service that starts at login, and start it.

    \b
    Linux: aod.service + aod.socket in ~/.config/systemd/user/
    macOS: ~/Library/LaunchAgents/dev.aod.aod.plist
    The files name this installation's `aod` and the PATH of this shell,
    so aod finds git, tmux and the agent CLIs.
    """
    report = _guarded(
        lambda: _units().install(
            _manager(platform),
            _units().RenderInputs.capture(),
            force=force,
            dry_run=dry_run,
            start=not no_start,
        )
    )
    _finish(ctx, report)


@command.command("uninstall")
@click.option("--dry-run", is_flag=True, help="Show what would be removed and run; change nothing.")
@_platform_option
@json_option
@click.pass_obj
def uninstall(ctx: Context, dry_run: bool, platform: units.PlatformName | None) -> None:
    """Stop aod, and stop starting it at login.

    Removes the unit files; leaves aod's state, config and logs alone, and the agents running.
    """
    report = _guarded(lambda: _units().uninstall(_manager(platform), dry_run=dry_run))
    _finish(ctx, report)


def _manager(platform: units.PlatformName | None) -> units.ServiceManager:
    dirs = _units().UserDirs.from_environment()
    return _units().service_manager(platform or _units().detect_platform(), dirs)


def _guarded(operation: Callable[[], units.Report]) -> units.Report:
    """Expected failures become one line on stderr and exit status 1, never a traceback."""
    try:
        return operation()
    except _units().ServiceError as exc:
        _fail(str(exc))
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _fail(f"cannot write{where}: {exc.strerror or exc}")


def _fail(message: str) -> NoReturn:
    click.echo(f"aoctl: {message}", err=True)
    raise click.exceptions.Exit(exitcodes.FAILED)


def _finish(ctx: Context, report: units.Report) -> None:
    ctx.emit(report.to_json(), lambda _json: _render(report))
    if report.error:
        message = report.error
        if report.to_run:
            done = "The files are written" if report.operation == "install" else "The files are removed"
            commands = "\n".join(f"  {c}" for c in report.to_run)
            message += f"\n{done}; finish by running, in your login session:\n{commands}"
        _fail(message)


# ---------------------------------------------------------------------------------------------
# Human rendering
# ---------------------------------------------------------------------------------------------

_FILE_VERBS = {
    "create": ("created", "would create"),
    "update": ("updated", "would update"),
    "unchanged": ("unchanged", "unchanged"),
    "conflict": ("differs", "differs"),
    "remove": ("removed", "would remove"),
    "absent": ("absent", "absent"),
}


def _render(report: units.Report) -> str:
    lines: list[str] = []
    if report.dry_run:
        lines.append("Dry run: nothing is changed.")
    lines.append(f"aod's {report.description}:")
    for change in report.files:
        done, planned = _FILE_VERBS[change.action]
        lines.append(f"  {planned if report.dry_run else done:<12} {change.path}")
        if report.dry_run and change.action == "create" and change.content:
            lines.extend(_INDENT + line for line in change.content.splitlines())
        if change.diff and change.action in ("update", "conflict"):
            lines.extend(_INDENT + line for line in change.diff.splitlines())
    for directory in report.directories:
        lines.append(f"  {'would create' if report.dry_run else 'created':<12} {directory}/")
    for link in report.removed_links:
        lines.append(f"  {'removed':<12} {link}")
    if report.inputs and report.operation == "install":
        lines.append(f"  {'aod':<12} {report.inputs.aod_executable}")
        lines.append(f"  {'PATH':<12} {report.inputs.path}")

    for outcome in report.ran:
        lines.append(f"ran     {outcome.command}" if outcome.ok else f"failed  {outcome.command}")
    if report.dry_run:
        lines.extend(f"would run  {c}" for c in report.to_run)
    elif report.to_run and report.ok:
        lines.append("Not started (--no-start). To start aod now and at every login, run:")
        lines.extend(f"  {c}" for c in report.to_run)
    lines.extend(report.notes)
    return "\n".join(lines)
