"""session.*: aoctl spawn, batch-spawn, status, send, logs, attach, pause, resume, done, kill,
restore, cleanup, stop, history, report; session.diff (the dashboard's diff view); checkpoints,
rollback (issue 19)."""

from __future__ import annotations

import msgspec
import trio

from aod import board
from aod.app import App
from aod.errors import RpcFailure
from aod.handlers import Call, handler
from aod.protocol import (
    AttachResult,
    BatchSpawnParams,
    BatchSpawnResult,
    CleanupParams,
    CleanupResult,
    LogsParams,
    LogsResult,
    NoParams,
    SendParams,
    SendResult,
    SessionIdParams,
    SessionInfo,
    SessionListParams,
    SessionListResult,
    SkippedIssue,
    SpawnParams,
    StopAllResult,
    HistoryParams,
    HistoryResult,
    HookParams,
    HookResult,
    ReportParams,
    ReportResult,
    SessionDiffParams,
    SessionDiffResult,
    CheckpointsResult,
    RollbackParams,
    RollbackResult,
)
from aod.model import Session
from aod.service import session_info


@handler("session.spawn")
async def spawn(app: App, params: SpawnParams, _call: Call) -> SessionInfo:
    if params.after or params.stack:
        # issue 19: queued until its dependencies merge (or, stacked, at once on one's branch).
        return session_info(await app.dependents.spawn_after(params))
    waits = await app.dependents.issue_waits(params)
    if waits:  # the issue's own `depends_on:` (local issues), still open
        return session_info(await app.dependents.spawn_after(msgspec.structs.replace(params, after=waits)))
    session = await app.sessions.spawner.spawn_once(
        idempotency_key=params.idempotency_key,
        reuse_live=params.reuse_live,
        by=params.by,
        project=params.project,
        issue=params.issue,
        task=params.task,
        agent_name=params.agent,
        branch=params.branch,
        cwd=params.cwd,
        role=params.role,
    )
    return session_info(session)


@handler("session.batch_spawn")
async def batch_spawn(app: App, params: BatchSpawnParams, _call: Call) -> BatchSpawnResult:
    spawned, skipped, failed = await app.sessions.spawner.batch_spawn(
        params.issues, params.project, params.agent, params.cwd
    )
    return BatchSpawnResult(
        spawned=[session_info(s) for s in spawned],
        skipped=[SkippedIssue(issue=i, reason=r, session=s) for i, r, s in skipped],
        failed=[SkippedIssue(issue=i, reason=r) for i, r in failed],
    )


@handler("session.list")
async def list_(app: App, params: SessionListParams, _call: Call) -> SessionListResult:
    sessions = await app.store.list_sessions()
    if params.project is not None:
        sessions = [s for s in sessions if s.project == params.project]
    if not params.orchestrators:
        sessions = [s for s in sessions if s.kind != "orchestrator"]
    sessions.sort(key=lambda s: (s.created_at, s.id))
    infos = [session_info(s, ci_escalated=await _ci_escalated(app, s)) for s in sessions]
    if params.cost:
        for info in infos:
            await _add_cost(app, info)
    return SessionListResult(sessions=infos)


async def _ci_escalated(app: App, session: Session) -> bool:
    """For the lane (aod/board.py): read only for a session in ci_failed, the one state whose
    lane depends on its reaction ledger."""
    if session.state != "ci_failed":
        return False
    return board.ci_escalated((await app.store.get_ledger(session.id)).entries)


async def _add_cost(app: App, info: SessionInfo) -> None:
    usage = await app.store.get_usage(info.id)
    if usage.models:
        info.cost_usd = usage.cost_usd
        info.tokens = sum(
            m.input_tokens + m.output_tokens + m.cache_read_tokens + m.cache_write_tokens for m in usage.models.values()
        )


@handler("session.get")
async def get(app: App, params: SessionIdParams, _call: Call) -> SessionInfo:
    session = await app.sessions.session(params.id)
    pending = len(await app.store.pending_deliveries(session.id))
    info = session_info(session, pending, ci_escalated=await _ci_escalated(app, session))
    info.journal = await app.store.journal_tail(session.id, 20)
    await _add_cost(app, info)
    return info


@handler("session.send")
async def send(app: App, params: SendParams, _call: Call) -> SendResult:
    seq, queued = await app.sessions.enqueue(params.id, params.message)
    return SendResult(id=params.id, seq=seq, queued=queued)


@handler("session.hook")
async def hook(app: App, params: HookParams, _call: Call) -> HookResult:
    activity = await app.sessions.running.hook_reported(params.id, params.agent, params.event, params.kind, params.message)
    return HookResult(id=params.id, activity=activity)


