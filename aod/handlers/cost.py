"""cost.*: aoctl cost."""

from __future__ import annotations

import time

from aod.app import App
from aod.cost import summarize
from aod.errors import RpcFailure
from aod.handlers import Call, handler
from aod.protocol import CostParams, CostResult, ErrorCode


@handler("cost.summary")
async def summary(app: App, params: CostParams, _call: Call) -> CostResult:
    month = params.month or time.strftime("%Y-%m", time.gmtime())
    try:
        entries = await app.store.read_cost(month)
    except ValueError:
        raise RpcFailure(ErrorCode.INVALID_PARAMS, f"invalid month {month!r}: use YYYY-MM, like 2026-12") from None
    return summarize(month, entries, params.project)
