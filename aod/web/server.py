"""The dashboard's listener, a task in aod's nursery.

Why hypercorn (its trio worker's parts, aod/web/connections.py): HTTP/1.1 with keep-alive and
WebSockets in one server, its limits (header size, WebSocket message size, idle keep-alive
connections closed) already written, the sans-IO h11 / wsproto underneath, and it runs as tasks
of aod's own trio nursery (no thread, no second event loop). Our ASGI application
(aod/web/app.py) is small enough to need no framework.

What this module adds around it:
- aod binds the socket itself (`web.listen`; port 0 picks a free one, whose number
  `daemon.status` reports), so a port already taken is an error aod reports — in its log and in
  `daemon.status` — and then runs on without the web;
- a supervisor loop: a reload that changed `web` closes the listener and opens the new one;
- an orderly stop: WebSockets stop reading, requests already read finish (up to
  `api.shutdown_grace`), keep-alive connections close;
- the token, cached here (the store has it on disk), and the URL `aoctl dashboard` prints.

May import: aod.web (app, auth, connections: lazily, so an aod with the web disabled never loads
hypercorn), config, dispatch, lanes, protocol, trio, structlog.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
import trio

from aod.config import is_loopback, parse_listen
from aod.dispatch import Dispatcher
from aod.lanes import in_request_lane
from aod.protocol import WebStatus
from aod.web import auth
from aod.web.app import WebApp, WebContext

log = structlog.get_logger()


@dataclass(frozen=True)
class WebSettings:
    enabled: bool
    listen: str
    max_connections: int


def bind_tcp(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket, close-on-exec so no agent inherits it. `localhost`
    is bound as 127.0.0.1, never resolved."""
    if host == "localhost":
        host = "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.set_inheritable(False)
        # A restarted aod must get its port back while the old connections sit in TIME_WAIT;
        # on Linux this never lets two listeners share a port.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_problem(listen: str, exc: OSError, port: int) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {listen}: port {port} is taken (another program, or another aod); "
            "set web.listen to a free port (127.0.0.1:0 picks one) and run `aoctl daemon reload`"
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot listen on {listen}: no interface of this machine has that address; fix web.listen and reload"
    if exc.errno == errno.EACCES:
        return f"cannot listen on {listen}: ports below 1024 need privileges; pick a higher one in web.listen"
    return f"cannot listen on {listen}: {exc.strerror or exc}"


