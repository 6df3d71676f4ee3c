"""The Hosts service (issue 21): one `Remote` per `hosts.NAME`, run in aod's nursery; what the
handlers ask of hosts — forwarding a session's method to the host that has it, the merged
`session.list`, placement of a spawn, `hosts.list`, `hosts.bootstrap`.

The tick only pokes it (`on_tick`): each host's one request of the tick runs in its own task, so
a slow or cut link never lengthens this aod's tick.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
import structlog
import trio

from aod import placement
from aod.errors import RpcFailure
from aod.federation import routing
from aod.federation.remote import Remote
from aod.protocol import ErrorCode, HostInfo, SessionInfo, SessionListParams, SpawnParams

if TYPE_CHECKING:
    from aod.config import Config
    from aod.events import EventBus
    from aod.service import SessionService
    from aod.store import Store

log = structlog.get_logger()
LONG_METHODS = {"session.spawn": None, "session.restore": 600.0, "pr.merge": 300.0, "session.rollback": 120.0}
"""Calls that may take long on the host (a spawn runs its setup hook): their own timeouts."""


class Daemon(Protocol):
    """What of the app the hosts use (the app itself: a protocol, so this module, below the
    app, never names it)."""

    @property
    def config(self) -> Config: ...

    bus: EventBus
    sessions: SessionService
    store: Store


class Hosts:
    def __init__(self, app: Daemon) -> None:
        self.app = app
        self.remotes: dict[str, Remote] = {}
        self.turn = 0
        self._nursery: trio.Nursery | None = None
        self._scopes: dict[str, trio.CancelScope] = {}

    # -- lifecycle --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Runs for aod's life: starts each host's link (and, on reload, the new ones)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.reconcile()
            await trio.sleep_forever()

    def reconcile(self) -> None:
        """Links as the config says: new hosts connected, removed ones closed, changed ones redone."""
        if self._nursery is None:
            return
        wanted = {name: cfg for name, cfg in self.app.config.hosts.items() if name != routing.LOCAL}
        for name in list(self.remotes):
            remote = self.remotes[name]
            cfg = wanted.get(name)
            if cfg is None or self._argv(cfg) != remote.argv or cfg.ssh != remote.target:
                remote.stop()
                self._scopes.pop(name).cancel()
                del self.remotes[name]
            elif cfg is not None:
                remote.max_sessions = cfg.max_sessions
        for name, cfg in wanted.items():
            if name in self.remotes:
                continue
            try:
                argv = self._argv(cfg)
            except routing.BadAddress as exc:
                log.error("host not usable", host=name, error=str(exc))
                continue
            remote = Remote(name=name, argv=argv, target=cfg.ssh, max_sessions=cfg.max_sessions, publish=self._publish)
            self.remotes[name] = remote
            scope = trio.CancelScope()
            self._scopes[name] = scope
            self._nursery.start_soon(self._run_one, remote, scope)

    @staticmethod
    def _argv(cfg: Any) -> list[str]:
        return routing.link_argv(cfg.ssh, cfg.command, list(cfg.aoctl), cfg.ssh_config)

    async def _run_one(self, remote: Remote, scope: trio.CancelScope) -> None:
        with scope:
            await remote.run()

    def on_tick(self) -> None:
        """Called by every tick: each connected host's one request, in the background."""
        if self._nursery is None:
            return
        if set(self.remotes) != {n for n in self.app.config.hosts if n != routing.LOCAL}:
            self.reconcile()
        for remote in self.remotes.values():
            if remote.connected:
                self._nursery.start_soon(remote.tick)

    def _publish(self, kind: str, session: str | None, data: dict[str, Any]) -> None:
        self.app.bus.publish(kind, session=session, **data)

    # -- lookups ----------------------------------------------------------------------------------

    def remote(self, name: str) -> Remote:
        remote = self.remotes.get(name)
        if remote is None:
            known = sorted(self.remotes)
            raise RpcFailure(
                ErrorCode.NOT_FOUND,
                f"no host {name!r} in this aod's config: add `hosts: {{{name}: {{ssh: user@host}}}}` (known: {', '.join(known) or 'none'})",
                {"valid": known},
            )
        return remote

    def info(self) -> list[HostInfo]:
        cfg = self.app.config.hosts
        return [
            HostInfo(
                name=r.name, target=r.target or (" ".join(cfg[r.name].command or []) if r.name in cfg else ""),
                reachable=r.connected, since=r.since, last_error=r.last_error, sessions=len(r.sessions), live=r.live,
                max_sessions=r.max_sessions, load_1m=r.load_1m, version=r.version, requests=r.requests, pid=r.pid,
            )
            for r in self.remotes.values()
        ]

    # -- forwarding -------------------------------------------------------------------------------

    async def forward(self, host: str, method: str, params: dict[str, Any]) -> Any:
        remote = self.remote(host)
        if method == "session.get" and not remote.connected:
            # The last known, marked `unknown` with the reason (as `session.list` shows it).
            bare = routing.split(str(params.get("id", "")))[1]
            known = next((s for s in remote.listed() if s.id == routing.join(host, bare)), None)
            if known is not None:
                return known
        timeout = LONG_METHODS.get(method, 30.0)
        result = await remote.call(method, routing.strip_params(method, params, host), timeout)
        if method == "session.attach" and isinstance(result, dict) and isinstance(result.get("argv"), list):
            ssh_config = self.app.config.hosts[host].ssh_config if host in self.app.config.hosts else None
            result = {**result, "argv": routing.attach_argv(remote.target, [str(a) for a in result["argv"]], ssh_config)}
        result = routing.prefix_result(result, host)
        self._remember(remote, result)
        return result

    def _remember(self, remote: Remote, result: Any) -> None:
        if isinstance(result, dict) and result.get("host") == remote.name and "state" in result:
            try:
                info = msgspec.convert({**result, "id": routing.split(result["id"])[1], "host": ""}, SessionInfo)
            except (msgspec.ValidationError, routing.BadAddress):
                return
            remote.remember(info)

    def listed(self, params: SessionListParams) -> list[SessionInfo]:
        """Every host's cached sessions, filtered as `session.list` filters its own."""
        out: list[SessionInfo] = []
        for remote in self.remotes.values():
            for info in remote.listed():
                if params.project is not None and info.project != params.project:
                    continue
                if not params.orchestrators and info.kind == "orchestrator":
                    continue
                out.append(info)
        return out

    async def listed_with_cost(self, params: SessionListParams) -> list[SessionInfo]:
        """With `cost`: each reachable host asked (one request each, at once); the others' cache."""
        out: list[SessionInfo] = []
        asked: dict[str, list[SessionInfo]] = {}

        async def ask(remote: Remote) -> None:
            try:
                result = await remote.call("session.list", msgspec.to_builtins(params), 30.0)
            except RpcFailure:
                return
            asked[remote.name] = [msgspec.convert(s, SessionInfo) for s in routing.prefix_result(result, remote.name)["sessions"]]

        async with trio.open_nursery() as nursery:
            for remote in self.remotes.values():
                if remote.connected:
                    nursery.start_soon(ask, remote)
        for remote in self.remotes.values():
            if remote.name in asked:
                out += asked[remote.name]
            else:
                out += [s for s in remote.listed() if (params.project is None or s.project == params.project)
                        and (params.orchestrators or s.kind != "orchestrator")]
        return out

    # -- placement --------------------------------------------------------------------------------

    async def place(self, params: SpawnParams) -> str:
        """The host a spawn goes to: `--host`, else `placement` (a pure choice, aod/placement.py)."""
        if params.host:
            if params.host != routing.LOCAL:
                self.remote(params.host)
            return params.host
        config = self.app.config.placement
        if config.policy == "local" and not config.pinned:
            return routing.LOCAL
        project = params.project
        if project is None:
            try:
                project = (await self.app.sessions.project(None, params.cwd)).name
            except RpcFailure:
                project = None
        local_live = sum(1 for s in await self.app.store.list_sessions() if s.state not in _ENDED)
        try:
            load = os.getloadavg()[0]
        except OSError:
            load = None
        loads = [placement.HostLoad(routing.LOCAL, True, local_live, None, load)] + [
            placement.HostLoad(r.name, r.connected, r.live, r.max_sessions, r.load_1m) for r in self.remotes.values()
        ]
        try:
            chosen = placement.choose(config.policy, config.pinned, project, loads, self.turn)
        except placement.PlacementError as exc:
            raise RpcFailure(ErrorCode.UNAVAILABLE, str(exc)) from None
        if config.policy == "round-robin":
            self.turn += 1
        return chosen

    async def spawn(self, host: str, params: SpawnParams) -> Any:
        """`session.spawn` on host `host`: the project by name (the host must have it registered),
        this machine's cwd left out (it means nothing there)."""
        remote = self.remote(host)
        body = {k: v for k, v in msgspec.to_builtins(params).items() if v not in (None, [], False)}
        body.pop("host", None)
        cwd = body.pop("cwd", None)
        if "project" not in body and cwd is not None:
            try:
                body["project"] = (await self.app.sessions.project(None, cwd)).name
            except RpcFailure:
                pass
        if body.get("after"):
            body["after"] = [routing.split(a)[1] if routing.split(a)[0] == host else a for a in body["after"]]
        try:
            return await self.forward(host, "session.spawn", body)
        except RpcFailure as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            if exc.code == ErrorCode.NOT_FOUND and "project" in exc.message:
                name = body.get("project", "(the only one)")
                raise RpcFailure(
                    ErrorCode.NOT_FOUND,
                    f"project {name} is not registered on host {host}: run `aoctl project add PATH` there "
                    f"(`ssh {remote.target or host} aoctl project add PATH`, the repository's path on that host; "
                    f"`aoctl hosts bootstrap {host}` first if aod is not installed there)",
                    {**data, "host": host},
                ) from None
            raise


