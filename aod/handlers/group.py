"""group.*: aoctl spawn --attempts / --agent ×N (group.spawn), compare, pick (issue 19,
best-of-N attempts). The work is aod/groups.py's; the rules aod/attempts.py's."""

from __future__ import annotations

from aod.app import App
from aod.handlers import Call, handler
from aod.protocol import GroupCompareResult, GroupIdParams, GroupInfo, GroupPickParams, GroupPickResult, GroupSpawnParams


@handler("group.spawn")
async def spawn(app: App, params: GroupSpawnParams, _call: Call) -> GroupInfo:
    return await app.groups.spawn(params)


@handler("group.compare")
async def compare(app: App, params: GroupIdParams, _call: Call) -> GroupCompareResult:
    return await app.groups.compare(params.id)


@handler("group.pick")
async def pick(app: App, params: GroupPickParams, _call: Call) -> GroupPickResult:
    return await app.groups.pick(params.id, params.session)
