"""pr.*: aoctl pr open, aoctl pr show, aoctl review, aoctl merge."""

from __future__ import annotations

from aod.app import App
from aod.handlers import Call, handler
from aod.orchestrating import check_merge
from aod.protocol import MergeParams, MergeResult, PrInfo, PrOpenParams, PrShowResult, ReviewParams, SessionIdParams


@handler("pr.open")
async def open_(app: App, params: PrOpenParams, _call: Call) -> PrInfo:
    info = await app.forges.open_pr(params.id, params.title, params.body)
    app.poke_tick()
    return info


@handler("pr.show")
async def show(app: App, params: SessionIdParams, _call: Call) -> PrShowResult:
    # What the tick last saw (sessions/<id>/pr.json): no forge request, so a dashboard may ask often.
    return PrShowResult(session=params.id, pr=await app.forges.show(params.id))


@handler("pr.review")
async def review(app: App, params: ReviewParams, _call: Call) -> PrInfo:
    info = await app.forges.review(params.id, params.action, params.message, params.file, params.line, params.author, by=params.by)
    app.poke_tick()
    return info


@handler("pr.merge")
async def merge(app: App, params: MergeParams, _call: Call) -> MergeResult:
    await check_merge(app.sessions, params.by)
    number, sha, method = await app.forges.merge(params.id, params.method)
    app.poke_tick()
    return MergeResult(id=params.id, number=number, sha=sha, method=method)
