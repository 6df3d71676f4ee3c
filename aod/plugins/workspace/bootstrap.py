"""Making a fresh workspace usable: copying the untracked files a checkout lacks (`.env`,
local settings) and running the project's setup command.

`.worktreeinclude` (at the top of the project repository) lists what to copy, one pattern a
line. The supported subset of gitignore syntax:

- blank lines and lines starting with `#` are skipped;
- `*` matches within one path component, `?` one character, `[abc]`/`[!abc]` a set, and `**`
  any number of components (`**/x`, `a/**/x`, `a/**`);
- a pattern without a `/` (other than a trailing one) matches a name at any depth (`.env`,
  `*.local`); a pattern with one is matched against the whole path from the top (`config/dev.json`,
  `/secrets.txt`);
- a trailing `/` matches directories only, and a matched directory brings all its files;
- NOT supported, and skipped with a warning: `!` (negation), patterns with a `..` component,
  and escapes with `\\`.

A file is copied only when it exists in the project's working tree, is not already in the
workspace (tracked files are; nothing is overwritten), is a regular file after resolving any
symbolic link, and resolves inside the repository (a link pointing outside is skipped, so
`.worktreeinclude` cannot be used to copy `~/.ssh` into an agent's sandbox). Nothing is written
outside the workspace: parent directories are created one by one and never through a link, and
files are opened with O_EXCL|O_NOFOLLOW. Directories holding a `.git` (nested repositories,
worktrees placed inside the project) are not searched.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from aod import proc

log = structlog.get_logger()

INCLUDE_FILE = ".worktreeinclude"
OUTPUT_LIMIT = 64 * 1024
_COPY_CHUNK = 1024 * 1024


# --------------------------------------------------------------------------------------------
# .worktreeinclude
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    directory_only: bool


def _glob_to_regex(glob: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif char == "*":
            out.append("[^/]*")
            i += 1
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = glob.find("]", i + 2 if glob.startswith(("[!", "[^"), i) else i + 1)
            if end == -1:
                out.append(re.escape(char))
                i += 1
                continue
            body = glob[i + 1 : end]
            if body.startswith(("!", "^")):
                body = "^" + body[1:].replace("\\", "\\\\")
            else:
                body = body.replace("\\", "\\\\")
            out.append(f"[{body}]")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def parse_patterns(text: str) -> list[_Pattern]:
    patterns: list[_Pattern] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!") or "\\" in line:
            log.warning("worktreeinclude.unsupported", line=number, pattern=line)
            continue
        directory_only = line.endswith("/")
        body = line.rstrip("/")
        if not body:
            continue
        components = body.lstrip("/").split("/")
        if ".." in components or "." in components or body.lstrip("/") == "":
            log.warning("worktreeinclude.refused", line=number, pattern=line,
                        reason="'.' and '..' components are not allowed")
            continue
        anchored = "/" in body
        regex = _glob_to_regex(body.lstrip("/"))
        if not anchored:
            regex = "(?:.*/)?" + regex
        patterns.append(_Pattern(re.compile(regex + r"\Z", re.DOTALL), directory_only))
    return patterns


def _matches(patterns: list[_Pattern], relative: str, is_dir: bool) -> bool:
    return any((is_dir or not p.directory_only) and p.regex.match(relative) for p in patterns)


def _candidates(repo: Path, patterns: list[_Pattern]) -> Iterator[str]:
    """Relative paths (posix) of the files in `repo`'s working tree the patterns select."""

    def walk(directory: str, relative: str, included: bool) -> Iterator[str]:
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            if entry.name == ".git":
                continue
            child = f"{relative}{entry.name}"
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if os.path.lexists(os.path.join(entry.path, ".git")):
                    continue  # a nested repository or worktree: not this repository's files
                yield from walk(entry.path, child + "/", included or _matches(patterns, child, True))
            elif included or _matches(patterns, child, False):
                yield child

    yield from walk(str(repo), "", False)


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _make_parents(workspace_real: str, relative_parent: list[str]) -> str | None:
    """Create the parent directories of a copy inside the workspace, one component at a time,
    never through a symbolic link. Returns the parent's path, or None when it cannot be made
    safely."""
    current = workspace_real
    for component in relative_parent:
        current = os.path.join(current, component)
        if os.path.islink(current):
            return None
        if not os.path.exists(current):
            os.mkdir(current, 0o755)
        elif not os.path.isdir(current):
            return None
    return current