_ENDED = frozenset({"killed", "merged", "done", "closed", "errored", "archived"})


def federate(handlers: dict[str, Callable[[Any, Any], Awaitable[Any]]]) -> dict[str, Callable[[Any, Any], Awaitable[Any]]]:
    """The dispatcher's handlers with hosts in: a session method called with `NAME/ID` goes to
    host NAME; `session.list` adds every host's sessions; `session.spawn` places. One wrapper for
    every transport (socket, dashboard, MCP through aoctl)."""
    out = dict(handlers)

    def by_id(name: str, local: Callable[[Any, Any], Awaitable[Any]]) -> Callable[[Any, Any], Awaitable[Any]]:
        fields = routing.SESSION_FIELDS[name]

        async def call(params: Any, c: Any) -> Any:
            address = getattr(params, fields[0], None)
            if isinstance(address, str) and "/" in address:
                try:
                    host, bare = routing.split(address)
                except routing.BadAddress as exc:
                    raise RpcFailure(ErrorCode.INVALID_PARAMS, str(exc), {"path": f"params.{fields[0]}"}) from None
                if host is not None:
                    return await c.app.hosts.forward(host, name, msgspec.to_builtins(params))
                params = msgspec.structs.replace(params, **{fields[0]: bare})
            return await local(params, c)

        return call

    for name in routing.SESSION_FIELDS:
        if name in out:
            out[name] = by_id(name, out[name])

    local_list = out["session.list"]

    async def session_list(params: SessionListParams, c: Any) -> Any:
        result = await local_list(params, c)
        hosts: Hosts = c.app.hosts
        if not hosts.remotes:
            return result
        remote = await hosts.listed_with_cost(params) if params.cost else hosts.listed(params)
        result.sessions = sorted([*result.sessions, *remote], key=lambda s: (s.created_at, s.id))
        return result

    out["session.list"] = session_list
    local_spawn = out["session.spawn"]

    async def session_spawn(params: SpawnParams, c: Any) -> Any:
        hosts: Hosts = c.app.hosts
        host = await hosts.place(params) if (params.host or hosts.remotes) else routing.LOCAL
        if host == routing.LOCAL:
            return await local_spawn(msgspec.structs.replace(params, host=None), c)
        return await hosts.spawn(host, params)

    out["session.spawn"] = session_spawn
    return out
