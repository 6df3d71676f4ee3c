"""The dashboard: aod's own HTTP and WebSocket listener on loopback (docs/dashboard.md).

No second API: the page speaks the socket's JSON-RPC through the daemon's one Dispatcher.

- `server`         the listener in aod's nursery: bind (its failure leaves aod running), restart
                   on a changed `web` config, drain on stop
- `connections`    the accept loop; hypercorn's protocol code on each connection, every write
                   with a deadline (the only module that imports hypercorn)
- `app`            the ASGI application: routes, and the Host / Origin / token checks first
- `auth`           PURE: the token's cookie, the Host and Origin allow-lists, security headers
- `asgi`           the few ASGI pieces the app needs (responses, bounded bodies, WebSockets)
- `rpc_transport`  `POST /rpc` and the WebSocket `/rpc` into the Dispatcher, events included
- `terminal`       a session's terminal over a WebSocket (`serve_terminal`), imported lazily
- `pty`            a program in a PTY of its own, read and written from trio (the terminal's)
- `static/`        the page's own files; `assets/` npm's packages (xterm.js), never copied here

Nothing else of aod imports this package but aod/daemon.py (the listener), aod/app.py (types
only) and aod/handlers/web.py. It reaches the state dir only through `aod.store`.
"""
