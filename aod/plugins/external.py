"""Plugins from other packages: every slot's third-party implementations, from entry points.

A distribution adds a kind to a slot with an entry point in the slot's group (aod/config/
plugins.py GROUPS: `aod.agents`, `aod.runtimes`, `aod.workspaces`, `aod.scms`, `aod.trackers`,
`aod.notifiers`); the entry point's NAME is the kind users write in config, its object a
factory (a class, or a function) of the plugin:

- agent, runtime, workspace: `factory()` → the plugin;
- scm, tracker: `factory(config)` → the plugin, `config` a zero-argument callable giving the
  running aod config (it changes on reload);
- notifier: `factory(name, settings)` → the plugin, `name` the user's notifier name and
  `settings` the keys of its `notifiers.NAME` section (a dict).

Each is loaded once per process and checked against its slot's Protocol (the attributes and
methods aod calls are there and callable, and its `kind` — an agent's `name` — is the entry
point's name). What fails to import or to fit is reported (the log at start, `aoctl plugins`,
`aoctl doctor`) with the distribution's name and version, and is unusable; the rest of aod
runs. A name of a built-in is never replaced: such an entry point is refused, naming both.

A third-party plugin's crash fails only its own sessions: what the tick calls synchronously on
a runtime or an agent (`liveness`, `server_of`, `read_screen`, `read_input`) goes through a
guard that turns an exception into "unknown" for that one session and logs it with the
session and the plugin's distribution; the tick's asynchronous calls (`snapshot`,
`capture_many`, `read_native`) and a spawn's already catch exceptions per runtime/session.
"""

from __future__ import annotations

import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import structlog

from aod import __version__
from aod.config.plugins import BUILTIN_KINDS, GROUPS

log = structlog.get_logger()

SLOTS = tuple(GROUPS)
LOG_EVERY = 60.0
"""A guarded call that keeps failing is logged again after this many seconds."""

# What aod calls on each slot's plugin: attributes (any value) and methods (callable).
REQUIRED_ATTRS: dict[str, tuple[str, ...]] = {
    "agent": ("name", "executable", "supports_resume", "reads_its_prompt"),
    "runtime": ("kind", "echoes_input"),
    "workspace": ("kind",),
    "scm": ("kind",),
    "tracker": ("kind",),
    "notifier": ("name",),
}
REQUIRED_METHODS: dict[str, tuple[str, ...]] = {
    "agent": ("launch", "read_screen", "read_input", "read_native", "prepare"),
    "runtime": (
        "create", "server_of", "snapshot", "liveness", "capture", "capture_many", "look", "paste",
        "press_enter", "kill", "attach_argv", "viewer_command", "set_viewer_control", "hold_window_size",
    ),
    "workspace": ("create", "exists", "is_dirty", "ignored_files", "snapshot", "remove"),
    "scm": ("get_issue", "list_issues", "pull_requests", "open_pr", "merge", "comment", "close_pr", "retarget_pr", "status"),
    "tracker": ("get_issue", "list_issues", "status"),
    "notifier": ("send",),
}
OPTIONAL_METHODS: dict[str, tuple[str, ...]] = {
    "agent": ("resume_id",),
    "tracker": ("move_issue", "link_pr"),
    "runtime": ("reap", "cleanup"),
}
"""Called only where present (`issue_sync` without `move_issue` writes no state); callable if there."""
KIND_ATTR = {"agent": "name", "runtime": "kind", "workspace": "kind", "scm": "kind", "tracker": "kind", "notifier": None}
"""Which attribute must equal the entry point's name (a notifier's `name` is the user's)."""
INSTANTIATED_AT_START = frozenset({"agent", "runtime", "workspace"})
"""Slots whose factory takes no arguments: made and checked whole at start. The others are
checked on their class at start (methods) and whole when first made."""

