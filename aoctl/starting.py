"""What `aoctl start` works out before it acts: the repository, its forge, the agent CLIs on
PATH, the first config file, the login service. No RPC, and no shell: every command is an argv.

May import: stdlib, aod.paths (locations only).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

GIT_TIMEOUT: Final = 10.0
GH_TIMEOUT: Final = 5.0

AGENT_CLIS: Final = (("claude-code", "claude"), ("codex", "codex"), ("opencode", "opencode"), ("aider", "aider"), ("goose", "goose"))
"""aod's agents and the executable each runs, in the order `aoctl start` prefers them."""

# The unit names of aoctl/service_units.py (which only `aoctl service` may import, to keep it
# off every other command's start-up); tests/unit/test_starting.py checks they agree.
SYSTEMD_SERVICE: Final = "aod.service"
SYSTEMD_SOCKET: Final = "aod.socket"
LAUNCHD_LABEL: Final = "dev.aod.aod"

_GITLAB_REMOTE = re.compile(r"^(?:https://(?:[^@/]+@)?gitlab\.com/|git@gitlab\.com:|ssh://git@gitlab\.com/)[^/\s]+(?:/[^/\s]+)+?(?:\.git)?/?$")
_GITHUB_REMOTE = re.compile(r"^(?:https://(?:[^@/]+@)?github\.com/|git@github\.com:|ssh://git@github\.com/)[^/\s]+/[^/\s]+?(?:\.git)?/?$")


class StartProblem(Exception):
    """Something `aoctl start` cannot get past; the message says what to do."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT)
    except FileNotFoundError:
        raise StartProblem("git is not installed: install it (e.g. `apt-get install git`) and run `aoctl start` again") from None
    except subprocess.TimeoutExpired:
        raise StartProblem(f"git did not answer within {GIT_TIMEOUT:g}s in {repo}") from None


def repo_root(path: Path) -> Path:
    """The main working tree of the repository `path` is in (not a linked worktree of it)."""
    if not path.is_dir():
        raise StartProblem(f"{path} is not a directory")
    top = _git(path, "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir")
    if top.returncode != 0:
        raise StartProblem(f"{path} is not inside a git repository: run `git init` there, or give the repository's path")
    toplevel, common = top.stdout.splitlines()[:2]
    common_dir = Path(common).resolve()
    # In a linked worktree the common dir is the main repository's .git: its parent is the main tree.
    return common_dir.parent if common_dir.name == ".git" else Path(toplevel).resolve()


def origin_url(repo: Path) -> str | None:
    found = _git(repo, "remote", "get-url", "origin")
    return found.stdout.strip() or None if found.returncode == 0 else None


def is_github(url: str | None) -> bool:
    return url is not None and _GITHUB_REMOTE.match(url) is not None


def is_gitlab(url: str | None) -> bool:
    """A remote on gitlab.com (a self-managed GitLab is named in config: `forge: gitlab`)."""
    return url is not None and _GITLAB_REMOTE.match(url) is not None


def gitlab_token_source(env: Mapping[str, str], glab: Callable[[], bool] | None = None) -> str | None:
    """Where aod would find a GitLab token without config: GITLAB_TOKEN, `glab auth token`."""
    if env.get("GITLAB_TOKEN"):
        return "GITLAB_TOKEN"
    return "glab auth token" if (glab or _glab_has_token)() else None


def _glab_has_token() -> bool:
    if shutil.which("glab") is None:
        return False
    try:
        result = subprocess.run(["glab", "auth", "token"], capture_output=True, text=True, timeout=GH_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def github_token_source(env: Mapping[str, str], gh: Callable[[], bool] | None = None) -> str | None:
    """Where aod would find a GitHub token, as its GitHub forge looks: GH_TOKEN, GITHUB_TOKEN,
    `gh auth token`. The token itself is never read into aoctl's output."""
    for name in ("GH_TOKEN", "GITHUB_TOKEN"):
        if env.get(name):
            return name
    return "gh auth token" if (gh or _gh_has_token)() else None


def _gh_has_token() -> bool:
    if shutil.which("gh") is None:
        return False
    try:
        result = subprocess.run(["gh", "auth", "token"], capture_output=True, text=True, timeout=GH_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())


def agent_clis_on_path(which: Callable[[str], str | None] = shutil.which) -> list[str]:
    """aod's agents whose CLI is installed, best first."""
    return [agent for agent, executable in AGENT_CLIS if which(executable)]


def config_file(env: Mapping[str, str]) -> Path:
    from aod.paths import Locations

    return Locations.resolve(environ=dict(env)).config_file


def config_template(agent: str | None) -> str:
    """The commented config.yaml `aoctl start` writes on the first run (never over a file)."""
    if agent is not None:
        default = f"defaults:\n  agent: {agent}            # the agent CLI new sessions run (found on your PATH)\n"
    else:
        default = (
            "# defaults:\n"
            "#   agent: claude-code    # no agent CLI was found on your PATH: install one (claude, codex,\n"
            "#                         # opencode, aider, goose), set it here, then `aoctl daemon reload`\n"
        )
    return (
        "# aod's configuration, written by `aoctl start` (it never overwrites this file).\n"
        "# Every key is optional; docs/config.md has them all. After editing: `aoctl config check`,\n"
        "# then `aoctl daemon reload`.\n"
        "\n"
        + default
        + "\n"
        "# poll_interval: 5s          # how often aod looks at every session, PR and CI\n"
        "\n"
        "# projects:                  # per-project settings; `aoctl project add` registers a repository\n"
        "#   myrepo:\n"
        "#     open_pr: auto          # aod opens the PR when the agent rests with commits\n"
        "#     auto_merge: false      # merge approved, green PRs without asking\n"
        "\n"
        "# budgets:\n"
        "#   session: 20              # USD: pause a session once it has cost this much\n"
        "\n"
        "# notifiers:                 # who hears about sessions that need a person\n"
        "#   desktop: {kind: desktop}\n"
        "\n"
        "# web:\n"
        "#   listen: 127.0.0.1:7433   # the dashboard (`aoctl dashboard`); loopback unless you say otherwise\n"
    )


def write_config_once(path: Path, text: str) -> bool:
    """Write `text` to `path` unless a file (or anything) is there. True: written."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


def login_service_start(env: Mapping[str, str], platform: str) -> list[list[str]] | None:
    """The commands that start aod's installed login service, or None when none is installed."""
    home = Path(env.get("HOME") or Path.home())
    if platform == "darwin":
        plist = home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        return [["launchctl", "kickstart", f"gui/{os.getuid()}/{LAUNCHD_LABEL}"]] if plist.is_file() else None
    xdg = env.get("XDG_CONFIG_HOME", "")
    config_home = Path(xdg) if Path(xdg).is_absolute() else home / ".config"
    if not (config_home / "systemd" / "user" / SYSTEMD_SERVICE).is_file():
        return None
    return [["systemctl", "--user", "start", SYSTEMD_SOCKET, SYSTEMD_SERVICE]]
