"""aoctl rpc METHOD [PARAMS_JSON]  ↔  any method: a raw call for scripts and debugging."""

from __future__ import annotations

import sys

import click
import msgspec

from aoctl.context import Context


@click.command("rpc")
@click.argument("method")
@click.argument("params", required=False)
@click.pass_obj
def command(ctx: Context, method: str, params: str | None) -> None:
    """Call METHOD with PARAMS (a JSON object or array; `-` reads it from stdin).

    Prints the result as JSON. `aoctl rpc rpc.discover` lists every method.
    """
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
