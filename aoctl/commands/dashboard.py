"""aoctl dashboard  ↔  web.token  ↔  aod/handlers/web.py:token"""

from __future__ import annotations

import sys

import click

from aoctl import exitcodes
from aoctl.context import Context, json_option
from aod.protocol import WebTokenResult


@click.command("dashboard")
@click.option("--open", "open_browser", is_flag=True, help="Open it in your web browser.")
@click.option("--rotate", is_flag=True, help="Make a new token first: every browser signed in with the old one is signed out.")
@json_option
@click.pass_obj
def command(ctx: Context, open_browser: bool, rotate: bool) -> None:
    """Print the dashboard's address, with its sign-in token.

    \b
    The address holds the token (after `#`, which a browser never sends to any server): anyone
    who has it can drive your agents, so do not share it. The page trades it for a cookie once
    and removes it from the address bar.
    """
    with ctx.client() as client:
        result = client.call_as(WebTokenResult, "web.token", {"rotate": rotate})
    if ctx.as_json:
        ctx.emit(result, str)
    elif result.url is not None:
        if rotate:
            click.echo("new token: browsers signed in with the old one are signed out", err=True)
        click.echo(result.url)
    if result.url is None:
        how = (
            "enable it with `web: {enabled: true}` in aod's config.yaml, then `aoctl daemon reload`"
            if not result.enabled
            else "`aoctl daemon status` shows where it should listen; fix web.listen and `aoctl daemon reload`"
        )
        click.echo(f"aoctl: the dashboard is not listening: {result.reason or 'unknown reason'}\n  {how}", err=True)
        if rotate:
            click.echo("  (the token was rotated all the same)", err=True)
        sys.exit(exitcodes.FAILED)
    if open_browser:
        import webbrowser  # only here: it costs start-up time

        if not webbrowser.open(result.url):
            click.echo("aoctl: no web browser could be started here; open the address above yourself", err=True)
            sys.exit(exitcodes.FAILED)
