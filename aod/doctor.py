"""`aoctl doctor`: is everything aod needs here, and if not, how to fix it."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aod.proc import ToolMissing, ToolTimeout, run
from aod.protocol import DoctorCheck
from aod.service import SessionService

MIN_GIT = (2, 20)  # `git worktree` as aod uses it
MIN_TMUX = (3, 0)


def _version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else None


TOKEN_FIXES = {
    "github": "set GH_TOKEN in aod's environment (systemd: ~/.config/ao/aod.env), or run `gh auth login`",
    "gitlab": "set GITLAB_TOKEN in aod's environment (systemd: ~/.config/ao/aod.env), `gitlab.token` in config, or run `glab auth login`",
    "linear": "set LINEAR_API_KEY in aod's environment (a personal API key from Linear's settings), or `linear.token` in config",
    "jira": "set JIRA_API_TOKEN (and `jira.email` for Jira Cloud) in aod's environment or config, and `jira.base_url`",
}
SERVICE_NAMES = {"github": "GitHub", "gitlab": "GitLab", "linear": "Linear", "jira": "Jira"}


async def _remote_check(project: str, slots: str, kind: str, plugins: Any) -> DoctorCheck:
    """A remote plugin's token (and rate-limit budget) for a project that uses it."""
    name = f"{slots} {project}"
    service = SERVICE_NAMES.get(kind, kind)
    try:
        plugin = plugins(kind)
    except Exception as exc:  # noqa: BLE001 - the plugin is missing from this aod
        return DoctorCheck(name=name, ok=False, detail=f"the {service} plugin is not available: {exc}")
    problem = await plugin.token_problem()
    if problem:
        return DoctorCheck(name=name, ok=False, detail=problem, fix=TOKEN_FIXES.get(kind))
    detail = f"{service} token from {plugin.token_source()}"
    budget = plugin.status().get("rate_limit") or {}
    core = budget.get("graphql") or budget.get("core") if isinstance(budget, dict) else None
    if isinstance(core, dict) and "remaining" in core:
        detail += f"; rate limit {core['remaining']}/{core.get('limit', '?')} left"
    return DoctorCheck(name=name, ok=True, detail=detail)


async def _tool(name: str, argv: list[str], minimum: tuple[int, int], fix: str, optional: bool) -> DoctorCheck:
    try:
        result = await run(argv, timeout=10)
    except ToolMissing:
        return DoctorCheck(name=name, ok=False, detail=f"{argv[0]} is not installed", fix=fix, optional=optional)
    except ToolTimeout:
        return DoctorCheck(name=name, ok=False, detail=f"`{' '.join(argv)}` hung", fix=fix, optional=optional)
    text = (result.out or result.err).strip()
    version = _version(text)
    if not result.ok or version is None:
        return DoctorCheck(name=name, ok=False, detail=f"`{' '.join(argv)}` failed: {text[:200]}", fix=fix, optional=optional)
    if version < minimum:
        need = ".".join(map(str, minimum))
        return DoctorCheck(name=name, ok=False, detail=f"{text} is older than {need}", fix=f"upgrade to {need} or newer", optional=optional)
    return DoctorCheck(name=name, ok=True, detail=text)


def _writable_dir(name: str, path: Path) -> DoctorCheck:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".aod-doctor-"):
            pass
    except OSError as exc:
        return DoctorCheck(name=name, ok=False, detail=f"{path}: not writable ({exc.strerror})", fix=f"make {probe} writable for you, or move it in config")
    return DoctorCheck(name=name, ok=True, detail=str(path))


def _container_engines(config: Any, projects: list[Any]) -> set[str]:
    """The engines `runtime: container` projects use (each project's section, else the global)."""
    engines = set()
    for project in projects:
        if project.runtime == "container":
            section = config.projects.get(project.name)
            settings = section.container if section is not None and section.container is not None else config.runtime.container
            engines.add(settings.engine)
    return engines


