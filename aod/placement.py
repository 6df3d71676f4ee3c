"""PURE (issue 21): which host a spawn without `--host` goes to.

    choose(policy, pinned, project, hosts, turn) -> "local" | host name

`hosts` lists this machine (name `local`) and every configured host with what the cache knows:
reachable, live sessions, `max_sessions`, the 1-minute load. A host that is unreachable or full is
skipped (this machine is never full: it has no `max_sessions`); a project pinned to a host goes
there or nowhere (`PlacementError`, saying why). `turn` is round-robin's counter, kept by the caller.

No I/O, no clock, no imports of aod.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

LOCAL: Final = "local"


@dataclass(frozen=True)
class HostLoad:
    name: str
    reachable: bool = True
    live: int = 0
    max_sessions: int | None = None
    load: float | None = None

    @property
    def full(self) -> bool:
        return self.max_sessions is not None and self.live >= self.max_sessions

    @property
    def usable(self) -> bool:
        return self.reachable and not self.full


class PlacementError(Exception):
    """No host can take the spawn; the message says why and what to do."""


def choose(policy: str, pinned: Mapping[str, str], project: str | None, hosts: Sequence[HostLoad], turn: int = 0) -> str:
    by_name = {h.name: h for h in hosts}
    if project is not None and project in pinned:
        name = pinned[project]
        host = by_name.get(name)
        if host is None:
            raise PlacementError(f"project {project} is pinned to host {name!r}, which is not in `hosts`: add it there or change `placement.pinned`")
        if not host.reachable:
            raise PlacementError(f"project {project} is pinned to host {name}, which is unreachable: `aoctl hosts list` says why; or spawn with --host")
        if host.full:
            raise PlacementError(f"project {project} is pinned to host {name}, which is full ({host.live} of max_sessions {host.max_sessions}): end a session there or spawn with --host")
        return name
    if policy == LOCAL:
        return LOCAL
    usable = [h for h in hosts if h.usable]
    if not usable:
        raise PlacementError("no host can take a session: every one is unreachable or full (`aoctl hosts list`); spawn with --host local")
    if policy == "round-robin":
        return usable[turn % len(usable)].name
    if policy == "least-loaded":
        # Fewest live sessions, then the lower load average (unknown counts as none), then the
        # order of `hosts` (this machine first), so equal hosts stay where they were.
        order = {h.name: i for i, h in enumerate(hosts)}
        return min(usable, key=lambda h: (h.live, h.load if h.load is not None else 0.0, order[h.name])).name
    raise PlacementError(f"placement.policy {policy!r} is not local, least-loaded or round-robin")
