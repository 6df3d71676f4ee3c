"""Money: `budgets` (and `projects.NAME.budgets`), the spending limits, and `prices.MODEL`, the
price table's additions and overrides.

One job: these sections' models and the US dollar amount they are written in. May import:
pydantic and this package's `fields`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from aod.config.fields import Section


def _usd(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("must be an amount in US dollars, like 5 or 2.50")
    if isinstance(value, str) and value.strip().startswith("$"):
        value = value.strip()[1:]
    return value


Usd = Annotated[float, BeforeValidator(_usd), Field(gt=0, le=1_000_000)]


class BudgetConfig(Section):
    """`budgets` (and `projects.NAME.budgets`): spending limits in US dollars. On reaching one,
    aod pauses the session (state `paused`, reason `budget`) and tells you; `aoctl resume` lifts it."""

    session: Usd | None = None
    project_day: Usd | None = None
    project_month: Usd | None = None


class PriceConfig(Section):
    """`prices.MODEL`: USD per million tokens; MODEL is a model name or a prefix of one."""

    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]
    cache_read: Annotated[float, Field(ge=0)] = 0.0
    cache_write: Annotated[float, Field(ge=0)] = 0.0
    cache_write_1h: Annotated[float, Field(ge=0)] | None = None
