"""Metering: each session's token usage read from its agent's own records, priced per model,
written to the monthly cost ledger, and budgets judged. The shell around aod/usage (readers,
prices, limits, all pure or read-only) and aod/cost (sums, budgets; pure).

Per session and tick: one stat and a read of only the new bytes of one file (in a thread), no
subprocess. Order of writes, so a crash loses nothing and counts nothing twice:
  1. append the priced batch to ledger/cost-YYYY-MM.jsonl, named by the bytes it came from;
  2. write the session's usage record (the new cursor, the totals).
A crash between the two reads the same bytes again next time, under the same batch name, and
summing skips the repeat.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import structlog
import trio

from aod.cost import Budgets, over_budget, unique
from aod.events import utc_now_iso
from aod.model import ModelUsage, Session, SessionUsage
from aod.store import NoSuchSession, StaleRevision
from aod.usage import UsageCursor, UsageKind, find_source, read_new
from aod.usage.prices import DEFAULT_PRICES, Price, cost_usd

if TYPE_CHECKING:
    from aod.projects import ResolvedProject
    from aod.sessions import Sessions

log = structlog.get_logger()

USAGE_KINDS: Mapping[str, UsageKind] = {"claude-code": "claude", "codex": "codex", "aider": "aider"}
FIND_EVERY = 5.0
"""Seconds between looks for a session's records while none were found (a directory scan)."""


@dataclass(frozen=True)
class MeterReading:
    cost_usd: float
    over_budget: str | None = None
    """The sentence saying which budget is reached, when one is."""
    budget_key: str | None = None