@handler("session.report")
async def report(app: App, params: ReportParams, _call: Call) -> ReportResult:
    session = await app.sessions.running.report(params.id, params.status, params.message)
    return ReportResult(id=params.id, status=params.status, activity=reported_activity(session))


def reported_activity(session: Session) -> str:
    from aod.activity import REPORTED_ACTIVITY

    return REPORTED_ACTIVITY.get(session.report.status, session.activity) if session.report else session.activity


@handler("session.logs")
async def logs(app: App, params: LogsParams, _call: Call) -> LogsResult:
    text, alive = await app.sessions.running.logs(params.id, params.lines)
    return LogsResult(id=params.id, text=text, alive=alive)


@handler("session.diff")
async def diff(app: App, params: SessionDiffParams, _call: Call) -> SessionDiffResult:
    from aod.diffs import session_diff

    return await session_diff(app.sessions, params.id, params.max_bytes)


@handler("session.attach")
async def attach(app: App, params: SessionIdParams, _call: Call) -> AttachResult:
    return AttachResult(id=params.id, argv=await app.sessions.running.attach_argv(params.id))


@handler("session.pause")
async def pause(app: App, params: SessionIdParams, _call: Call) -> SessionInfo:
    return await _apply_command(app, params.id, "pause")


@handler("session.resume")
async def resume(app: App, params: SessionIdParams, _call: Call) -> SessionInfo:
    session = await app.sessions.session(params.id)
    if session.state == "paused" and session.reason.startswith("budget"):
        # Resuming a budget pause lifts that budget for this session (for its period).
        lifted = await app.meter.reached_now(session)
        if lifted:
            await app.sessions.update(
                session.id,
                lambda s: msgspec.structs.replace(s, budget_exempt=sorted({*s.budget_exempt, *lifted})),
            )
    return await _apply_command(app, params.id, "resume")


@handler("session.done")
async def done(app: App, params: SessionIdParams, _call: Call) -> SessionInfo:
    return await _apply_command(app, params.id, "done")


async def _apply_command(app: App, session_id: str, command: str) -> SessionInfo:
    """Queue the command on the record; the tick applies it (the lifecycle owns the state).
    The reply waits for that tick, so the caller sees the new state."""
    await app.sessions.running.queue_command(session_id, command)
    if app.ticker is not None:
        app.ticker.poke()
    with trio.move_on_after(max(10.0, 3 * app.config.poll_interval)):
        while (session := await app.sessions.session(session_id)).commands:
            await trio.sleep(0.02)
    return session_info(await app.sessions.session(session_id))


@handler("session.kill")
async def kill(app: App, params: SessionIdParams, _call: Call) -> SessionInfo:
    return session_info(await app.sessions.teardown.kill(params.id))


@handler("session.restore")
async def restore(app: App, params: SessionIdParams, _call: Call) -> SessionInfo:
    return session_info(await app.sessions.spawner.restore(params.id))


@handler("session.cleanup")
async def cleanup(app: App, params: CleanupParams, _call: Call) -> CleanupResult:
    items = await app.sessions.teardown.cleanup(
        dry_run=params.dry_run, force=params.force, project=params.project
    )
    return CleanupResult(items=items)


@handler("session.stop_all")
async def stop_all(app: App, _params: NoParams, _call: Call) -> StopAllResult:
    return StopAllResult(killed=await app.sessions.teardown.stop_all())


@handler("session.history")
async def history(app: App, params: HistoryParams, _call: Call) -> HistoryResult:
    lines = max(1, min(params.lines, 10_000))
    try:
        session = await app.sessions.session(params.id)
    except RpcFailure:
        # Not live: an archived session's journal went to the archive with it.
        try:
            archived = await app.store.archived_journal_tail(params.id, lines)
        except ValueError:
            archived = None  # not a session id at all
        if archived is None:
            raise
        return HistoryResult(id=params.id, entries=archived, archived=True)
    entries = await app.store.journal_tail(session.id, lines)
    return HistoryResult(id=session.id, entries=entries)


# -- issue 19, per-turn checkpoints --------------------------------------------------------------


@handler("session.checkpoints")
async def checkpoints(app: App, params: SessionIdParams, _call: Call) -> CheckpointsResult:
    return await app.checkpoints.list(params.id)


@handler("session.rollback")
async def rollback(app: App, params: RollbackParams, _call: Call) -> RollbackResult:
    return await app.checkpoints.rollback(params.id, params.n, force=params.force)
