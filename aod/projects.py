"""A project's effective settings: its registry record (aoctl project add) merged with config.

Pure: records and config in, values out. Config (`projects.NAME`) wins over the registry for
every setting it names, so a user can pin what `project add` detected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from aod.config import Config, ProjectConfig
from aod.model import Project


@dataclass(frozen=True)
class ResolvedProject:
    name: str
    path: Path
    default_branch: str
    remote: str | None
    remote_url: str | None
    agent: str
    forge: str
    """The code host (the `scm` slot: local, github, gitlab); every PR/MR call goes there."""
    workspace: str
    runtime: str
    branch_template: str
    session_prefix: str
    setup: list[str] | None
    setup_timeout: float
    rules_file: str | None
    source: str
    record: Project | None
    auto_merge: bool = False
    open_pr: str = "agent"
    push: str = "agent"
    merge_method: str = "merge"
    ci: list[str] | None = None
    ci_timeout: float = 600.0
    tracker: str = "local"
    """Where the issues are (the `tracker` slot: local, github, gitlab, linear, jira)."""
    disposable: tuple[str, ...] = ()
    """Ignored files cleanup may remove without saving them: workspace.disposable + the project's."""


class ProjectProblem(Exception):
    pass


def session_prefix_for(name: str) -> str:
    """A short id prefix from a project name: lower-case letters and digits, at most 12."""
    cleaned = re.sub(r"[^a-z0-9]", "", name.lower())[:12]
    return cleaned or "s"


def resolve(name: str, record: Project | None, config: Config) -> ResolvedProject:
    settings = config.projects.get(name)
    if record is None and settings is None:
        raise ProjectProblem(f"no project {name!r}")
    if record is None and (settings is None or settings.path is None):
        raise ProjectProblem(
            f"project {name!r} is in config.yaml without a `path`; add `path:` there or run "
            f"`aoctl project add PATH --name {name}`"
        )
    s = settings or ProjectConfig()
    path = Path(s.path).expanduser() if s.path is not None else Path(record.path)  # type: ignore[union-attr]
    default_branch = s.default_branch or (record.default_branch if record else "main")
    # `forge: X` is shorthand for `scm: X` + `tracker: X`; a slot named on its own wins.
    scm = s.scm or s.forge or (record.forge if record else "local")
    return ResolvedProject(
        name=name,
        path=path,
        default_branch=default_branch,
        remote=record.remote if record else None,
        remote_url=record.remote_url if record else None,
        agent=s.agent or (record.agent if record and record.agent else None) or config.defaults.agent,
        forge=scm,
        tracker=s.tracker or s.forge or scm,
        workspace=s.workspace or config.workspace.kind,
        runtime=s.runtime or config.runtime.kind,
        branch_template=s.branch or config.defaults.branch,
        session_prefix=s.session_prefix or session_prefix_for(name),
        setup=list(s.setup) if s.setup else None,
        setup_timeout=s.setup_timeout,
        rules_file=s.rules_file,
        source="both" if record and settings else ("registry" if record else "config"),
        record=record,
        auto_merge=s.auto_merge,
        open_pr=s.open_pr,
        push=s.push,
        merge_method=s.merge_method,
        ci=list(s.ci) if s.ci else None,
        ci_timeout=s.ci_timeout,
        disposable=(*config.workspace.disposable, *s.disposable),
    )


def all_names(records: list[Project], config: Config) -> list[str]:
    return sorted({r.name for r in records} | set(config.projects))