BUILTIN_MODULES: dict[str, dict[str, str]] = {
    "agent": {
        "claude-code": "aod.plugins.agent.claude_code:ClaudeCodeAgent", "codex": "aod.plugins.agent.codex:CodexAgent",
        "aider": "aod.plugins.agent.aider:AiderAgent", "goose": "aod.plugins.agent.goose:GooseAgent",
        "opencode": "aod.plugins.agent.opencode:OpencodeAgent", "custom": "aod.plugins.agent.custom:CustomAgent",
    },
    "runtime": {
        "tmux": "aod.plugins.runtime.tmux:TmuxRuntime", "process": "aod.plugins.runtime.process:ProcessRuntime",
        "container": "aod.plugins.runtime.container:ContainerRuntime",
        "kubernetes": "aod.plugins.runtime.kubernetes:KubernetesRuntime",
    },
    "workspace": {"worktree": "aod.plugins.workspace.worktree:WorktreeWorkspace", "clone": "aod.plugins.workspace.clone:CloneWorkspace"},
    "scm": {
        "local": "aod.plugins.forge.local:LocalForge", "github": "aod.plugins.forge.github:GithubForge",
        "gitlab": "aod.plugins.forge.gitlab:GitlabForge",
    },
    "tracker": {
        "local": "aod.plugins.forge.local:LocalForge", "github": "aod.plugins.forge.github:GithubForge",
        "gitlab": "aod.plugins.forge.gitlab:GitlabForge", "linear": "aod.plugins.tracker.linear:LinearTracker",
        "jira": "aod.plugins.tracker.jira:JiraTracker",
    },
    "notifier": {
        "log": "aod.plugins.notifier.log:LogNotifier", "desktop": "aod.plugins.notifier.desktop:DesktopNotifier",
        "webhook": "aod.plugins.notifier.webhook:WebhookNotifier", "slack": "aod.plugins.notifier.slack:SlackNotifier",
        "discord": "aod.plugins.notifier.discord:DiscordNotifier", "ntfy": "aod.plugins.notifier.ntfy:NtfyNotifier",
    },
}


class PluginUnavailable(LookupError):
    """The named plugin is not installed, or did not load or fit its slot; the message says which
    distribution and what to do."""


@dataclass
class PluginRecord:
    slot: str
    name: str
    distribution: str
    version: str
    module: str
    """Where its object is (`package.module:attr`)."""
    builtin: bool = False
    error: str | None = None
    """Why it is unusable (None: ok)."""
    factory: Callable[..., Any] | None = field(default=None, repr=False)
    instance: Any = field(default=None, repr=False)
    """The plugin made at start (agent, runtime, workspace), already checked."""
    failures: int = 0
    """Calls that raised since start (the guard's count), and the last one's words."""
    last_failure: str = ""

    @property
    def status(self) -> str:
        return "ok" if self.error is None else "error"

    @property
    def origin(self) -> str:
        return f"{self.distribution} {self.version}".strip()


def problems(slot: str, obj: Any, name: str | None, *, whole: bool = True) -> list[str]:
    """What `obj` lacks to fill `slot` (empty: it fits). `whole` False: only what a class shows
    (its methods), for a plugin made later with arguments."""
    found: list[str] = []
    if whole:
        missing = [attr for attr in REQUIRED_ATTRS[slot] if not hasattr(obj, attr)]
        if missing:
            found.append(f"missing attribute(s) {', '.join(missing)}")
    absent = [m for m in REQUIRED_METHODS[slot] if not hasattr(obj, m)]
    methods = (*REQUIRED_METHODS[slot], *OPTIONAL_METHODS.get(slot, ()))
    not_callable = [m for m in methods if hasattr(obj, m) and not callable(getattr(obj, m))]
    if absent:
        found.append(f"missing method(s) {', '.join(absent)}")
    if not_callable:
        found.append(f"not callable: {', '.join(not_callable)}")
    attr = KIND_ATTR[slot]
    if whole and name is not None and attr is not None and hasattr(obj, attr) and getattr(obj, attr) != name:
        found.append(f"its {attr} is {getattr(obj, attr)!r}, not the entry point's name {name!r}")
    return found


