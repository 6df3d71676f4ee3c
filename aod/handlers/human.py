"""human.*: aoctl ask (and the MCP tool human_ask): an agent asks the person supervising it."""

from __future__ import annotations

from aod.app import App
from aod.handlers import Call, handler
from aod.handlers.session import reported_activity
from aod.protocol import AskParams, ReportResult


@handler("human.ask")
async def ask(app: App, params: AskParams, _call: Call) -> ReportResult:
    session = await app.sessions.running.report(params.id, "needs_input", params.question, asked=True)
    return ReportResult(id=params.id, status="needs_input", activity=reported_activity(session))
