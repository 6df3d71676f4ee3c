"""project.*: aoctl project add|list|remove."""

from __future__ import annotations

from aod.app import App
from aod.handlers import Call, handler
from aod.protocol import (
    NoParams,
    ProjectAddParams,
    ProjectInfo,
    ProjectListResult,
    ProjectNameParams,
    ProjectRemoveResult,
)


@handler("project.add")
async def add(app: App, params: ProjectAddParams, _call: Call) -> ProjectInfo:
    return await app.sessions.projects.add(
        params.path, params.name, params.agent, params.forge, params.default_branch
    )


@handler("project.list")
async def list_(app: App, _params: NoParams, _call: Call) -> ProjectListResult:
    return ProjectListResult(projects=await app.sessions.projects.list_all())


@handler("project.remove")
async def remove(app: App, params: ProjectNameParams, _call: Call) -> ProjectRemoveResult:
    return ProjectRemoveResult(removed=await app.sessions.projects.remove(params.name))
