"""aoctl project add|list|remove  ↔  project.*  ↔  aod/handlers/project.py"""

from __future__ import annotations

import os

import click

from aoctl.commands._render import table
from aoctl.context import Context, json_option
from aod.protocol import ProjectInfo, ProjectListResult, ProjectRemoveResult


@click.group("project")
def command() -> None:
    """Register the git repositories aod works on."""


@command.command("add")
@click.argument("path", type=click.Path(file_okay=False))
@click.option("--name", help="Project name (default: the directory's name).")
@click.option("--agent", help="Agent for this project's sessions (default: from config).")
@click.option("--forge", type=click.Choice(["local", "github", "gitlab"]), help="Where issues and PRs live (config.yaml's `scm` and `tracker` name them apart).")
@click.option("--default-branch", help="Base branch for new sessions (default: detected).")
@json_option
@click.pass_obj
def add(ctx: Context, path: str, name: str | None, agent: str | None, forge: str | None, default_branch: str | None) -> None:
    """Register the git repository at PATH."""
    params = {"path": os.path.abspath(path), "name": name, "agent": agent, "forge": forge, "default_branch": default_branch}
    with ctx.client() as client:
        info = client.call_as(ProjectInfo, "project.add", {k: v for k, v in params.items() if v is not None})
    ctx.emit(info, lambda p: f"added project {p.name}: {p.path} (base {p.default_branch}, agent {p.agent}, forge {p.forge})")


@command.command("list")
@json_option
@click.pass_obj
def list_(ctx: Context) -> None:
    """List projects."""
    with ctx.client() as client:
        result = client.call_as(ProjectListResult, "project.list")

    def render(r: ProjectListResult) -> str:
        if not r.projects:
            return "no projects (add one with `aoctl project add PATH`)"
        return table(
            [[p.name, p.path, p.default_branch, p.agent, p.forge, p.tracker, p.source] for p in r.projects],
            ["NAME", "PATH", "BASE", "AGENT", "SCM", "ISSUES", "FROM"],
        )

    ctx.emit(result, render)


@command.command("remove")
@click.argument("name")
@json_option
@click.pass_obj
def remove(ctx: Context, name: str) -> None:
    """Unregister project NAME (its sessions and worktrees are not touched)."""
    with ctx.client() as client:
        result = client.call_as(ProjectRemoveResult, "project.remove", {"name": name})
    ctx.emit(result, lambda r: f"removed project {r.removed}")
