"""aoctl hosts list  ↔  hosts.list;  aoctl hosts bootstrap NAME  ↔  hosts.bootstrap
(↔ aod/handlers/hosts.py; issue 21)."""

from __future__ import annotations

import click

from aoctl.context import Context, json_option
from aod.protocol import HostBootstrapResult, HostListResult


@click.group("hosts")
def command() -> None:
    """Remote hosts whose aods run sessions for this one (`hosts` in the config)."""


@command.command("list")
@json_option
@click.pass_obj
def list_(ctx: Context) -> None:
    """Each host: its target, reachable or since when not and why, its sessions and load."""
    with ctx.client() as client:
        result = client.call_as(HostListResult, "hosts.list")
    ctx.emit(result.hosts, _render)


def _render(hosts: list) -> str:  # type: ignore[type-arg]
    from aoctl.commands._render import table

    if not hosts:
        return "no hosts (add `hosts: {NAME: {ssh: user@host}}` to the config, then `aoctl daemon reload`)"
    rows = [
        [
            h.name, h.target, "yes" if h.reachable else "NO", h.since or "-",
            f"{h.live}/{h.max_sessions}" if h.max_sessions else str(h.live), str(h.sessions),
            f"{h.load_1m:.2f}" if h.load_1m is not None else "-", h.version or "-",
        ]
        for h in hosts
    ]
    text = table(rows, ["HOST", "TARGET", "REACHABLE", "SINCE", "LIVE", "SESSIONS", "LOAD", "VERSION"])
    errors = [f"{h.name}: {h.last_error}" for h in hosts if h.last_error]
    return text + "".join(f"\n{e}" for e in errors)


@command.command("bootstrap")
@click.argument("name")
@json_option
@click.pass_obj
def bootstrap(ctx: Context, name: str) -> None:
    """Install this aod's version on host NAME over ssh (a venv in ~/.local/share/ao/venv)."""
    with ctx.client(timeout=None) as client:
        result = client.call_as(HostBootstrapResult, "hosts.bootstrap", {"name": name})
    ctx.emit(result, lambda r: "\n".join([*r.steps, f"aoctl on {r.name}: {r.aoctl}"]))
