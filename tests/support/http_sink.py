"""A loopback HTTP server that records what it is sent and answers as a test scripts it.

It stands in for Slack, Discord, ntfy or anyone's webhook receiver: the notifiers run
unmodified with their URL pointed at it. Each request is recorded on arrival, before it is
answered, so once a client has its answer the request is already in `requests()`.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False
    """Hold the request unanswered until the sink is closed (or `release()`d)."""


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: Message
    """Case-insensitive: `headers["x-ao-delivery"]`; `headers.get_all(name)` for repeats."""
    body: bytes
    at: float
    """time.monotonic() on arrival."""


class HttpSink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._scripts: dict[str, deque[Reply]] = defaultdict(deque)
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # A client that gave up on a held request has closed its socket; answering it then fails,
        # which is expected and not worth a traceback on stderr.
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="http-sink", daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply | int) -> None:
        """Answer the next requests to `path` with `replies`, in order; then 200 "ok"."""
        with self._lock:
            self._scripts[path].extend(r if isinstance(r, Reply) else Reply(status=r) for r in replies)

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # Called on the server's threads.
    def _record(self, request: Received) -> Reply:
        with self._lock:
            self._received.append(request)
            script = self._scripts[request.path]
            return script.popleft() if script else Reply()


def _handler_for(sink: HttpSink) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real services speak

        def do_GET(self) -> None:
            self.do_POST(method="GET")

        def do_POST(self, method: str = "POST") -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            reply = sink._record(Received(method, self.path, self.headers, body, time.monotonic()))
            if reply.hang:
                sink._released.wait(timeout=30)
                self.close_connection = True
                return
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            pass

    return Handler
