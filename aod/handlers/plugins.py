"""plugins.*: aoctl plugins (issue 22; aod/plugins/external.py)."""

from __future__ import annotations

from aod.app import App
from aod.handlers import Call, handler
from aod.protocol import NoParams, PluginInfo, PluginListResult


@handler("plugins.list")
async def list_(app: App, _params: NoParams, _call: Call) -> PluginListResult:
    from aod.plugins import external

    rows = [*external.builtin_records(), *external.records()]
    order = {slot: i for i, slot in enumerate(external.SLOTS)}
    rows.sort(key=lambda r: (order[r.slot], not r.builtin, r.name))
    return PluginListResult(plugins=[
        PluginInfo(
            slot=r.slot, name=r.name, distribution=r.distribution, version=r.version, module=r.module,
            builtin=r.builtin, status=r.status, error=r.error or "", failures=r.failures, last_failure=r.last_failure,
        )
        for r in rows
    ])
