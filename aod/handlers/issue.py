"""issue.*: aoctl issue add | list | show | close."""

from __future__ import annotations

from aod.app import App
from aod.handlers import Call, handler
from aod.protocol import IssueAddParams, IssueInfo, IssueListParams, IssueListResult, IssueRefParams


@handler("issue.add")
async def add(app: App, params: IssueAddParams, _call: Call) -> IssueInfo:
    return await app.forges.add_issue(params.project, params.cwd, params.title, params.body, params.labels, params.depends_on)


@handler("issue.list")
async def list_(app: App, params: IssueListParams, _call: Call) -> IssueListResult:
    project, issues = await app.forges.list_issues(
        params.project,
        params.cwd,
        state=params.state,
        labels=params.labels,
        assignee=params.assignee,
        milestone=params.milestone,
        limit=max(1, min(params.limit, 1000)),
    )
    return IssueListResult(project=project, issues=issues)


@handler("issue.show")
async def show(app: App, params: IssueRefParams, _call: Call) -> IssueInfo:
    return await app.forges.show_issue(params.project, params.cwd, params.id)


@handler("issue.close")
async def close(app: App, params: IssueRefParams, _call: Call) -> IssueInfo:
    return await app.forges.close_issue(params.project, params.cwd, params.id)
