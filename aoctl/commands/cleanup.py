"""aoctl cleanup  ↔  session.cleanup  ↔  aod/handlers/session.py:cleanup"""

from __future__ import annotations

import click

from aoctl.context import Context, json_option
from aod.protocol import CleanupResult


@click.command("cleanup")
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@click.option("--force", is_flag=True, help="Also remove worktrees with uncommitted changes (saved to refs/ao/wip/<id> first).")
@click.option("-p", "--project", help="Only this project's sessions.")
@json_option
@click.pass_obj
def command(ctx: Context, dry_run: bool, force: bool, project: str | None) -> None:
    """Remove ended sessions' worktrees and archive their records. Work is never lost."""
    params = {"dry_run": dry_run, "force": force} | ({"project": project} if project else {})
    with ctx.client(timeout=None) as client:
        result = client.call_as(CleanupResult, "session.cleanup", params)
    ctx.emit(result, _render)


def _render(r: CleanupResult) -> str:
    if not r.items:
        return "nothing to clean up"
    lines = []
    for item in r.items:
        line = f"{item.action:12} {item.id}"
        if item.reason:
            line += f": {item.reason}"
        if item.wip_ref:
            line += f"\n{'':12} uncommitted work saved: git checkout {item.wip_ref} -- .  (to see it: git show --stat {item.wip_ref})"
        lines.append(line)
    return "\n".join(lines)
