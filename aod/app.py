"""The daemon's live objects, shared by the handlers, the tick and the signal handler."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
import trio

from aod import __version__, redact
from aod.config import ConfigError, LoadedConfig, changed_keys, load_config
from aod.errors import RpcFailure
from aod.events import EventBus, utc_now_iso
from aod.logs import configure_logging
from aod.paths import Locations
from aod.poller import Ticker
from aod.protocol import ErrorCode, ReloadResult
from aod.redact import Redactor
from aod.server import ServerLimits
from aod.store import Store

if TYPE_CHECKING:
    from aod.checkpoints import Checkpoints
    from aod.dependents import Dependents
    from aod.federation.hosts import Hosts
    from aod.forges import ForgeService
    from aod.groups import Groups
    from aod.intake import Intake
    from aod.metering import Meter
    from aod.notify import NotificationRouter
    from aod.observe import Observer, ObserveStats
    from aod.reactor import Reactor
    from aod.service import SessionService
    from aod.web.server import WebServer

log = structlog.get_logger()


@dataclass
class LogOverrides:
    level: str | None = None
    format: str | None = None


@dataclass(eq=False)
class App:
    locations: Locations
    loaded: LoadedConfig
    store: Store
    bus: EventBus
    socket_activated: bool
    log_overrides: LogOverrides = field(default_factory=LogOverrides)
    version: str = __version__
    pid: int = field(default_factory=os.getpid)
    started_at: str = field(default_factory=utc_now_iso)
    started_monotonic: float = field(default_factory=time.monotonic)
    session_count: int = 0
    shutdown_requested: trio.Event = field(default_factory=trio.Event)
    ticker: Ticker | None = None
    web: WebServer | None = None
    """The dashboard's listener (aod/web/server.py), set by the daemon."""
    sessions: SessionService = field(init=False)
    notifications: NotificationRouter = field(init=False)
    forges: ForgeService = field(init=False)
    meter: Meter = field(init=False)
    reactor: Reactor = field(init=False)
    observer: Observer = field(init=False)
    intake: Intake = field(init=False)
    groups: Groups = field(init=False)
    checkpoints: Checkpoints = field(init=False)
    dependents: Dependents = field(init=False)
    hosts: Hosts = field(init=False)
    """issue 21: the remote hosts' links (aod/federation/hosts.py)."""
    last_observed: ObserveStats | None = None
    _redactor: tuple[object, Redactor] | None = None

    def __post_init__(self) -> None:
        from aod.forges import ForgeService
        from aod.notify import NotificationRouter
        from aod.plugins.forge.local import LocalForge
        from aod.observe import Observer
        from aod.reactor import Reactor
        from aod.service import SessionService

        self.sessions = SessionService(
            store=self.store,
            bus=self.bus,
            config=lambda: self.loaded.config,
            plugins=build_plugins(self.loaded.config, self.locations),
            data_dir=self.locations.data_dir,
            socket_path=self.locations.socket_path,
        )
        self.notifications = NotificationRouter(lambda: self.loaded.config)
        local = LocalForge(self.store, on_ci_done=lambda _project, _number, _check: self.poke_tick())
        self.forges = ForgeService(
            self.sessions, local,
            factories={"github": self._github, "gitlab": self._gitlab, "linear": self._linear, "jira": self._jira, **self._external_forges()},
        )
        self.sessions.spawner.issue_lookup = self.forges.get_issue
        self.reactor = Reactor(
            self.sessions, self.notifications, merge=self.forges.merge_for_reaction, comment=self.forges.comment_on_pr
        )
        from aod.reviewers import Reviewers  # issue 19, reviewer agent

        self.reactor.start_review = Reviewers(self.sessions, self.forges).start
        from aod.issue_sync import IssueSync  # issue 20: the tracker told of spawns and merges

        self.issue_sync = IssueSync(self.forges)
        self.reactor.sync_issue = self.issue_sync.merged
        self.sessions.spawner.on_spawned = self._issue_started
        from aod.metering import Meter

        self.meter = Meter(self.sessions)
        self.observer = Observer(self.sessions, self.reactor, forges=self.forges, meter=self.meter)
        # issue 19: overlap warnings and per-turn checkpoints
        from aod.checkpoints import Checkpoints
        from aod.overlap_watch import OverlapWatch

        self.checkpoints = Checkpoints(self.sessions)
        self.observer.overlaps = OverlapWatch(self.sessions, self.reactor)
        self.observer.checkpoints = self.checkpoints
        from aod.intake import Intake

        self.intake = Intake(self.sessions, self.forges)
        from aod.groups import Groups

        self.groups = Groups(self.sessions, self.forges, poke=self.poke_tick)
        from aod.dependents import Dependents

        self.dependents = Dependents(self.sessions, self.reactor, self.forges)
        from aod.federation.hosts import Hosts  # issue 21

        self.hosts = Hosts(self)
        # Secrets out of everything aod stores, shows or forwards (aod/redact.py).
        self.store.redactor = self.redactor
        self.bus.redact = lambda data: redact.fields(self.redactor(), data)
        self.sessions.redactor = self.redactor
        self.notifications.redactor = self.redactor
        local.redactor = self.redactor

    def redactor(self) -> Redactor:
        """The running config's redactor (built again after a reload changed the config)."""
        config = self.loaded.config
        if self._redactor is None or self._redactor[0] is not config:
            secrets = {f"{name}.token": value for name in ("gitlab", "linear", "jira") for value in getattr(config, name).secrets()}
            self._redactor = (config, redact.build(config.redact.env, config.redact.patterns, os.environ, secrets))
        return self._redactor[1]

    def _github(self):  # type: ignore[no-untyped-def]
        from aod.plugins.forge.github import GithubForge

        forge = GithubForge(lambda: self.loaded.config)
        forge.redactor = self.redactor
        return forge

    def _gitlab(self):  # type: ignore[no-untyped-def]
        from aod.plugins.forge.gitlab import GitlabForge

        forge = GitlabForge(lambda: self.loaded.config)
        forge.redactor = self.redactor
        return forge

    def _linear(self):  # type: ignore[no-untyped-def]
        from aod.plugins.tracker.linear import LinearTracker

        return LinearTracker(lambda: self.loaded.config)

    def _jira(self):  # type: ignore[no-untyped-def]
        from aod.plugins.tracker.jira import JiraTracker

        return JiraTracker(lambda: self.loaded.config)

    def _external_forges(self) -> dict[str, Any]:
        """Third-party scm and tracker plugins by kind (entry points `aod.scms`, `aod.trackers`):
        made at first use with the running config; a kind in both groups is one instance."""
        from aod.plugins import external

        def factory(slot: str, name: str) -> Any:
            return lambda: external.make(slot, name, lambda: self.loaded.config)

        # Unusable ones too: their first use answers with the plugin's own error.
        made = {r.name: factory("tracker", r.name) for r in external.records() if r.slot == "tracker"}
        made.update({r.name: factory("scm", r.name) for r in external.records() if r.slot == "scm"})
        return made

    def _issue_started(self, session: Any, project: Any) -> None:
        nursery = self.sessions.nursery
        if nursery is not None:
            nursery.start_soon(self.issue_sync.started, session, project)

    def poke_tick(self) -> None:
        """Run the next tick now: something changed that the tick should look at."""
        if self.ticker is not None:
            self.ticker.poke()

    @property
    def config(self):  # type: ignore[no-untyped-def]
        return self.loaded.config

    def server_limits(self) -> ServerLimits:
        api = self.config.api
        return ServerLimits(
            max_message_bytes=api.max_message_bytes,
            write_timeout=api.write_timeout,
            max_connections=api.max_connections,
            first_frame_timeout=api.first_frame_timeout,
            idle_timeout=api.idle_timeout,
            max_subscriptions=api.max_subscriptions,
        )

    def apply_logging(self) -> None:
        configure_logging(
            self.log_overrides.level or self.config.log.level,
            self.log_overrides.format or self.config.log.format,
            redact=lambda value: self.redactor().value(value),
        )

    def request_shutdown(self, reason: str) -> None:
        if not self.shutdown_requested.is_set():
            log.info("shutting down", reason=reason)
            self.shutdown_requested.set()

    async def reload(self) -> ReloadResult:
        """Re-read the config file. On errors the running config stays and the caller is told."""
        try:
            new = await trio.to_thread.run_sync(load_config, self.locations.config_file)
        except ConfigError as exc:
            log.error("config reload failed; keeping the running config", errors=exc.errors)
            self.bus.publish("config.invalid", errors=exc.errors)
            raise RpcFailure(
                ErrorCode.CONFIG_INVALID,
                f"config has {len(exc.errors)} error(s); the running config is unchanged",
                {"errors": exc.errors},
            ) from None
        if self.loaded.loaded and not new.loaded:
            # The file aod runs on is gone (moved, deleted by a checkout, a mount not back yet):
            # reloading would put every setting back to its default, the tmux socket and the
            # agents with them. Keep what runs; a file put back is read by the next reload.
            why = f"{new.path} has disappeared; the running config is unchanged (put the file back and reload)"
            log.error("config reload refused; keeping the running config", path=str(new.path), reason="the config file has disappeared")
            self.bus.publish("config.invalid", errors=[why])
            raise RpcFailure(ErrorCode.CONFIG_INVALID, why, {"errors": [why]})
        changed = changed_keys(self.loaded.config, new.config)
        self.loaded = new
        self.bus.buffer = new.config.api.subscriber_queue
        self.apply_logging()
        if "runtime" in changed or "workspace" in changed:
            self.sessions.plugins = build_plugins(new.config, self.locations)
        elif "projects" in changed and "tmux" in self.sessions.plugins.runtimes:
            # A project's `container` settings (issue 21): only that runtime is built again.
            runtimes = self.sessions.plugins.runtimes
            runtimes["container"] = _container_runtime(new.config, self.locations, runtimes["tmux"])
        if "hosts" in changed:
            self.hosts.reconcile()  # issue 21: links as the new config says
        if "poll_interval" in changed and self.ticker is not None:
            self.ticker.poke()
        if self.web is not None and ("web" in changed or self.web.status().state == "failed"):
            self.web.reconfigure()  # listens again as the config says (a taken port may be free now)
        log.info("config reloaded", path=str(new.path), loaded=new.loaded, changed=changed)
        self.bus.publish("config.reloaded", path=str(new.path), changed=changed)
        return ReloadResult(config_path=str(new.path), config_loaded=new.loaded, changed=changed)