async def run_checks(
    service: SessionService, state_dir: Path, socket_path: Path, plugins: Any = None
) -> list[DoctorCheck]:
    """`plugins`: a callable returning the remote plugin of a kind (github, gitlab, linear,
    jira; started on demand), for its token check."""
    config = service.config()
    projects = await service.projects.list_all()
    # Container sessions run their agents from panes of aod's tmux server too.
    uses_tmux = config.runtime.kind in ("tmux", "container") or any(p.runtime in ("tmux", "container") for p in projects)
    checks = [
        await _tool("git", ["git", "--version"], MIN_GIT, "install git (apt install git / brew install git)", False),
        await _tool(
            "tmux",
            ["tmux", "-V"],
            MIN_TMUX,
            "install tmux (apt install tmux / brew install tmux), or set `runtime: {kind: process}`",
            not uses_tmux,
        ),
        DoctorCheck(name="socket", ok=True, detail=f"aod answers on {socket_path}"),
        _writable_dir("state dir", state_dir),
        _writable_dir("worktrees", service.workspace_root()),
    ]
    engines = _container_engines(config, projects)
    for engine in sorted(engines):
        checks.append(
            await _tool(
                f"container engine {engine}", [engine, "--version"], (0, 0),
                f"install {engine} (apt install {engine}{' runc' if engine == 'podman' else ''}), or choose another runtime",
                False,
            )
        )
    # An agent matters when a project would run it (a project without its own `agent` runs
    # defaults.agent); with no project using it, a missing CLI is only a warning.
    used_agents = {p.agent for p in projects}
    from aod.plugins.agent.registry import available_agent_names

    settings = service.agent_settings()
    for name in available_agent_names(settings):
        try:
            plugin, agent_settings = service.agent(name)
        except Exception as exc:  # noqa: BLE001
            checks.append(DoctorCheck(name=f"agent {name}", ok=False, detail=str(exc), optional=name not in used_agents))
            continue
        executable = (list(agent_settings.command)[0] if agent_settings.command else plugin.executable)
        found = shutil.which(executable) or (executable if Path(executable).is_file() else None)
        used = name in used_agents
        if found:
            checks.append(DoctorCheck(name=f"agent {name}", ok=True, detail=f"{executable} → {found}"))
        else:
            checks.append(
                DoctorCheck(
                    name=f"agent {name}",
                    ok=False,
                    detail=f"{executable} is not on aod's PATH" + (" (a project uses it)" if used else ""),
                    fix=f"install {executable}, or point `agents.{name}.command` at it in config.yaml",
                    optional=not used,
                )
            )
    for project in projects:
        remote = {kind: slot for slot, kind in (("tracker", project.tracker), ("scm", project.forge)) if kind in TOKEN_KINDS}
        for kind in sorted(remote):
            slots = "forge" if kind == project.forge == project.tracker else remote[kind]
            checks.append(await _remote_check(project.name, slots, kind, plugins))
        if not Path(project.path).is_dir():
            checks.append(
                DoctorCheck(name=f"project {project.name}", ok=False, detail=f"{project.path} is gone", fix=f"`aoctl project remove {project.name}` and add it again")
            )
    checks += plugin_checks(config, projects)
    return checks


TOKEN_KINDS = frozenset({"github", "gitlab", "linear", "jira"})
"""The built-in remote plugins whose token doctor checks (third-party ones: `plugin_checks`)."""


def plugin_checks(config: Any, projects: Any) -> list[DoctorCheck]:
    """One check per installed third-party plugin (aod/plugins/external.py): ok, or its error
    naming the distribution. Optional unless the config uses its kind."""
    from aod.plugins import external

    used: set[tuple[str, str]] = {("runtime", config.runtime.kind), ("workspace", config.workspace.kind)}
    used.update(("agent", p.agent) for p in projects)
    used.update(("runtime", p.runtime) for p in projects)
    used.update(("workspace", p.workspace) for p in projects)
    used.update(("scm", p.forge) for p in projects)
    used.update(("tracker", p.tracker) for p in projects)
    used.update(("notifier", n.kind) for n in config.notifiers.values())
    out = []
    for r in external.records():
        name = f"plugin {r.slot} {r.name}"
        if r.error is None:
            out.append(DoctorCheck(name=name, ok=True, detail=f"{r.origin} ({r.module})"))
        else:
            out.append(DoctorCheck(
                name=name, ok=False, detail=r.error, optional=(r.slot, r.name) not in used,
                fix=f"fix or upgrade {r.distribution} (`pip install -U {r.distribution}`), or uninstall it",
            ))
    return out
