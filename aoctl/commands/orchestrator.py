"""aoctl orchestrator start  ↔  orchestrator.start  ↔  aod/handlers/orchestrator.py:start"""

from __future__ import annotations

import os

import click

from aoctl.commands._render import session_detail
from aoctl.context import Context, json_option
from aod.protocol import SessionInfo


@click.group("orchestrator")
def command() -> None:
    """The project's orchestrator agent: it reads the backlog and drives the workers."""


@command.command("start")
@click.option("-p", "--project", help="Project name (default: the one you are in, or the only one).")
@click.option("--agent", help="Agent to run (default: `orchestrator.agent`, else the project's).")
@json_option
@click.pass_obj
def start(ctx: Context, project: str | None, agent: str | None) -> None:
    """Start the project's orchestrator, or show the live one (there is never a second)."""
    params = {"project": project, "agent": agent, "cwd": os.getcwd()}
    with ctx.client(timeout=None) as client:
        info = client.call_as(SessionInfo, "orchestrator.start", {k: v for k, v in params.items() if v is not None})
    ctx.emit(info, lambda s: session_detail(s) + f"\n\nwatch it: aoctl attach {s.id}   talk to it: aoctl send {s.id} TEXT")
