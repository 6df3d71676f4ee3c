"""aoctl events  ↔  events.recent / events.subscribe (--follow)  ↔  aod/handlers/events.py"""

from __future__ import annotations

import sys
from typing import Any

import click
import msgspec

from aoctl.context import Context
from aod.protocol import Event, RecentEventsResult


@click.command("events")
@click.option("-f", "--follow", is_flag=True, help="Keep printing events as they happen (until Ctrl-C).")
@click.option("-k", "--kind", "kinds", multiple=True, help="Only these kinds (prefixes: `session`, `reaction`).")
@click.option("-n", "--limit", default=50, show_default=True, help="How many recent events first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
def command(ctx: Context, follow: bool, kinds: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Show what aod did lately: transitions, reactions, notifications, deliveries."""
    as_json = as_json or ctx.as_json
    wanted = list(kinds) or None
    with ctx.client(timeout=None if follow else 30.0) as client:
        if follow:
            # Subscribe first, then read the backlog: nothing falls between the two.
            subscribed = client.call("events.subscribe", {"kinds": wanted})
            start = int(subscribed["seq"]) if isinstance(subscribed, dict) else 0
        recent = client.call_as(RecentEventsResult, "events.recent", {"limit": limit, "kinds": wanted})
        for event in recent.events:
            _print(event, as_json)
        if not follow:
            return
        for notification in client.notifications():
            if notification.method != "event":
                continue
            event = msgspec.convert(notification.params, Event)
            if event.seq > start:
                _print(event, as_json)


def _print(event: Event, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(msgspec.json.encode(event).decode() + "\n")
    else:
        who = f" {event.session}" if event.session else ""
        click.echo(f"{event.time} #{event.seq} {event.kind}{who} {_data(event.data)}".rstrip())
    sys.stdout.flush()


def _data(data: dict[str, Any]) -> str:
    parts = []
    for key, value in data.items():
        text = " ".join(str(value).split())
        text = "".join(c if c.isprintable() else "?" for c in text)
        parts.append(f"{key}={text[:80]}")
    return " ".join(parts)