def _copy_file(source: str, target: str, mode: int) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    with open(source, "rb") as reader:
        fd = os.open(target, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as writer:
                while chunk := reader.read(_COPY_CHUNK):
                    writer.write(chunk)
                os.fchmod(writer.fileno(), stat.S_IMODE(mode))
        except BaseException:
            os.unlink(target)
            raise


def copy_worktreeinclude(repo: Path, path: Path) -> list[str]:
    """Copy the files `repo/.worktreeinclude` selects from the project's working tree into the
    workspace at `path` (see the module docstring for the rules). Returns the relative paths
    copied. Blocking file I/O: call it through `trio.to_thread.run_sync` from async code."""
    include = Path(repo) / INCLUDE_FILE
    try:
        text = include.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    patterns = parse_patterns(text)
    if not patterns:
        return []
    repo_real = os.path.realpath(repo)
    workspace_real = os.path.realpath(path)
    if _inside(repo_real, workspace_real):
        raise ValueError(f"workspace {path} contains the repository {repo}")
    copied: list[str] = []
    for relative in _candidates(Path(repo_real), patterns):
        source = os.path.join(repo_real, *relative.split("/"))
        source_real = os.path.realpath(source)
        if not _inside(source_real, repo_real) or _inside(source_real, workspace_real):
            log.warning("worktreeinclude.skipped", file=relative, reason="resolves outside the repository")
            continue
        try:
            info = os.stat(source_real)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        parts = relative.split("/")
        target = os.path.join(workspace_real, *parts)
        if os.path.lexists(target):
            continue  # already there (tracked, or made by the checkout): never overwrite
        try:
            parent = _make_parents(workspace_real, parts[:-1])
            if parent is None or not _inside(os.path.realpath(parent), workspace_real):
                log.warning("worktreeinclude.skipped", file=relative,
                            reason="its directory is a link or a file")
                continue
            _copy_file(source_real, os.path.join(parent, parts[-1]), info.st_mode)
        except OSError as exc:
            log.warning("worktreeinclude.copy_failed", file=relative, error=str(exc))
            continue
        copied.append(relative)
    if copied:
        log.info("worktreeinclude.copied", workspace=str(path), files=len(copied))
    return copied


# --------------------------------------------------------------------------------------------
# Setup hook
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupResult:
    ok: bool
    returncode: int | None
    """None when the command did not run or was killed at the timeout."""
    output: str
    """The end of what it printed (stdout, then stderr), at most OUTPUT_LIMIT bytes; or why it
    could not run."""
    timed_out: bool
    duration: float
    """Seconds."""


def _tail(data: bytes, limit: int) -> bytes:
    return data if len(data) <= limit else data[-limit:]


def _combine(stdout: bytes, stderr: bytes) -> str:
    """stdout then stderr, each cut to its end so that the whole stays within OUTPUT_LIMIT."""
    separator = b"\n--- stderr ---\n" if stdout and stderr else b""
    budget = OUTPUT_LIMIT - len(separator)
    # stderr (where failures are explained) keeps at least half of the room.
    err_part = _tail(stderr, budget - min(len(stdout), budget // 2))
    out_part = _tail(stdout, budget - len(err_part))
    return (out_part + separator + err_part).decode("utf-8", "replace")


async def run_setup_hook(
    argv: list[str], cwd: Path, env: Mapping[str, str], timeout: float
) -> SetupResult:
    """Run the project's setup command (argv, no shell) in the new workspace.

    `env` holds variables added to aod's environment (systemd's handles are removed, even when
    `env` carries them; the git no-prompt defaults are not added: this is the user's command). A missing program, a missing
    working directory or a timeout is a failed result, not an exception.
    """
    started = time.monotonic()

    def failed(message: str, *, timed_out: bool = False) -> SetupResult:
        return SetupResult(False, None, message, timed_out, time.monotonic() - started)

    if not argv or not all(isinstance(arg, str) for arg in argv):
        return failed("no setup command given (expected a non-empty list of strings)")
    if not Path(cwd).is_dir():
        return failed(f"the workspace {cwd} does not exist")
    try:
        # The caller may hand over a copy of os.environ: systemd's handles are dropped from it
        # too, not only from aod's own environment.
        extra = {k: v for k, v in env.items() if k not in proc.PRIVATE_VARIABLES}
        result = await proc.run(argv, timeout=timeout, cwd=cwd, env=proc.child_env(extra, tool=False))
    except proc.ToolMissing:
        return failed(f"setup program {argv[0]!r} not found (not installed, or not on PATH)")
    except proc.ToolTimeout:
        return failed(f"setup command {argv[0]!r} did not finish within {timeout:g}s and was stopped",
                      timed_out=True)
    except PermissionError:
        return failed(f"setup program {argv[0]!r} is not executable")
    except OSError as exc:
        return failed(f"setup program {argv[0]!r} could not start: {exc}")
    output = _combine(result.stdout, result.stderr)
    return SetupResult(result.ok, result.returncode, output, False, time.monotonic() - started)