def _distribution(ep: EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "(unknown distribution)", ""
    try:
        return str(dist.metadata["Name"] or dist.name), str(dist.version or "")
    except Exception:  # noqa: BLE001 - metadata unreadable: still name something
        return str(getattr(dist, "name", "?")), ""


def _load(slot: str, ep: EntryPoint) -> PluginRecord:
    distribution, version = _distribution(ep)
    record = PluginRecord(slot=slot, name=ep.name, distribution=distribution, version=version, module=ep.value)
    who = f"{distribution} {version}".strip()
    try:
        factory = ep.load()
    except BaseException as exc:  # noqa: BLE001 - an import that fails (or exits) must not stop aod
        if isinstance(exc, KeyboardInterrupt):
            raise
        record.error = f"{who}: importing {ep.value} failed: {type(exc).__name__}: {exc}"
        return record
    if not callable(factory):
        record.error = f"{who}: {ep.value} is not a class or a function that makes the {slot} plugin"
        return record
    record.factory = factory
    if slot in INSTANTIATED_AT_START:
        try:
            obj = factory()
        except Exception as exc:  # noqa: BLE001
            record.error = f"{who}: making the {slot} plugin {ep.name!r} ({ep.value}()) failed: {type(exc).__name__}: {exc}"
            return record
        found = problems(slot, obj, ep.name)
        if not found:
            record.instance = obj
    else:
        found = problems(slot, factory, ep.name, whole=False) if inspect.isclass(factory) else []
    if found:
        record.error = f"{who}: {ep.value} does not fit the {slot} slot: {'; '.join(found)}"
    return record


_LOCK = threading.Lock()
_RECORDS: list[PluginRecord] | None = None


def records(*, reload: bool = False) -> list[PluginRecord]:
    """Every installed third-party plugin of every slot, loaded and checked once per process."""
    global _RECORDS
    with _LOCK:
        if _RECORDS is None or reload:
            _RECORDS = _discover()
        return _RECORDS


def _discover() -> list[PluginRecord]:
    out: list[PluginRecord] = []
    for slot, group in GROUPS.items():
        try:
            found = list(entry_points(group=group))
        except Exception as exc:  # noqa: BLE001
            log.error("reading the installed plugins failed", group=group, error=str(exc))
            continue
        by_name: dict[str, list[EntryPoint]] = {}
        for ep in found:
            by_name.setdefault(ep.name, []).append(ep)
        for name, eps in sorted(by_name.items()):
            if name in BUILTIN_KINDS[slot]:
                for ep in eps:
                    distribution, version = _distribution(ep)
                    out.append(PluginRecord(
                        slot=slot, name=name, distribution=distribution, version=version, module=ep.value,
                        error=(
                            f"{distribution} {version}: {name!r} is aod's built-in {slot} "
                            f"({BUILTIN_MODULES[slot][name]}); the entry point {ep.value} cannot replace it: "
                            f"give it another name in the {group} group"
                        ),
                    ))
                continue
            if len({_distribution(ep) for ep in eps}) > 1:
                who = " and ".join(" ".join(_distribution(ep)).strip() for ep in eps)
                for ep in eps:
                    distribution, version = _distribution(ep)
                    out.append(PluginRecord(
                        slot=slot, name=name, distribution=distribution, version=version, module=ep.value,
                        error=f"the {slot} {name!r} is provided by both {who}: uninstall one of them",
                    ))
                continue
            out.append(_load(slot, eps[0]))
    for record in out:
        if record.error:
            log.error("plugin unusable", slot=record.slot, plugin=record.name, distribution=record.origin, error=record.error)
        else:
            log.info("plugin loaded", slot=record.slot, plugin=record.name, distribution=record.origin, module=record.module)
    return out


def builtin_records() -> list[PluginRecord]:
    return [
        PluginRecord(slot=slot, name=name, distribution="aod", version=__version__, module=BUILTIN_MODULES[slot][name], builtin=True)
        for slot in SLOTS
        for name in BUILTIN_KINDS[slot]
    ]


def usable(slot: str) -> dict[str, PluginRecord]:
    """The third-party plugins of `slot` that loaded and fit, by name."""
    return {r.name: r for r in records() if r.slot == slot and r.error is None}


def record(slot: str, name: str) -> PluginRecord:
    """The usable third-party plugin `name` of `slot`; PluginUnavailable saying why not."""
    for r in records():
        if r.slot == slot and r.name == name:
            if r.error is not None:
                raise PluginUnavailable(f"the {slot} plugin {name!r} is unusable: {r.error} (`aoctl plugins` lists every plugin)")
            return r
    raise PluginUnavailable(
        f"no {slot} plugin {name!r} is installed (`aoctl plugins` lists what is; one installed after "
        "aod started is loaded when aod starts again)"
    )


def unavailable_reason(slot: str, name: str) -> str | None:
    """Why the third-party plugin `name` of `slot` cannot be used (None: it can, or aod knows of
    no such plugin)."""
    try:
        record(slot, name)
    except PluginUnavailable as exc:
        if any(r.slot == slot and r.name == name for r in records()) or name not in BUILTIN_KINDS[slot]:
            return str(exc)
    return None


def make(slot: str, name: str, *args: Any) -> Any:
    """A new plugin `name` of `slot` from its factory (scm/tracker: `config`; notifier: `name,
    settings`), checked whole, and guarded where the tick calls it synchronously."""
    r = record(slot, name)
    assert r.factory is not None
    try:
        obj = r.factory(*args)
    except Exception as exc:  # noqa: BLE001
        raise PluginUnavailable(f"{r.origin}: making the {slot} plugin {name!r} failed: {type(exc).__name__}: {exc}") from None
    found = problems(slot, obj, None if slot == "notifier" else name)
    if found:
        raise PluginUnavailable(f"{r.origin}: {r.module} does not fit the {slot} slot: {'; '.join(found)}")
    return guard(slot, obj, r)


def instance(slot: str, name: str) -> Any:
    """The plugin made and checked at start (agent, runtime, workspace), guarded."""
    r = record(slot, name)
    return guard(slot, r.instance, r)


def guard(slot: str, obj: Any, r: PluginRecord) -> Any:
    if slot == "runtime":
        return GuardedRuntime(obj, r)
    if slot == "agent":
        return GuardedAgent(obj, r)
    return obj


class _Guarded:
    """Passes everything through to the plugin; the methods named below never raise."""

    def __init__(self, plugin: Any, r: PluginRecord) -> None:
        self.__dict__["_plugin"] = plugin
        self.__dict__["_record"] = r

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._plugin, attr)

    def _failed(self, what: str, exc: Exception, session: str | None) -> None:
        self._record.failures += 1
        self._record.last_failure = cut_line(f"{what}: {type(exc).__name__}: {exc}" + (f" (session {session})" if session else ""))
        # Logged once a minute per call and session (a broken probe fails every tick); counted always.
        now, key = time.monotonic(), (what, session)
        logged = self.__dict__.setdefault("_logged", {})
        if now - logged.get(key, -LOG_EVERY) < LOG_EVERY:
            return
        logged[key] = now
        log.error(
            f"the {self._record.slot} plugin failed; this session is unknown this time",
            plugin=self._record.name, distribution=self._record.origin, call=what, session=session,
            error=f"{type(exc).__name__}: {exc}",
        )


