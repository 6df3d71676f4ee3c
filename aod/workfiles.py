"""Which of a workspace's git-ignored files are work (pure; no I/O).

`git status` leaves ignored files out, but removing a worktree deletes them: an agent's
`notes.txt` under an ignored `build/`, a `run.log`, an edited `.env` are lost unless cleanup
counts them. So every ignored file counts as work, except what is *disposable*: what a build or
an install makes again (`node_modules/`, `.venv/`, `__pycache__/`, `target/`, caches). The list
is `workspace.disposable` in config (these defaults unless set) plus each project's own
`projects.NAME.disposable`.

Patterns, a small part of gitignore's syntax:

- `name/`: a directory of that name anywhere, with everything below it;
- `*.pyc`, `.DS_Store`: a file or directory whose name matches (`fnmatch`), anywhere;
- `docs/_build/`, `/out`: with a `/` inside (or leading), matched from the workspace's root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase

DEFAULT_DISPOSABLE: tuple[str, ...] = (
    # Dependencies an install puts back.
    "node_modules/",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    ".eggs/",
    "*.egg-info/",
    ".terraform/",
    # Compiler and tool caches a build makes again.
    "__pycache__/",
    "*.pyc",
    "target/",
    ".gradle/",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".cache/",
    ".parcel-cache/",
    ".next/",
    ".nuxt/",
    ".turbo/",
    ".coverage",
    ".DS_Store",
)

MAX_SAVED_BYTES = 100 * 1024 * 1024
"""Ignored work is saved into the `refs/ao/wip/<id>` snapshot up to this many bytes in all;
beyond, none of it is (the snapshot would bloat the repository), cleanup says so and keeps
the worktree unless forced."""


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be a disposable pattern, or None."""
    if not pattern.strip("/").strip():
        return "is empty"
    if "\x00" in pattern or "\n" in pattern:
        return "holds a NUL or a newline"
    if any(part == ".." for part in pattern.strip("/").split("/")):
        return "climbs out of the workspace ('..')"
    return None


def is_disposable(relative: str, is_dir: bool, patterns: Sequence[str]) -> bool:
    """Whether the ignored entry at `relative` ('/'-separated, from the workspace root; a
    directory when `is_dir`) is disposable under `patterns`, itself or through a directory
    it is in."""
    parts = [p for p in relative.split("/") if p]
    for depth in range(1, len(parts) + 1):
        entry_is_dir = is_dir or depth < len(parts)
        prefix = "/".join(parts[:depth])
        name = parts[depth - 1]
        for pattern in patterns:
            directory_only = pattern.endswith("/")
            if directory_only and not entry_is_dir:
                continue
            bare = pattern.strip("/")
            anchored = "/" in bare or pattern.startswith("/")
            if fnmatchcase(prefix if anchored else name, bare):
                return True
    return False


def listed(files: Iterable[str], limit: int = 10) -> str:
    """`build/notes.txt, run.log, .env and 3 more`: the files a message names."""
    names = sorted(files)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def work_left(dirty: bool, ignored: dict[str, int], saved: bool) -> str:
    """What a workspace holds that is not committed, for cleanup's messages: `uncommitted
    changes; ignored files that are not disposable: build/notes.txt, run.log`. `saved`: whether
    the ignored ones go into the snapshot (not when over MAX_SAVED_BYTES)."""
    parts = ["uncommitted changes"] if dirty else []
    if ignored:
        text = f"ignored files that are not disposable: {listed(ignored)}"
        if not saved:
            text += f" ({sum(ignored.values()) / (1024 * 1024):.0f} MB in all, too large to save in a snapshot)"
        parts.append(text)
    return "; ".join(parts)
