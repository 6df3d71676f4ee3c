"""Which kinds each plugin slot accepts: aod's built-ins and the names of installed entry points.

One job: the names config validates `runtime.kind`, `workspace.kind` and `projects.NAME.runtime /
workspace / scm / tracker / forge` and the notifiers' `kind` against. Only the entry points'
NAMES are read here (importlib.metadata, no plugin code runs): whether a plugin loads and fits
its slot is aod/plugins/external.py's business, reported by `aoctl plugins` and `aoctl doctor`.
May import: the standard library.
"""

from __future__ import annotations

from importlib.metadata import entry_points

GROUPS = {
    "agent": "aod.agents",
    "runtime": "aod.runtimes",
    "workspace": "aod.workspaces",
    "scm": "aod.scms",
    "tracker": "aod.trackers",
    "notifier": "aod.notifiers",
}
"""The entry-point group of each slot; an entry point's name is the kind users write in config."""

BUILTIN_KINDS: dict[str, tuple[str, ...]] = {
    "agent": ("claude-code", "codex", "aider", "goose", "opencode", "custom"),
    "runtime": ("tmux", "process", "container", "kubernetes"),
    "workspace": ("worktree", "clone"),
    "scm": ("local", "github", "gitlab"),
    "tracker": ("local", "github", "gitlab", "linear", "jira"),
    "notifier": ("log", "desktop", "webhook", "slack", "discord", "ntfy"),
}
"""Kept equal to the built-in plugins by tests (config must not import plugins)."""

KIND_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,62}$"


def installed_names(slot: str) -> list[str]:
    """Names of the installed entry points of `slot`'s group that do not clash with a built-in
    (a clashing one is refused, see aod/plugins/external.py), sorted."""
    builtin = set(BUILTIN_KINDS[slot])
    try:
        found = entry_points(group=GROUPS[slot])
    except Exception:  # noqa: BLE001 - a broken distribution's metadata: no plugins, not no config
        return []
    return sorted({ep.name for ep in found if ep.name not in builtin})


def known_kind(slot: str, value: str) -> str:
    """`value` when it names a built-in or an installed plugin of `slot`; else a ValueError that
    lists what is available (a typo errors, naming the choices)."""
    if value in BUILTIN_KINDS[slot]:
        return value
    installed = installed_names(slot)
    if value in installed:
        return value
    choices = ", ".join([*BUILTIN_KINDS[slot], *installed])
    hint = "" if installed else f"; a plugin package adds kinds through the entry-point group {GROUPS[slot]}"
    raise ValueError(f"unknown {slot} {value!r}: use {choices}{hint} (`aoctl plugins` lists them)")


def kind_field(slot: str):  # type: ignore[no-untyped-def]
    """The type of a key that names a kind of `slot`: a name, validated at load against the
    built-ins and the installed plugins."""
    from typing import Annotated

    from pydantic import AfterValidator, Field

    return Annotated[str, Field(pattern=KIND_PATTERN), AfterValidator(lambda value: known_kind(slot, value))]


RuntimeKind = kind_field("runtime")
WorkspaceKind = kind_field("workspace")
ScmKind = kind_field("scm")
TrackerKind = kind_field("tracker")
