"""aoctl start [PATH]  ↔  *local*, then project.list / project.add, daemon.doctor, web.token,
session.list (and session.restore when asked): everything a new user needs, in one command.

Each step says what it found and what it did; run again, it changes nothing and says so.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from aoctl import exitcodes, starting
from aoctl.client import RpcError
from aoctl.commands.daemon import START_TIMEOUT, StartFailed, answers, start_in_background
from aoctl.context import Context, json_option

SERVICE_TIMEOUT = 30.0
RESTORABLE_STATES = ("errored",)


@click.command("start")
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("-p", "--project", "project_name", help="A project aod knows (instead of PATH).")
@click.option("--restore/--no-restore", default=None, help="Restore sessions whose agent is gone without asking (or never).")
@click.option("--no-orchestrator", is_flag=True, help="Do not start the project's orchestrator agent.")
@json_option
@click.pass_obj
def command(ctx: Context, path: Path | None, project_name: str | None, restore: bool | None, no_orchestrator: bool) -> None:
    """Set up and start everything for the repository at PATH (default: here).

    \b
    - writes a commented config.yaml on the first run (never over one);
    - starts aod (as the login service when installed, else in the background);
    - adds the repository as a project (GitHub when it has a GitHub remote and
      a token, else the local forge);
    - checks the tools and the agent CLI (`aoctl doctor`), each failure with its fix;
    - prints the dashboard's address;
    - offers to restore sessions whose agent is gone (after a reboot);
    - starts the project's orchestrator agent, or shows the live one
      (`--no-orchestrator`: not).
    """
    if path is not None and project_name is not None:
        raise click.UsageError("give PATH or --project, not both")
    steps: dict[str, Any] = {}
    lines: list[str] = []
    try:
        repo = None if project_name else starting.repo_root((path or Path.cwd()).absolute())
        _config(steps, lines)
        _daemon(ctx, steps, lines)
        with ctx.client(timeout=120) as client:
            project = _project(client, repo, project_name, steps, lines)
            _doctor(client, project, steps, lines)
            _dashboard(client, steps, lines)
            _restorable(client, project, restore, ctx.as_json, steps, lines)
            _orchestrator(client, project, no_orchestrator, steps, lines)
    except starting.StartProblem as exc:
        click.echo(f"aoctl: {exc}", err=True)
        sys.exit(exitcodes.FAILED)
    except StartFailed as exc:
        click.echo(f"aoctl: {exc}", err=True)
        sys.exit(exitcodes.FAILED)
    changed = any(step.get("changed") for step in steps.values() if isinstance(step, dict))
    steps["changed"] = changed
    if not changed:
        lines.append("Nothing to change: everything was already set up.")
    ctx.emit(steps, lambda _s: "\n".join(lines))
    if not steps["doctor"]["ok"]:
        sys.exit(exitcodes.FAILED)


def _config(steps: dict[str, Any], lines: list[str]) -> None:
    path = starting.config_file(os.environ)
    if path.exists() or path.is_symlink():
        steps["config"] = {"path": str(path), "written": False, "changed": False}
        lines.append(f"config   {path} (kept as it is)")
        return
    agents = starting.agent_clis_on_path()
    written = starting.write_config_once(path, starting.config_template(agents[0] if agents else None))
    steps["config"] = {"path": str(path), "written": written, "changed": written, "agent": agents[0] if agents else None}
    lines.append(f"config   {path} (written{f'; agent {agents[0]}' if agents else '; no agent CLI found on PATH'})")


def _daemon(ctx: Context, steps: dict[str, Any], lines: list[str]) -> None:
    how = "running"
    if not answers(ctx):
        commands = starting.login_service_start(os.environ, sys.platform)
        if commands is not None:
            how = "service"
            for argv in commands:
                try:
                    ran = subprocess.run(argv, capture_output=True, text=True, timeout=SERVICE_TIMEOUT)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    raise StartFailed(f"`{' '.join(argv)}` failed: {exc}") from None
                if ran.returncode != 0:
                    raise StartFailed(f"`{' '.join(argv)}` failed: {ran.stderr.strip() or ran.returncode}; "
                                      "`aoctl service install --force` sets the login service up again")
            _wait_for(ctx)
        else:
            how = "background"
    started = start_in_background(ctx)  # answers now (service), or starts it here
    changed = how != "running"
    steps["daemon"] = {"how": how, "pid": started.pid, "log": started.log, "changed": changed}
    if how == "running":
        lines.append(f"aod      running (pid {started.pid})")
    elif how == "service":
        lines.append(f"aod      started as the login service (pid {started.pid})")
    else:
        lines.append(f"aod      started in the background (pid {started.pid}); log: {started.log}\n"
                     "         to start it at login: aoctl service install")


def _wait_for(ctx: Context) -> None:
    """The login service was told to start: wait for its aod (never start a second one beside it)."""
    import time

    deadline = time.monotonic() + START_TIMEOUT
    while not answers(ctx):
        if time.monotonic() > deadline:
            raise StartFailed(f"the login service started but aod did not answer within {START_TIMEOUT:g}s; "
                              "see `journalctl --user -u aod` (or `aoctl service install --force`)")
        time.sleep(0.1)


def _project(client: Any, repo: Path | None, name: str | None, steps: dict[str, Any], lines: list[str]) -> str:
    projects = client.call("project.list")["projects"]
    if name is not None:
        known = next((p for p in projects if p["name"] == name), None)
        if known is None:
            names = ", ".join(p["name"] for p in projects) or "none yet"
            raise starting.StartProblem(f"no project {name!r} (known: {names}); give the repository's path instead")
        steps["project"] = {"name": name, "path": known["path"], "forge": known["forge"], "added": False, "changed": False}
        lines.append(f"project  {name} ({known['forge']} forge, {known['path']})")
        return name
    assert repo is not None
    known = next((p for p in projects if _same_path(p["path"], repo)), None)
    if known is not None:
        steps["project"] = {"name": known["name"], "path": known["path"], "forge": known["forge"], "added": False, "changed": False}
        lines.append(f"project  {known['name']} (already added; {known['forge']} forge)")
        return str(known["name"])
    forge, hint = _forge_for(repo)
    params: dict[str, Any] = {"path": str(repo), "forge": forge}
    taken = {p["name"] for p in projects}
    if repo.name in taken:
        params["name"] = _free_name(repo.name, taken)
    added = client.call("project.add", params)
    steps["project"] = {"name": added["name"], "path": added["path"], "forge": added["forge"], "added": True,
                        "changed": True, "hint": hint}
    lines.append(f"project  {added['name']} added ({added['forge']} forge, base {added['default_branch']})")
    if hint:
        lines.append(f"         {hint}")
    return str(added["name"])


def _forge_for(repo: Path) -> tuple[str, str | None]:
    url = starting.origin_url(repo)
    if starting.is_gitlab(url):
        if starting.gitlab_token_source(os.environ) is not None:
            return "gitlab", None
        return "local", ("origin is on GitLab but no token was found (GITLAB_TOKEN, `glab auth token`): "
                         "using the local forge. For GitLab: set GITLAB_TOKEN (or `glab auth login`), then "
                         f"`aoctl project remove {repo.name}` and `aoctl start` again")
    if not starting.is_github(url):
        return "local", None
    source = starting.github_token_source(os.environ)
    if source is not None:
        return "github", None
    return "local", ("origin is on GitHub but no token was found (GH_TOKEN, GITHUB_TOKEN, `gh auth token`): "
                     "using the local forge. For GitHub: `gh auth login`, then "
                     f"`aoctl project remove {repo.name}` and `aoctl start` again")


def _free_name(base: str, taken: set[str]) -> str:
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _same_path(known: str, repo: Path) -> bool:
    try:
        return Path(known).resolve() == repo.resolve()
    except OSError:
        return False


def _doctor(client: Any, project: str, steps: dict[str, Any], lines: list[str]) -> None:
    result = client.call("daemon.doctor")
    failed = [c for c in result["checks"] if not c["ok"] and not c.get("optional")]
    steps["doctor"] = {"ok": result["ok"], "failed": failed, "changed": False}
    if result["ok"]:
        lines.append(f"doctor   all {len(result['checks'])} checks pass")
        return
    lines.append(f"doctor   {len(failed)} check(s) failed:")
    for check in failed:
        lines.append(f"         {check['name']}: {check['detail']}" + (f"\n           fix: {check['fix']}" if check.get("fix") else ""))


def _dashboard(client: Any, steps: dict[str, Any], lines: list[str]) -> None:
    try:
        token = client.call("web.token")
    except RpcError as exc:
        steps["dashboard"] = {"url": None, "reason": exc.message, "changed": False}
        lines.append(f"dashboard not available: {exc.message}")
        return
    steps["dashboard"] = {"url": token.get("url"), "reason": token.get("reason"), "changed": False}
    if token.get("url"):
        lines.append(f"dashboard {token['url']}")
    else:
        lines.append(f"dashboard not listening: {token.get('reason') or 'disabled'} (web.enabled / web.listen in the config)")


def _orchestrator(client: Any, project: str, skip: bool, steps: dict[str, Any], lines: list[str]) -> None:
    if skip:
        steps["orchestrator"] = {"id": None, "started": False, "changed": False}
        return
    if not steps["doctor"]["ok"]:
        steps["orchestrator"] = {"id": None, "started": False, "changed": False, "reason": "a check failed"}
        lines.append("orchestrator not started: fix the failed checks first")
        return
    before = {s["id"] for s in client.call("session.list", {"project": project, "orchestrators": True})["sessions"]}
    try:
        info = client.call("orchestrator.start", {"project": project})
    except RpcError as exc:
        steps["orchestrator"] = {"id": None, "started": False, "changed": False, "reason": exc.message}
        lines.append(f"orchestrator not started: {exc.message}")
        return
    started = info["id"] not in before
    steps["orchestrator"] = {"id": info["id"], "started": started, "state": info["state"], "changed": started}
    if info["state"] == "errored":
        lines.append(f"orchestrator {info['id']} failed: {info['reason']}")
    else:
        lines.append(f"orchestrator {info['id']} {'started' if started else 'already running'} "
                     f"({info['agent']}): aoctl attach {info['id']}")


def _restorable(client: Any, project: str, restore: bool | None, as_json: bool, steps: dict[str, Any], lines: list[str]) -> None:
    sessions = client.call("session.list", {"project": project, "orchestrators": True})["sessions"]
    gone = [s for s in sessions if s["state"] in RESTORABLE_STATES and s["activity"] == "exited" and s.get("workspace")]
    step: dict[str, Any] = {"sessions": [s["id"] for s in gone], "restored": [], "failed": [], "changed": False}
    steps["restore"] = step
    if not gone:
        return
    ids = ", ".join(s["id"] for s in gone)
    if restore is None and not as_json and sys.stdin.isatty():
        restore = click.confirm(f"{len(gone)} session(s) lost their agent ({ids}). Restore them?", default=True)
    if not restore:
        lines.append(f"restore  {len(gone)} session(s) lost their agent ({ids}): `aoctl restore ID`, or `aoctl start --restore`")
        return
    for session in gone:
        try:
            client.call("session.restore", {"id": session["id"]})
            step["restored"].append(session["id"])
        except RpcError as exc:
            step["failed"].append({"id": session["id"], "reason": exc.message})
    step["changed"] = bool(step["restored"])
    lines.append(f"restore  restored {', '.join(step['restored']) or 'none'}"
                 + "".join(f"\n         {f['id']}: {f['reason']}" for f in step["failed"]))
