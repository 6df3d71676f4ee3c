"""The project registry's operations (`project.add`, `project.list`, `project.remove`): a
repository checked and recorded, every project listed with its effective settings, a project
removed once no session of it is live.

Which project a request means (a name, or the innermost repository around the caller's cwd) and
its detected remote are lookups every operation needs: they live in the session core
(aod/sessions.py, `Sessions.project`), with the cache that keeps the tick from running git.

May import: sessions, model, projects, protocol, errors, plugins/workspace/git.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from aod.errors import failure, not_found
from aod.events import utc_now_iso
from aod.model import Project, validate_project_name
from aod.projects import ProjectProblem, ResolvedProject, all_names, resolve
from aod.protocol import ErrorCode, ProjectInfo
from aod.sessions import LIVE_STATES, Sessions
from aod.store import StaleRevision

log = structlog.get_logger()


def project_info(project: ResolvedProject) -> ProjectInfo:
    return ProjectInfo(
        name=project.name,
        path=str(project.path),
        default_branch=project.default_branch,
        remote=project.remote,
        remote_url=project.remote_url,
        agent=project.agent,
        forge=project.forge,
        tracker=project.tracker,
        workspace=project.workspace,
        runtime=project.runtime,
        source=project.source,
    )


@dataclass(eq=False)
class ProjectRegistry:
    sessions: Sessions

    async def add(
        self,
        path: str,
        name: str | None,
        agent: str | None,
        forge: str | None,
        default_branch: str | None,
    ) -> ProjectInfo:
        from aod.plugins.workspace import git as gitplug

        repo = Path(path).expanduser()
        if not repo.is_absolute():
            raise failure(ErrorCode.INVALID_PARAMS, f"project path must be absolute: {path!r}")
        if not repo.is_dir():
            raise failure(ErrorCode.INVALID_PARAMS, f"{repo} is not a directory")
        if not await gitplug.is_git_repo(repo):
            raise failure(
                ErrorCode.INVALID_PARAMS,
                f"{repo} is not a git repository; `git init` it (with a first commit) or pick another",
            )
        toplevel = await gitplug.git(repo, "rev-parse", "--show-toplevel", check=False)
        if toplevel.ok and toplevel.out.strip():
            repo = Path(toplevel.out.strip())
        name = name or repo.name
        try:
            validate_project_name(name)
        except ValueError as exc:
            raise failure(ErrorCode.INVALID_PARAMS, f"{exc}; choose one with --name") from None
        if agent is not None:
            self.sessions.agent(agent)  # unknown agent → a clear error listing the valid ones
        if await self.sessions.store.get_project(name) is not None:
            raise failure(
                ErrorCode.CONFLICT,
                f"a project named {name!r} already exists; `aoctl project remove {name}` first "
                "or choose another --name",
            )
        branch = default_branch or await gitplug.default_branch(repo)
        if not await gitplug.branch_exists(repo, branch):
            raise failure(
                ErrorCode.INVALID_PARAMS,
                f"{repo} has no branch {branch!r} (does it have a first commit?); "
                "pass --default-branch",
            )
        remote, remote_url = await gitplug.default_remote(repo)
        record = Project(
            name=name,
            path=str(repo),
            default_branch=branch,
            remote=remote,
            remote_url=remote_url,
            agent=agent,
            forge=forge or "local",
            created_at=utc_now_iso(),
        )
        try:
            stored = await self.sessions.store.put_project(record, 0)
        except StaleRevision:
            raise failure(ErrorCode.CONFLICT, f"a project named {name!r} already exists") from None
        self.sessions.bus.publish("project.added", name=name, path=str(repo))
        log.info("project added", project=name, path=str(repo), default_branch=branch)
        return project_info(resolve(name, stored, self.sessions.config()))

    async def list_all(self) -> list[ProjectInfo]:
        records = await self.sessions.store.list_projects()
        config = self.sessions.config()
        out = []
        for name in all_names(records, config):
            record = next((r for r in records if r.name == name), None)
            try:
                out.append(project_info(await self.sessions.with_remote(resolve(name, record, config))))
            except ProjectProblem:
                continue
        return out

    async def remove(self, name: str) -> str:
        try:
            validate_project_name(name)
        except ValueError as exc:
            raise failure(ErrorCode.INVALID_PARAMS, str(exc)) from None
        live = [s.id for s in await self.sessions.store.list_sessions() if s.project == name and s.state in LIVE_STATES]
        if live:
            raise failure(
                ErrorCode.CONFLICT,
                f"project {name!r} has live sessions ({', '.join(live)}); kill them first "
                "(`aoctl kill ID`) or `aoctl stop --all`",
            )
        if not await self.sessions.store.remove_project(name):
            if name in self.sessions.config().projects:
                raise failure(
                    ErrorCode.CONFLICT,
                    f"project {name!r} comes from config.yaml; remove it there",
                )
            raise not_found("project", name, [p.name for p in await self.sessions.store.list_projects()])
        self.sessions.bus.publish("project.removed", name=name)
        return name
