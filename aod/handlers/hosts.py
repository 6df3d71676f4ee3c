"""hosts.*: aoctl hosts list, aoctl hosts bootstrap (issue 21; aod/federation/)."""

from __future__ import annotations

from aod.app import App
from aod.handlers import Call, handler
from aod.protocol import HostBootstrapResult, HostListResult, HostNameParams, NoParams


@handler("hosts.list")
async def list_(app: App, _params: NoParams, _call: Call) -> HostListResult:
    return HostListResult(hosts=app.hosts.info())


@handler("hosts.bootstrap")
async def bootstrap(app: App, params: HostNameParams, _call: Call) -> HostBootstrapResult:
    from aod.federation.bootstrap import bootstrap as run

    return await run(app.hosts, params.name)
