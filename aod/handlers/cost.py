"""cost.*: aoctl cost."""

from __future__ import annotations

import time

import msgspec

from aod.app import App
from aod.cost import budget_lines, configured_budgets, summarize
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
    result = summarize(month, entries, params.project)
    everyone, own = configured_budgets(app.config)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    lines = budget_lines(
        entries,
        everyone,
        own,
        day=today if today.startswith(month) else None,  # another month: its costliest day
        project=params.project,
    )
    return msgspec.structs.replace(result, budgets=lines)
