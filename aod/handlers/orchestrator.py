"""orchestrator.*: aoctl orchestrator start (and `aoctl start`)."""

from __future__ import annotations

from aod.app import App
from aod.handlers import Call, handler
from aod.orchestrating import start_orchestrator
from aod.protocol import OrchestratorStartParams, SessionInfo
from aod.service import session_info


@handler("orchestrator.start")
async def start(app: App, params: OrchestratorStartParams, _call: Call) -> SessionInfo:
    session = await start_orchestrator(app.sessions, app.forges, project=params.project, agent=params.agent, cwd=params.cwd)
    return session_info(session)
