"""daemon.*: aoctl ping, aoctl daemon status|stop|reload."""

from __future__ import annotations

import os
import time

from aod.app import App
from aod.handlers import Call, handler
from aod.protocol import (
    DoctorResult,
    NoParams,
    PingResult,
    ReloadResult,
    ShutdownResult,
    StatusResult,
    TickInfo,
)


@handler("daemon.ping")
async def ping(app: App, _params: NoParams, _call: Call) -> PingResult:
    return PingResult(version=app.version, pid=app.pid)


@handler("daemon.status")
async def status(app: App, _params: NoParams, _call: Call) -> StatusResult:
    stats = app.ticker.stats if app.ticker else None
    last_tick = None
    if stats and stats.last_started_at is not None and stats.last_duration is not None:
        last_tick = TickInfo(
            count=stats.count,
            started_at=stats.last_started_at,
            duration_ms=round(stats.last_duration * 1000, 3),
            skipped=stats.skipped,
            longest_gap_ms=round(stats.longest_gap * 1000, 3),
        )
        observed = app.last_observed
        if observed is not None:
            last_tick.sessions = observed.sessions
            last_tick.subprocesses = observed.subprocesses
            last_tick.captures = observed.captures
            last_tick.forge_requests = observed.forge_requests
    return StatusResult(
        version=app.version,
        pid=app.pid,
        started_at=app.started_at,
        uptime_s=round(time.monotonic() - app.started_monotonic, 3),
        sessions=app.session_count,
        poll_interval_s=app.config.poll_interval,
        last_tick=last_tick,
        config_path=str(app.loaded.path),
        config_loaded=app.loaded.loaded,
        state_dir=str(app.locations.state_dir),
        socket_path=str(app.locations.socket_path),
        socket_activated=app.socket_activated,
        subscribers=app.bus.subscriber_count,
        forges=app.forges.status(),
        web=app.web.status() if app.web is not None else None,
        load_1m=_load(),
    )


def _load() -> float | None:
    """issue 21: the 1-minute load average (another aod's placement reads it)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


@handler("daemon.shutdown")
async def shutdown(app: App, _params: NoParams, _call: Call) -> ShutdownResult:
    # The reply is written before the connection closes: shutdown lets in-flight calls finish.
    app.request_shutdown("daemon.shutdown")
    return ShutdownResult()


@handler("daemon.reload")
async def reload(app: App, _params: NoParams, _call: Call) -> ReloadResult:
    return await app.reload()


@handler("daemon.doctor")
async def doctor(app: App, _params: NoParams, _call: Call) -> DoctorResult:
    from aod.doctor import run_checks

    checks = await run_checks(
        app.sessions, app.locations.state_dir, app.locations.socket_path, plugins=app.forges.tracker
    )
    return DoctorResult(ok=all(c.ok or c.optional for c in checks), checks=checks)
