"""The HTTP side the loopback emulators share (GitLab, Linear, Jira): a threaded server on
127.0.0.1 (port 0) that hands each request to the emulator's `handle` and answers with what it
returns, stamping `Date` with the emulator's own clock, so that a test can let an hour pass in
an instant and the plugin reads reset times against it."""

from __future__ import annotations

import email.utils
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol


class Emulated(Protocol):
    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        """(status, body, extra headers) for one request; `headers` lower-cased."""
        ...

    def now(self) -> float:
        """The emulator's time (epoch seconds)."""
        ...


def serve(emulator: Emulated, name: str) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start answering for `emulator`; `server.shutdown()` and `server_close()` stop it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(emulator))
    server.daemon_threads = True
    # A client that gave up on a slow answer has closed its socket: not worth a traceback.
    server.handle_error = lambda request, address: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True, name=name)
    thread.start()
    return server, thread


def _handler_for(emulator: Emulated) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the real services speak
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, data, extra = emulator.handle(self.command, self.path, headers, raw)
            self.send_response(status)
            for header, value in extra.items():
                self.send_header(header, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data:
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def date_time_string(self, timestamp: float | None = None) -> str:
            return email.utils.formatdate(emulator.now() if timestamp is None else timestamp, usegmt=True)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            pass

    return Handler
