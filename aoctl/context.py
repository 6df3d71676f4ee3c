"""What every aoctl command gets: where aod is, and how to print."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click
import msgspec

from aoctl.client import Client


class Context:
    """A plain class, not a dataclass: `dataclasses` costs every command's start-up ~1.5 ms."""

    __slots__ = ("socket_path", "as_json")

    def __init__(self, socket_path: str, as_json: bool = False) -> None:
        self.socket_path = socket_path  # a plain string: `pathlib` would cost start-up too
        self.as_json = as_json

    def client(self, timeout: float | None = 30.0) -> Client:
        return Client(self.socket_path, timeout=timeout)

    def emit_json(self, raw: bytes) -> None:
        """Print JSON text as --json prints results (indented, one trailing newline)."""
        sys.stdout.write(msgspec.json.format(raw, indent=2).decode())
        sys.stdout.write("\n")

    def emit(self, result: Any, render: Callable[[Any], str]) -> None:
        """Print `result` as JSON with --json, else as the human rendering."""
        if self.as_json:
            sys.stdout.write(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
            sys.stdout.write("\n")
        else:
            click.echo(render(result))


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`--json` on a subcommand, same as the global flag (so it works in either place)."""

    def enable(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            ctx.find_object(Context).as_json = True  # type: ignore[union-attr]

    return click.option(
        "--json",
        "_json",
        is_flag=True,
        expose_value=False,
        callback=enable,
        help="Print the result as JSON.",
    )(f)
