"""cost.*: aoctl cost."""

from __future__ import annotations

import time

import msgspec

from aod.app import App
from aod.cost import Budgets, budget_lines, summarize
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
    config = app.config
    own = {
        name: Budgets(**{k: v for k, v in settings.budgets.model_dump().items() if v is not None})
        for name, settings in config.projects.items()
    }
    today = time.strftime("%Y-%m-%d", time.gmtime())
    lines = budget_lines(
        entries,
        Budgets(**config.budgets.model_dump()),
        {name: budgets for name, budgets in own.items() if budgets != Budgets()},
        day=today if today.startswith(month) else None,  # another month: its costliest day
        project=params.project,
    )
    return msgspec.structs.replace(result, budgets=lines)
