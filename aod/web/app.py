"""The dashboard's ASGI application: routes, and the checks every request passes first.

    GET  /                 the page (aod/web/static/index.html)        no token: the static shell
    GET  /static/<name>    a file under aod/web/static/                  no token
    GET  /vendor/<name>    xterm.js and its CSS, from npm's node_modules  no token
    POST /auth             {"token": ...} -> 204 + the session cookie
    POST /rpc              JSON-RPC 2.0 through the daemon's Dispatcher
    WS   /rpc              JSON-RPC 2.0, one message per text frame, with pushed events
    WS   /term/<session>   the session's terminal (aod/web/terminal.py)

In order, on every request: the `Host` allow-list (421), the connection limit (503), the route
(404/405), then for a POST or an upgrade the `Origin` (403) and for all but the static shell the
token (401). Every answer carries the security headers of aod/web/auth.py; API answers are
`Cache-Control: no-store`. See docs/dashboard.md.

May import: aod.web (auth, asgi, rpc_transport, terminal lazily), dispatch, handlers (Call),
protocol, model, trio, structlog.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs

import structlog
import trio

from aod.dispatch import Dispatcher
from aod.lanes import in_request_lane, thread_limiter
from aod.model import SESSION_ID_PATTERN
from aod.web import auth
from aod.web.asgi import (
    BodyTooLarge,
    ClientGone,
    Headers,
    Receive,
    Scope,
    Send,
    WebSocket,
    read_body,
    refuse_websocket,
    respond,
    text,
)
from aod.web.rpc_transport import answer_post, serve_rpc_socket

log = structlog.get_logger()

Refuse = Callable[..., Awaitable[None]]
STATIC_DIR: Final = Path(__file__).parent / "static"
NODE_MODULES: Final = Path(__file__).parent / "assets" / "node_modules"
VENDOR: Final = {
    "xterm.js": NODE_MODULES / "@xterm" / "xterm" / "lib" / "xterm.js",
    "xterm.css": NODE_MODULES / "@xterm" / "xterm" / "css" / "xterm.css",
    "addon-fit.js": NODE_MODULES / "@xterm" / "addon-fit" / "lib" / "addon-fit.js",
}
CONTENT_TYPES: Final = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".json": "application/json", ".map": "application/json", ".svg": "image/svg+xml",
    ".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2", ".txt": "text/plain; charset=utf-8",
}
_STATIC_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*(?:/[A-Za-z0-9_][A-Za-z0-9._-]*)*")
AUTH_BODY_LIMIT: Final = 4096
NO_STORE: Final = [(b"cache-control", b"no-store")]
REVALIDATE: Final = [(b"cache-control", b"no-cache")]
CLOSE_GOING_AWAY: Final = 1001
CLOSE_SIGNED_OUT: Final = 4401
"""A WebSocket closed because the token it was opened with was rotated."""


@dataclass
class WebContext:
    """What the application needs of the daemon, handed in by aod/web/server.py."""

    app: Any
    """aod.app.App (for terminal sessions and the API limits)."""
    dispatcher: Dispatcher
    make_call: Callable[[Any], Any]
    """peer -> the `Call` handlers get (aod.handlers.Call)."""
    audience: auth.Audience
    token: Callable[[], Awaitable[str | None]]
    """The current token (None: never minted)."""
    max_connections: Callable[[], int]
    limits: Callable[[], Any]
    """aod.server.ServerLimits, as the running config has them."""


@dataclass(eq=False)
class _OpenSocket:
    ws: WebSocket
    signed_out: bool = False


@dataclass(eq=False)
class WebApp:
    context: WebContext
    connections: int = 0
    sockets: set[_OpenSocket] = field(default_factory=set)
    stopping: bool = False
    security: list[tuple[bytes, bytes]] = field(init=False)
    """The headers every answer carries (aod/web/auth.py), made once per listener."""

    def __post_init__(self) -> None:
        self.security = auth.security_headers(self.context.audience)

    # -- lifetime ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """aod is stopping: WebSockets stop reading, finish what they had read, and close."""
        self.stopping = True
        for sock in list(self.sockets):
            sock.ws.end_reading()

    def sign_out_everyone(self) -> None:
        """The token was rotated: WebSockets opened with the old one end (new requests with the
        old cookie get 401 by themselves: the cookie no longer matches)."""
        for sock in list(self.sockets):
            sock.signed_out = True
            sock.ws.end_reading()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return  # no lifespan events: aod/web/connections.py sends none
        headers = Headers(scope.get("headers", []))
        security = self.security
        websocket = kind == "websocket"
        refuse = _refuser(send, security, websocket)
        # The Host allow-list before anything else, on every route (DNS rebinding).
        if headers.count("host") != 1 or not self.context.audience.host_allowed(headers.get("host")):
            await refuse(421, "this is aod's dashboard; open it with the address `aoctl dashboard` prints")
            return
        if self.connections >= self.context.max_connections():
            await refuse(503, f"too many requests at once ({self.context.max_connections()}, web.max_connections); try again")
            return
        self.connections += 1
        try:
            with in_request_lane():  # file work takes the requests' threads, never the tick's
                if websocket:
                    await self._websocket(scope, headers, receive, send, security, refuse)
                else:
                    await self._http(scope, headers, receive, send, security, refuse)
        except ClientGone:
            pass
        finally:
            self.connections -= 1

    # -- HTTP -------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, headers: Headers, receive: Receive, send: Send,
                    security: list[tuple[bytes, bytes]], refuse: Refuse) -> None:
        method, path = scope["method"], scope["path"]
        if path in ("/auth", "/rpc"):
            if path == "/rpc" and method == "GET":
                await refuse(400, "GET /rpc is the WebSocket: send `Upgrade: websocket`, or POST JSON-RPC here")
                return
            if method != "POST":
                await refuse(405, f"{path} takes POST", [(b"allow", b"POST")])
                return
            await self._post(path, headers, receive, send, security, refuse)
            return
        if method not in ("GET", "HEAD"):
            await refuse(405, f"{path} takes GET", [(b"allow", b"GET, HEAD")])
            return
        head = method == "HEAD"
        known = headers.get("if-none-match")
        if path == "/":
            await self._file(send, STATIC_DIR / "index.html", security, head, known)
        elif path.startswith("/static/") and _STATIC_NAME.fullmatch(path[len("/static/"):]):
            await self._file(send, STATIC_DIR / path[len("/static/"):], security, head, known)
        elif path.startswith("/vendor/") and path[len("/vendor/"):] in VENDOR:
            found = await self._file(send, VENDOR[path[len("/vendor/"):]], security, head, known, missing_ok=True)
            if not found:
                await refuse(404, f"{path} comes from npm and is not installed: run `npm ci --prefix aod/web/assets`")
        else:
            await refuse(404, f"no such page: {path}")

    async def _file(self, send: Send, path: Path, security: list[tuple[bytes, bytes]], head: bool,
                    if_none_match: str | None = None, missing_ok: bool = False) -> bool:
        """Serve one file of the shell; the name was checked against _STATIC_NAME (no `..`, no
        hidden files), and the resolved path must still be inside its folder (no link out).

        Each answer carries an ETag (a hash of the content): a browser revalidating a file it
        has (`Cache-Control: no-cache`) gets `304` and no body, so a reload fetches nothing
        that did not change, and an upgraded aod's new files are never missed."""
        root = STATIC_DIR if path.is_relative_to(STATIC_DIR) else NODE_MODULES
        try:
            data = await trio.to_thread.run_sync(_read_inside, root, path, limiter=thread_limiter())
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            if missing_ok:
                return False
            await respond(send, 404, text("no such file"), headers=[*security, *NO_STORE])
            return True
        content_type = CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        etag = f'"{hashlib.blake2b(data, digest_size=16).hexdigest()}"'
        cache = [*security, *REVALIDATE, (b"etag", etag.encode())]
        if if_none_match is not None and etag in (tag.strip().removeprefix("W/") for tag in if_none_match.split(",")):
            await respond(send, 304, headers=cache, content_type=content_type, head_only=True)
            return True
        await respond(send, 200, data, content_type=content_type, headers=cache, head_only=head)
        return True

    async def _post(self, path: str, headers: Headers, receive: Receive, send: Send,
                    security: list[tuple[bytes, bytes]], refuse: Refuse) -> None:
        origin = headers.get("origin")
        token = await self.context.token()
        credential = auth.credential(token, cookie_headers=headers.all("cookie"), authorization=headers.get("authorization"))
        # A browser sends Origin with every POST; only a script holding the token itself may omit it.
        if not self.context.audience.origin_allowed(origin) and not (origin is None and credential == "bearer"):
            await refuse(403, f"refused: requests from {origin or 'a page that sends no Origin'} are not allowed (no cross-site use)")
            return
        limits = self.context.limits()
        limit = AUTH_BODY_LIMIT if path == "/auth" else limits.max_message_bytes
        declared = headers.get("content-length")
        if declared is not None and declared.isdecimal() and int(declared) > limit:
            await refuse(413, f"the body is larger than {limit} bytes (api.max_message_bytes)")
            return
        if path == "/rpc" and credential is None:
            await refuse(401, _SIGN_IN)
            return
        body = b""
        with trio.move_on_after(limits.first_frame_timeout) as reading:  # the body, not the call
            try:
                body = await read_body(receive, limit)
            except BodyTooLarge:
                await refuse(413, f"the body is larger than {limit} bytes (api.max_message_bytes)")
                return
        if reading.cancelled_caught:
            await refuse(408, f"the body did not arrive within {limits.first_frame_timeout:g}s (api.first_frame_timeout)")
            return
        if path == "/auth":
            await self._auth(body, token, send, security, refuse)
            return
        reply = await answer_post(self.context.dispatcher, self.context.make_call, limits, body)
        if reply is None:
            await respond(send, 204, headers=[*security, *NO_STORE])
        else:
            await respond(send, 200, reply, content_type="application/json", headers=[*security, *NO_STORE])

    async def _auth(self, body: bytes, token: str | None, send: Send, security: list[tuple[bytes, bytes]], refuse: Refuse) -> None:
        try:
            given = json.loads(body).get("token")
        except (ValueError, AttributeError):
            await refuse(400, 'POST /auth takes JSON: {"token": "<the token from `aoctl dashboard`>"}')
            return
        if token is None or not auth.token_matches(given, token):
            log.info("dashboard sign-in refused: wrong or old token")
            await refuse(401, "wrong or old token: open the address `aoctl dashboard` prints (after --rotate, the new one)")
            return
        cookie = (b"set-cookie", auth.set_cookie_header(token).encode("ascii"))
        await respond(send, 204, headers=[*security, *NO_STORE, cookie])

    # -- WebSockets -------------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, headers: Headers, receive: Receive, send: Send,
                         security: list[tuple[bytes, bytes]], refuse: Refuse) -> None:
        path = scope["path"]
        session_id = path[len("/term/"):] if path.startswith("/term/") else None
        if path != "/rpc" and (session_id is None or not SESSION_ID_PATTERN.fullmatch(session_id)):
            await refuse(404, f"no such WebSocket: {path}")
            return
        origin = headers.get("origin")
        token = await self.context.token()
        credential = auth.credential(token, cookie_headers=headers.all("cookie"), authorization=headers.get("authorization"))
        # Cross-site WebSocket hijacking: a browser always sends Origin on an upgrade.
        if not self.context.audience.origin_allowed(origin) and not (origin is None and credential == "bearer"):
            await refuse(403, f"refused: WebSockets from {origin or 'a page that sends no Origin'} are not allowed")
            return
        if credential is None:
            await refuse(401, _SIGN_IN)
            return
        if self.stopping:
            await refuse(503, "aod is stopping")
            return
        ws = WebSocket(receive, send)
        await ws.accept(security)
        opened = _OpenSocket(ws)
        self.sockets.add(opened)
        try:
            if session_id is None:
                limits = self.context.limits()
                app = self.context.app
                await serve_rpc_socket(ws, self.context.dispatcher, self.context.make_call, app.bus, limits)
            else:
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                control = query.get("control", [""])[0].lower() in ("1", "true", "on")
                await self._terminal(ws, session_id, control)
        except Exception:  # noqa: BLE001 - one page's failure must not reach the others
            log.exception("dashboard WebSocket failed", path=path)
        finally:
            self.sockets.discard(opened)
            with trio.CancelScope(shield=True):
                code = CLOSE_SIGNED_OUT if opened.signed_out else CLOSE_GOING_AWAY if self.stopping else 1000
                await ws.close(code, "the token was rotated; sign in again" if opened.signed_out else "")

    async def _terminal(self, ws: WebSocket, session_id: str, control: bool) -> None:
        # Imported here: the terminal bridge is its own module, and without it the rest of the
        # dashboard still works (the page is told why its terminal is missing).
        try:
            from aod.web.terminal import serve_terminal
        except ImportError as exc:
            log.warning("the dashboard's terminal is not available", error=str(exc))
            await ws.send_text(json.dumps({"type": "error", "message": f"this aod has no terminal bridge ({exc})"}))
            return
        await serve_terminal(self.context.app, session_id, ws, control=control)


def _refuser(send: Send, security: list[tuple[bytes, bytes]], websocket: bool) -> Refuse:
    """`await refuse(status, message, extra_headers=())`: a plain-text refusal, with the security
    headers, as an HTTP answer or as the answer to a WebSocket upgrade."""

    async def refuse(status: int, message: str, extra: Any = ()) -> None:
        if websocket:
            await refuse_websocket(send, status, text(message), [*security, *NO_STORE, *extra])
        else:
            # A refusal may leave the request's body unread: the connection is not used again.
            await respond(send, status, text(message), headers=[*security, *NO_STORE, (b"connection", b"close"), *extra])

    return refuse


_SIGN_IN = "sign in first: open the address `aoctl dashboard` prints (its #token is exchanged for a cookie)"


def _read_inside(root: Path, path: Path) -> bytes:
    resolved = path.resolve(strict=True)
    if not resolved.is_relative_to(root.resolve()):
        raise PermissionError(f"{path} leads outside {root}")
    return resolved.read_bytes()