@dataclass(eq=False)
class Meter:
    service: Sessions
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    clock: Any = time.time
    _last_find: dict[str, float] = field(default_factory=dict)
    # (project, "YYYY-MM" or "YYYY-MM-DD") -> USD: a cache, rebuilt from the ledger per month.
    _spent: dict[tuple[str, str], float] = field(default_factory=dict)
    _loaded_months: set[str] = field(default_factory=set)

    def prices(self) -> dict[str, Price]:
        table = dict(DEFAULT_PRICES)
        for model, price in self.service.config().prices.items():
            table[model] = Price(**price.model_dump())
        return table

    def budgets(self, project: str) -> Budgets:
        config = self.service.config()
        merged = config.budgets.model_dump()
        settings = config.projects.get(project)
        if settings is not None:
            merged.update({k: v for k, v in settings.budgets.model_dump().items() if v is not None})
        return Budgets(**merged)

    async def read(self, session: Session) -> MeterReading:
        """Read what is new in the session's usage records; judge its budgets."""
        usage = await self._read_usage(session)
        return await self.judge(session, usage.cost_usd)

    async def judge(self, session: Session, session_usd: float) -> MeterReading:
        budgets = self.budgets(session.project)
        if budgets == Budgets():
            return MeterReading(cost_usd=session_usd)
        now = datetime.fromtimestamp(self.clock(), UTC)
        day, month = now.strftime("%Y-%m-%d"), now.strftime("%Y-%m")
        await self._load_month(month)
        exempt = [e for e in session.budget_exempt if e in ("session", f"project_day:{day}", f"project_month:{month}")]
        found = over_budget(
            budgets,
            session_usd=session_usd,
            project_day_usd=self._spent.get((session.project, day), 0.0),
            project_month_usd=self._spent.get((session.project, month), 0.0),
            exempt=exempt,
        )
        if found is None:
            return MeterReading(cost_usd=session_usd)
        key, sentence = found
        period = {"session": "session", "project_day": f"project_day:{day}", "project_month": f"project_month:{month}"}[key]
        return MeterReading(cost_usd=session_usd, over_budget=sentence, budget_key=period)

    async def reached_now(self, session: Session) -> list[str]:
        """The budget keys reached right now (what `aoctl resume` lifts for this session)."""
        usage = await self.service.store.get_usage(session.id)
        keys = []
        probe = session
        for _ in range(3):
            reading = await self.judge(probe, usage.cost_usd)
            if reading.budget_key is None:
                break
            keys.append(reading.budget_key)
            probe = msgspec.structs.replace(probe, budget_exempt=[*probe.budget_exempt, reading.budget_key])
        return keys

    # -- reading --------------------------------------------------------------------------------

    async def _read_usage(self, session: Session) -> SessionUsage:
        kind = USAGE_KINDS.get(_base_agent(self.service, session.agent))
        if kind is None or not session.workspace:
            return SessionUsage(session=session.id)  # nothing to read: no file touched
        record = await self.service.store.get_usage(session.id)
        source = Path(record.source) if record.source else None
        if source is None or not source.exists():
            now = time.monotonic()
            if now - self._last_find.get(session.id, -FIND_EVERY) < FIND_EVERY and record.source == "":
                return record
            self._last_find[session.id] = now
            source = await trio.to_thread.run_sync(
                lambda: find_source(
                    kind, home=self.service.home, workspace=Path(session.workspace),
                    agent_session=session.agent_session, environ={**self.environ, **self.service.agent_env(session.agent)},
                )
            )
            if source is None:
                return record
        cursor = msgspec.convert(record.cursor, UsageCursor) if record.cursor else None
        start = cursor.offset if cursor is not None and cursor.path == str(source) else 0
        samples, new_cursor = await trio.to_thread.run_sync(read_new, kind, source, cursor)
        if not samples and new_cursor.offset == start and record.source == str(source):
            return record
        return await self._record(session, record, str(source), samples, new_cursor, start)

    async def _record(
        self, session: Session, record: SessionUsage, source: str, samples: list[Any], cursor: UsageCursor, start: int
    ) -> SessionUsage:
        prices = self.prices()
        by_model: dict[str, dict[str, Any]] = {}
        for sample in samples:
            entry = by_model.setdefault(
                sample.model, {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0, "cost_usd": 0.0, "unpriced": False}
            )
            entry["input"] += sample.input_tokens
            entry["output"] += sample.output_tokens
            entry["cache_read"] += sample.cache_read_tokens
            entry["cache_write"] += sample.cache_write_tokens + getattr(sample, "cache_write_1h_tokens", 0)
            cost = cost_usd(sample, prices)
            if cost is None:
                entry["unpriced"] = True
            else:
                entry["cost_usd"] += cost
        now = utc_now_iso()
        month = now[:7]
        await self._load_month(month)  # before appending: the cache must not count this batch twice
        batch = f"{session.id}:{cursor.inode}:{start}-{cursor.offset}"
        lines = [
            {
                "time": now, "batch": batch, "session": session.id, "project": session.project,
                "agent": session.agent, "model": model,
                **{k: v for k, v in entry.items() if k in ("input", "output", "cache_read", "cache_write")},
                "cost_usd": None if entry["unpriced"] and not entry["cost_usd"] else round(entry["cost_usd"], 8),
            }
            for model, entry in by_model.items()
        ]
        await self.service.store.append_cost(month, lines)
        for line in lines:
            cost = line["cost_usd"] if isinstance(line["cost_usd"], float) else 0.0
            self._spent[(session.project, month)] = self._spent.get((session.project, month), 0.0) + cost
            day = now[:10]
            self._spent[(session.project, day)] = self._spent.get((session.project, day), 0.0) + cost
        models = dict(record.models)
        for model, entry in by_model.items():
            old = models.get(model, ModelUsage())
            models[model] = ModelUsage(
                input_tokens=old.input_tokens + entry["input"],
                output_tokens=old.output_tokens + entry["output"],
                cache_read_tokens=old.cache_read_tokens + entry["cache_read"],
                cache_write_tokens=old.cache_write_tokens + entry["cache_write"],
                cost_usd=round(old.cost_usd + entry["cost_usd"], 8),
                unpriced=old.unpriced or entry["unpriced"],
            )
        new = msgspec.structs.replace(
            record,
            source=source,
            cursor=msgspec.to_builtins(cursor),
            models=models,
            cost_usd=round(sum(m.cost_usd for m in models.values()), 8),
            updated_at=now,
        )
        try:
            return await self.service.store.put_usage(new, record.rev)
        except (StaleRevision, NoSuchSession):
            return record  # read again next tick; the ledger's batch name keeps it counted once

    async def _load_month(self, month: str) -> None:
        if month in self._loaded_months:
            return
        self._loaded_months.add(month)
        for entry in unique(await self.service.store.read_cost(month)):
            cost = entry.get("cost_usd")
            if not isinstance(cost, int | float):
                continue
            project, stamp = str(entry.get("project", "")), str(entry.get("time", ""))
            for period in (stamp[:7], stamp[:10]):
                self._spent[(project, period)] = self._spent.get((project, period), 0.0) + float(cost)


def _base_agent(service: Sessions, name: str) -> str:
    """The agent whose records a configured agent writes: `agents.NAME.usage`, else the name."""
    configured = service.config().agents.get(name)
    if configured is not None and configured.usage is not None:
        return {"claude": "claude-code", "codex": "codex", "aider": "aider"}[configured.usage]
    return name


def tz_local() -> Any:
    return datetime.now().astimezone().tzinfo