class WebServer:
    """The listener's lifetime. `run` is started once in aod's nursery and ends after `stop`."""

    def __init__(
        self,
        app: Any,
        dispatcher: Dispatcher,
        make_call: Callable[[Any], Any],
        *,
        listen_override: str | None = None,
    ) -> None:
        self.app = app
        self.dispatcher = dispatcher
        self.make_call = make_call
        self.listen_override = listen_override
        self.web_app: WebApp | None = None
        self._audience: auth.Audience | None = None
        self._token: str | None = None
        self._stopping = False
        self._wake = trio.Event()
        self._finished = trio.Event()
        settings = self.settings()
        self._status = WebStatus(enabled=settings.enabled, listen=settings.listen, state="starting")

    # -- what others ask ----------------------------------------------------------------------

    def settings(self) -> WebSettings:
        web = self.app.config.web
        return WebSettings(enabled=web.enabled, listen=self.listen_override or web.listen, max_connections=web.max_connections)

    def status(self) -> WebStatus:
        connections = self.web_app.connections if self.web_app is not None and self._status.state == "listening" else 0
        return msgspec.structs.replace(self._status, connections=connections)

    def url(self, token: str | None = None) -> str | None:
        """The dashboard's address (with `#token=` when given), or None while not listening."""
        status = self._status
        if status.state != "listening" or self._audience is None:
            return None
        base = f"http://{self._audience.url_host}:{status.port}/"
        return f"{base}#token={token}" if token else base

    async def token(self) -> str | None:
        """The current token; None until `web.token` first mints one (nobody can sign in)."""
        if self._token is None:
            with in_request_lane():
                record = await self.app.store.get_web_token()
            if record is not None:
                self._token = record.token
        return self._token

    def token_changed(self, token: str, *, rotated: bool) -> None:
        """`web.token` minted or rotated it: use it from now on; a rotation signs everyone out."""
        self._token = token
        if rotated and self.web_app is not None:
            self.web_app.sign_out_everyone()

    # -- lifetime -----------------------------------------------------------------------------

    def reconfigure(self) -> None:
        """A reload: listen again as the config now says if `web` changed it (or if listening
        had failed), soon — in this server's own task, so that a reload asked over the
        dashboard itself gets its answer."""
        self._wake.set()

    async def stop(self) -> None:
        """Close the listener in order and wait until it is closed."""
        self._stopping = True
        self._wake.set()
        await self._finished.wait()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen as configured; again after each `reconfigure()`; until `stop()`. Reports
        started once the first attempt to listen has succeeded or failed."""
        started = False
        try:
            async with trio.open_nursery() as nursery:
                while True:
                    self._wake = trio.Event()
                    listening_as = self._listener_key()
                    served = await self._listen(nursery)
                    if not started:
                        task_status.started()
                        started = True
                    await self._wake.wait()
                    while not self._stopping and served is not None and self._listener_key() == listening_as:
                        # Only web.max_connections changed (read on every request): keep listening.
                        # (Not listening, any wake tries again: the port may be free by now.)
                        self._wake = trio.Event()
                        await self._wake.wait()
                    if served is not None:
                        await self._close(*served)
                    if self._stopping:
                        self._status = msgspec.structs.replace(self._status, state="stopped", reason="aod is stopping")
                        return
                    log.info("the web config changed: listening again", listen=self.settings().listen)
        finally:
            if not started:
                task_status.started()
            self._finished.set()

    def _listener_key(self) -> tuple[bool, str]:
        settings = self.settings()
        return settings.enabled, settings.listen

    async def _listen(self, nursery: trio.Nursery) -> tuple[WebApp, trio.Event, trio.Event] | None:
        settings = self.settings()
        self.web_app, self._audience = None, None
        if not settings.enabled:
            self._status = WebStatus(
                enabled=False, listen=settings.listen, state="disabled",
                reason="web.enabled is false: set `web: {enabled: true}` in config.yaml and run `aoctl daemon reload`",
            )
            log.info("the dashboard is disabled (web.enabled: false)")
            return None
        host, port = parse_listen(settings.listen)
        try:
            sock = bind_tcp(host, port)
        except OSError as exc:
            return self._failed(settings, _bind_problem(settings.listen, exc, port))
        bound_host, bound_port = sock.getsockname()[:2]
        address = f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}"
        audience = auth.audience(host if host != "localhost" else "127.0.0.1", bound_port)
        web_app = WebApp(WebContext(
            app=self.app,
            dispatcher=self.dispatcher,
            make_call=self.make_call,
            audience=audience,
            token=self.token,
            max_connections=lambda: self.settings().max_connections,
            limits=self.app.server_limits,
        ))
        shutdown, done = trio.Event(), trio.Event()
        try:
            await nursery.start(self._serve, sock, web_app, shutdown, done)
        except Exception as exc:  # noqa: BLE001 - the web must never take aod down
            sock.close()
            log.exception("the dashboard's server did not start")
            return self._failed(settings, f"the web server did not start: {exc}")
        self.web_app, self._audience = web_app, audience
        self._status = WebStatus(
            enabled=True, listen=settings.listen, state="listening", address=address, port=bound_port,
            url=f"http://{audience.url_host}:{bound_port}/",
        )
        if is_loopback(host):
            log.info("dashboard listening", address=address, hint="`aoctl dashboard` prints the address to open")
        else:
            log.warning(
                "THE DASHBOARD LISTENS BEYOND THIS MACHINE",
                address=address,
                detail=f"web.listen is {settings.listen}: anyone who can reach it gets the sign-in page (the "
                "token is still required, and travels unencrypted over plain HTTP); set web.listen to "
                "127.0.0.1:7433 to keep it on this machine",
            )
        return web_app, shutdown, done

    def _failed(self, settings: WebSettings, reason: str) -> None:
        log.error("the dashboard is not available; aod runs on without it", reason=reason)
        self._status = WebStatus(enabled=True, listen=settings.listen, state="failed", reason=reason)
        return None

    async def _serve(
        self, sock: socket.socket, web_app: WebApp, shutdown: trio.Event, done: trio.Event, *, task_status: trio.TaskStatus[None]
    ) -> None:
        from aod.web.connections import serve_connections

        api = self.app.config.api
        try:
            await serve_connections(
                sock, web_app, max_message_bytes=api.max_message_bytes, write_timeout=api.write_timeout,
                grace=api.shutdown_grace, shutdown=shutdown, task_status=task_status,
            )
        except Exception:  # noqa: BLE001 - after it started: logged, and aod runs on
            log.exception("the dashboard's server failed")
            self._status = msgspec.structs.replace(self._status, state="failed", reason="the web server failed; aod's log has the details")
        finally:
            sock.close()
            done.set()

    async def _close(self, web_app: WebApp, shutdown: trio.Event, done: trio.Event) -> None:
        web_app.stop()
        shutdown.set()
        await done.wait()
