"""One host's link: a JSON-RPC client over a subprocess's pipes (`ssh … aoctl rpc --stdio`, or
`hosts.NAME.command`), with request ids and pending results, the remote's event notifications,
reconnect with backoff, and an `unreachable` state with its last error.

It keeps the cache of that host's sessions: listed once after each (re)connect, then kept up by
the remote's `session.*` events (applied as they come, and the list asked again at the next tick
when some came), so a tick costs at most one request per host (`tick`). The remote aod owns the
sessions: losing the link loses nothing there, and nothing here acts on a stale cache.
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog
import trio

from aod.errors import RpcFailure
from aod.events import utc_now_iso
from aod.federation import routing
from aod.protocol import DROPPED_NOTIFICATION, EVENT_NOTIFICATION, ErrorCode, SessionInfo

log = structlog.get_logger()
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_MAX_LINE = 64 * 1024 * 1024
ENDED: frozenset[str] = frozenset({"killed", "merged", "done", "closed", "errored", "archived"})
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 10.0
CALL_TIMEOUT = 30.0
HEARTBEAT_TIMEOUT = 10.0
CONNECT_TIMEOUT = 60.0


class LinkDown(Exception):
    """The link to the host is not up (or went down while waiting)."""


@dataclass(eq=False)
class Remote:
    name: str
    argv: list[str]
    target: str | None
    max_sessions: int | None = None
    publish: Callable[[str, str | None, dict[str, Any]], None] = lambda kind, session, data: None
    """Re-publishes a remote event here (kind, `NAME/ID`, data)."""
    env: dict[str, str] | None = None

    connected: bool = False
    since: str = ""
    last_error: str = ""
    version: str = ""
    load_1m: float | None = None
    pid: int | None = None
    requests: int = 0
    """Requests sent to the host since aod started (the bench counts them per tick)."""
    connects: int = 0
    sessions: dict[str, SessionInfo] = field(default_factory=dict)
    """The cache: the host's sessions by their own ids, as last known."""
    listed_once: bool = False
    dirty: bool = False
    """Events came since the last listing: the next tick lists again (its one request)."""

    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _pending: dict[int, tuple[trio.Event, list[Any]]] = field(default_factory=dict)
    _process: trio.Process | None = None
    _send_lock: trio.Lock = field(default_factory=trio.Lock)
    _stderr: deque[str] = field(default_factory=lambda: deque(maxlen=20))
    _busy: bool = False
    _wake: trio.Event = field(default_factory=trio.Event)
    _stopped: bool = False
    _changes: int = 0
    _listed: tuple[Any, list[SessionInfo]] | None = None

    # -- what the rest of aod reads ---------------------------------------------------------------

    @property
    def live(self) -> int:
        return sum(1 for s in self.sessions.values() if s.state not in ENDED)

    def unreachable_reason(self) -> str:
        why = f": {self.last_error}" if self.last_error else ""
        return f"host {self.name} is unreachable since {self.since or 'aod started'}{why}; its sessions keep running there, shown as last known"

    def listed(self) -> list[SessionInfo]:
        """The cached sessions as this aod lists them: `NAME/ID`, `host` set; while the link is
        down each one's state is `unknown` (never dead: the host owns it), with the reason.
        Made again only after the cache or the link changed."""
        key = (id(self.sessions), self._changes, self.connected, self.since, self.last_error)
        if self._listed is not None and self._listed[0] == key:
            return self._listed[1]
        out = []
        for info in self.sessions.values():
            changes: dict[str, Any] = {"id": routing.join(self.name, info.id), "host": self.name}
            if info.stack_parent and "/" not in info.stack_parent:
                changes["stack_parent"] = routing.join(self.name, info.stack_parent)
            if not self.connected:
                changes.update(state="unknown", activity="unknown", reason=self.unreachable_reason())
            out.append(msgspec.structs.replace(info, **changes))
        self._listed = (key, out)
        return out

    # -- the link ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until cancelled."""
        backoff = BACKOFF_FIRST
        while not self._stopped:
            started = trio.current_time()
            try:
                await self._session()
            except Exception as exc:  # every failure of a link is this host's, never aod's
                self._down(_describe(exc, self._stderr))
            else:
                self._down(self._exit_reason())
            if trio.current_time() - started > 30:
                backoff = BACKOFF_FIRST  # it was up a while: try again soon
            self._wake = trio.Event()
            with trio.move_on_after(backoff):
                await self._wake.wait()
            backoff = min(backoff * 2, BACKOFF_MAX)

    def wake(self) -> None:
        """Try to connect now (the config changed, a user asked)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._kill()
        self._wake.set()

    async def _session(self) -> None:
        self._stderr.clear()
        process = await trio.lowlevel.open_process(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.env, start_new_session=True,
        )
        self._process, self.pid = process, process.pid
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_stderr, process)
                reader_done = trio.Event()

                async def read() -> None:
                    try:
                        await self._read_stdout(process)
                    finally:
                        reader_done.set()
                        nursery.cancel_scope.cancel()

                nursery.start_soon(read)
                with trio.fail_after(CONNECT_TIMEOUT):
                    await self._handshake()
                self.connects += 1
                await reader_done.wait()
        finally:
            self._fail_pending("the link dropped")
            self._kill()
            with trio.CancelScope(shield=True), trio.move_on_after(2):
                await process.wait()
            self._process, self.pid = None, None

    async def _handshake(self) -> None:
        await self._request("events.subscribe", {"kinds": None}, CALL_TIMEOUT, force=True)
        status = await self._request("daemon.status", None, CALL_TIMEOUT, force=True)
        self._status(status)
        listing = await self._request("session.list", {"orchestrators": True}, CALL_TIMEOUT, force=True)
        caught_up = self.listed_once
        self._replace(listing, announce=caught_up)
        self.listed_once = True
        self.connected, self.since, self.last_error = True, utc_now_iso(), ""
        log.info("host connected", host=self.name, version=self.version, sessions=len(self.sessions), pid=self.pid)

    def _down(self, why: str) -> None:
        if self.connected or not self.since or why != self.last_error:
            log.warning("host unreachable", host=self.name, error=why)
        if self.connected or not self.since:
            self.since = utc_now_iso()
        self.connected, self.last_error = False, why

    def _exit_reason(self) -> str:
        said = " ".join(line for line in self._stderr if line.strip())[-400:]
        if "not found" in said or "No such file" in said:
            hint = f"aod is not installed there as hosts.{self.name}.aoctl says: `aoctl hosts bootstrap {self.name}`, or set hosts.{self.name}.aoctl"
        elif "Permission denied" in said or "Host key verification failed" in said:
            hint = "ssh must log in without a prompt: a key in the agent or ~/.ssh/config, the host's key in known_hosts"
        else:
            hint = "check that `ssh` to it works without a prompt"
        return f"the link ended{': ' + said if said else ''} ({hint})"

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                try:
                    process.kill()
                except ProcessLookupError:
                    pass

    async def _read_stderr(self, process: trio.Process) -> None:
        assert process.stderr is not None
        buffer = b""
        async for chunk in process.stderr:
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                self._stderr.append(line.decode(errors="replace")[:500])

    async def _read_stdout(self, process: trio.Process) -> None:
        assert process.stdout is not None
        buffer = bytearray()
        async for chunk in process.stdout:
            buffer += chunk
            while (end := buffer.find(b"\n")) >= 0:
                line = bytes(buffer[:end])
                del buffer[: end + 1]
                if line.strip():
                    self._incoming(line)
            if len(buffer) > _MAX_LINE:
                raise LinkDown(f"host {self.name} sent a message over {_MAX_LINE} bytes")

    def _incoming(self, line: bytes) -> None:
        try:
            message = _decoder.decode(line)
        except msgspec.DecodeError:
            log.warning("host sent something that is not JSON", host=self.name, line=line[:200])
            return
        if not isinstance(message, dict):
            return
        method = message.get("method")
        if method == EVENT_NOTIFICATION and isinstance(message.get("params"), dict):
            self._event(message["params"])
        elif method == DROPPED_NOTIFICATION:
            # We fell behind the host's events: list again, and subscribe again.
            self.dirty = True
            log.warning("host dropped our event subscription; re-subscribing", host=self.name)
            self._kill()  # the reconnect subscribes afresh and lists (the cleanest catch-up)
        elif "id" in message and isinstance(message["id"], int):
            slot = self._pending.pop(message["id"], None)
            if slot is not None:
                slot[1].append(message)
                slot[0].set()

    def _event(self, event: dict[str, Any]) -> None:
        fields = routing.event_fields(self.name, event)
        if fields is None:
            return
        kind, _, data = fields
        session_id = event["session"]
        cached = self.sessions.get(session_id)
        self._changes += 1
        if cached is not None:
            self.sessions[session_id] = _applied(cached, kind, data)
            if kind == "session.archived":
                del self.sessions[session_id]
        self.dirty = True
        self.publish(*fields)

    def _replace(self, listing: Any, announce: bool) -> None:
        sessions = {}
        for raw in listing.get("sessions", []) if isinstance(listing, dict) else []:
            try:
                info = msgspec.convert(raw, SessionInfo)
            except msgspec.ValidationError:
                continue
            sessions[info.id] = info
        if announce:
            # After a reconnect: what changed while the link was down, told here once.
            for sid, info in sessions.items():
                old = self.sessions.get(sid)
                if old is None or (old.state, old.reason) != (info.state, info.reason):
                    self.publish("session.updated", routing.join(self.name, sid),
                                 {"state": info.state, "reason": info.reason, "host": self.name, "caught_up": True})
            for sid in self.sessions.keys() - sessions.keys():
                self.publish("session.archived", routing.join(self.name, sid), {"host": self.name, "caught_up": True})
        self.sessions = sessions
        self._changes += 1
        self.dirty = False

    def _status(self, status: Any) -> None:
        if isinstance(status, dict):
            self.version = str(status.get("version") or "")
            load = status.get("load_1m")
            self.load_1m = float(load) if isinstance(load, int | float) else None

    # -- requests ---------------------------------------------------------------------------------

    async def call(self, method: str, params: dict[str, Any] | None, timeout: float | None = CALL_TIMEOUT) -> Any:
        """One request to the host's aod; its error as this aod's (`host NAME: …`), or
        `unavailable` while the link is down (nothing is queued here to be sent later)."""
        if not self.connected:
            raise RpcFailure(ErrorCode.UNAVAILABLE, self.unreachable_reason() + f"; {method} was not sent", {"host": self.name})
        try:
            return await self._request(method, params, timeout)
        except LinkDown as exc:
            raise RpcFailure(
                ErrorCode.UNAVAILABLE,
                f"host {self.name}: {exc} while waiting for {method}'s answer; it may have been done there: "
                "`aoctl status` shows the host's sessions once the link is back",
                {"host": self.name},
            ) from None
        except trio.TooSlowError:
            raise RpcFailure(ErrorCode.UNAVAILABLE, f"host {self.name} did not answer {method} within {timeout:g}s", {"host": self.name}) from None

    async def _request(self, method: str, params: Any, timeout: float | None, force: bool = False) -> Any:
        process = self._process
        if process is None or process.stdin is None or (not force and not self.connected):
            raise LinkDown("the link is down")
        request_id = next(self._ids)
        done, box = trio.Event(), []
        self._pending[request_id] = (done, box)
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            body["params"] = params
        try:
            with trio.fail_after(timeout if timeout is not None else math.inf):
                async with self._send_lock:
                    try:
                        await process.stdin.send_all(_encoder.encode(body) + b"\n")
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        raise LinkDown("the link dropped") from None
                self.requests += 1
                await done.wait()
        finally:
            self._pending.pop(request_id, None)
        reply = box[0]
        if reply is None:
            raise LinkDown("the link dropped")
        error = reply.get("error")
        if isinstance(error, dict):
            raise RpcFailure(int(error.get("code", ErrorCode.INTERNAL_ERROR)), f"host {self.name}: {error.get('message', '')}", error.get("data"))
        return reply.get("result")

    def _fail_pending(self, why: str) -> None:
        for done, box in self._pending.values():
            box.append(None)
            done.set()
        self._pending.clear()

    async def tick(self) -> None:
        """This tick's one request: the listing when events came since the last one (or none was
        made yet), else `daemon.status` (the load, and proof the link is alive). A link that does
        not answer within HEARTBEAT_TIMEOUT is ended, so its ssh is started again."""
        if not self.connected or self._busy:
            return
        self._busy = True
        try:
            if self.dirty:
                self._replace(await self._request("session.list", {"orchestrators": True}, HEARTBEAT_TIMEOUT), announce=False)
            else:
                self._status(await self._request("daemon.status", None, HEARTBEAT_TIMEOUT))
        except trio.TooSlowError:
            self._down(f"no answer within {HEARTBEAT_TIMEOUT:g}s (the network or the host is down)")
            self._kill()
        except (LinkDown, RpcFailure) as exc:
            log.debug("host tick failed", host=self.name, error=str(exc))
        finally:
            self._busy = False

    def remember(self, info: SessionInfo) -> None:
        """A session the host just answered with (spawn, restore, kill…): into the cache now."""
        self.sessions[info.id] = info
        self._changes += 1


def _applied(info: SessionInfo, kind: str, data: dict[str, Any]) -> SessionInfo:
    """What an event says of a cached session, applied now (the next listing has the rest)."""
    changes: dict[str, Any] = {}
    if kind == "session.updated":
        changes = {k: data[k] for k in ("state", "reason") if isinstance(data.get(k), str)}
    elif kind == "session.state" and isinstance(data.get("to"), str):
        changes = {"state": data["to"], **({"reason": data["reason"]} if isinstance(data.get("reason"), str) else {})}
    elif kind == "session.activity" and isinstance(data.get("activity"), str):
        changes = {"activity": data["activity"]}
    elif kind == "session.killed":
        changes = {"state": "killed"}
    if "state" in changes:
        from aod import board

        changes["lane"] = board.lane(changes["state"])
    return msgspec.structs.replace(info, **changes) if changes else info


def _describe(exc: BaseException, stderr: deque[str]) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:  # the nursery's: the first cause
        exc = exc.exceptions[0]
    said = " ".join(line for line in stderr if line.strip())[-400:]
    if isinstance(exc, FileNotFoundError):
        return f"cannot run {exc.filename or 'the link command'}: not found (install openssh-client, or fix hosts.NAME.command)"
    if isinstance(exc, trio.TooSlowError):
        return f"the host's aod did not answer within {CONNECT_TIMEOUT:g}s{': ' + said if said else ''}"
    if isinstance(exc, RpcFailure):
        return f"{exc.message}{': ' + said if said else ''}"
    return f"{exc}{': ' + said if said else ''}" if str(exc) else (said or type(exc).__name__)