def build_plugins(config, locations: Locations):  # type: ignore[no-untyped-def]
    from aod.plugins.runtime.kubernetes import KubernetesRuntime
    from aod.plugins.runtime.process import ProcessRuntime
    from aod.plugins.runtime.tmux import TmuxRuntime
    from aod.plugins.workspace.clone import CloneWorkspace
    from aod.plugins.workspace.worktree import WorktreeWorkspace
    from aod.service import Plugins

    from aod.plugins import external  # plugins from other packages (docs/plugins.md)

    timeout = config.runtime.probe_timeout
    tmux = TmuxRuntime(config.runtime.tmux_socket, timeout=timeout)
    return Plugins(
        runtimes={
            "tmux": tmux,
            "process": ProcessRuntime(locations.state_dir),
            "container": _container_runtime(config, locations, tmux),  # issue 21
            "kubernetes": KubernetesRuntime(config.runtime.kubernetes),  # issue 21: one pod a session
            **{name: external.instance("runtime", name) for name in external.usable("runtime")},
        },
        workspaces={
            "worktree": WorktreeWorkspace(),
            "clone": CloneWorkspace(),
            **{name: external.instance("workspace", name) for name in external.usable("workspace")},
        },
    )


def _container_runtime(config, locations: Locations, tmux):  # type: ignore[no-untyped-def]
    """`runtime: container` (issue 21): agents in containers, watched through aod's tmux server
    (its own TmuxRuntime instance: the same server). Settings are this config's; a reload that
    changes them builds the plugins again (`runtime` or `projects` changed)."""
    from aod.plugins.runtime.container import ContainerRuntime, daemon_label

    def settings(project: str | None):  # type: ignore[no-untyped-def]
        own = config.projects.get(project) if project else None
        return own.container if own is not None and own.container is not None else config.runtime.container

    def engines():  # type: ignore[no-untyped-def]
        return [config.runtime.container, *(p.container for p in config.projects.values() if p.container is not None)]

    def in_use() -> bool:
        return config.runtime.kind == "container" or any(p.runtime == "container" for p in config.projects.values())

    return ContainerRuntime(
        tmux, settings, engines, daemon=daemon_label(locations.state_dir), timeout=config.runtime.probe_timeout, in_use=in_use
    )
