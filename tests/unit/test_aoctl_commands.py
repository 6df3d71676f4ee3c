"""aoctl loads each command on demand: the table must name every command module, once, under
the command's own name (a command left out of it would silently vanish from aoctl)."""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from aoctl.cli import COMMANDS, cli


def test_every_command_module_is_in_the_table_under_its_own_name() -> None:
    folder = Path(importlib.import_module("aoctl.commands").__file__).parent  # type: ignore[arg-type]
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    assert set(COMMANDS.values()) == modules
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
    assert cli.get_command(ctx, "no-such-command") is None