def cut_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class GuardedRuntime(_Guarded):
    """The tick catches what `snapshot` and `capture_many` raise (per runtime: unknown, never
    dead); the guard counts it for `aoctl plugins` and lets it through."""

    async def snapshot(self, server: str = "") -> Any:
        try:
            return await self._plugin.snapshot(server)
        except Exception as exc:
            self._failed("snapshot", exc, None)
            raise

    async def capture_many(self, handles: Any, lines: int = 50) -> Any:
        try:
            return await self._plugin.capture_many(handles, lines)
        except Exception as exc:
            self._failed("capture_many", exc, None)
            raise

    def liveness(self, handle: Any, snapshot: Any) -> str:
        try:
            return str(self._plugin.liveness(handle, snapshot))
        except Exception as exc:  # noqa: BLE001 - this session only: unknown, never dead
            self._failed("liveness", exc, getattr(handle, "name", None))
            return "unknown"

    def server_of(self, handle: Any) -> str:
        try:
            return str(self._plugin.server_of(handle))
        except Exception as exc:  # noqa: BLE001
            self._failed("server_of", exc, getattr(handle, "name", None))
            return ""


class GuardedAgent(_Guarded):
    def read_native(self, ctx: Any, pid: int | None) -> Any:
        try:
            return self._plugin.read_native(ctx, pid)
        except Exception as exc:  # noqa: BLE001 - its own records say nothing this time
            self._failed("read_native", exc, getattr(ctx, "session_id", None))
            return None

    def read_screen(self, screen: str) -> Any:
        from aod.plugins.agent import ScreenReading

        try:
            return self._plugin.read_screen(screen)
        except Exception as exc:  # noqa: BLE001
            self._failed("read_screen", exc, None)
            return ScreenReading("unknown")

    def read_input(self, screen: str) -> str | None:
        try:
            return self._plugin.read_input(screen)  # type: ignore[no-any-return]
        except Exception as exc:  # noqa: BLE001
            self._failed("read_input", exc, None)
            return None


def report() -> list[str]:
    """One line per unusable plugin (for `aoctl doctor` and the log)."""
    return [f"{r.slot} plugin {r.name!r}: {r.error}" for r in records() if r.error]
