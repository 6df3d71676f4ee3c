"""A command in a pod through the API's `exec` subresource: a WebSocket upgrade of
`GET /api/v1/namespaces/NS/pods/POD/exec?command=...&container=...&stdout=1&stderr=1[&stdin=1]`
with the subprotocol `v5.channel.k8s.io` (else `v4.channel.k8s.io`), the protocol kubectl speaks.

Every binary message starts with its channel: 0 stdin (to the pod), 1 stdout, 2 stderr, 3 the
error channel (one `Status` object when the command ended: `Success`, or `Failure` with reason
`NonZeroExitCode` and the code in `details.causes[reason=ExitCode]`, or another failure such as
a missing container). v5 adds channel 255, "close": `[255, 0]` ends the command's stdin, which is
how a program reading stdin to its end (`tmux load-buffer -`) finishes; v4 has no way to do so.

wsproto (sans-IO; hypercorn stands on it) over a trio TCP stream, TLS with the cluster's CA. The
command is argv only: each argument one `command=` parameter, run by the container runtime
without a shell.

May import: plugins/runtime/kube_api.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Message, Ping, RejectConnection, RejectData, Request

from aod.plugins.runtime.kube_api import KubeApi, KubeError, KubeUnavailable, error_from

PROTOCOLS: Final = ["v5.channel.k8s.io", "v4.channel.k8s.io"]
STDIN, STDOUT, STDERR, ERROR, CLOSE = 0, 1, 2, 3, 255
OUTPUT_LIMIT: Final = 8 * 1024 * 1024


class StdinNeedsV5(KubeError):
    """The server speaks only v4.channel.k8s.io, which cannot end a command's stdin."""


@dataclass(frozen=True)
class ExecResult:
    stdout: bytes
    stderr: bytes
    exit_code: int
    protocol: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace").strip()


async def pod_exec(
    api: KubeApi, namespace: str, pod: str, container: str, argv: list[str], *, stdin: bytes | None = None
) -> ExecResult:
    """Run `argv` in the pod's container; its output and exit code. Raises KubeUnavailable (no
    connection, no answer in time), KubeError (the API refused: no such pod, not running,
    forbidden), StdinNeedsV5 (stdin given to a v4-only server: nothing was written)."""
    base = urlsplit(api.base_url())
    host = base.hostname or "127.0.0.1"
    port = base.port or (443 if base.scheme == "https" else 80)
    target = api.exec_target(namespace, pod, container, argv, stdin=stdin is not None)
    token = api.token()
    api.exec_calls += 1
    timeout = api.config.timeout
    try:
        with trio.fail_after(timeout):
            stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
            try:
                if base.scheme == "https":
                    stream = trio.SSLStream(stream, api.ssl_context(), server_hostname=host)
                    await stream.do_handshake()
                return await _session(stream, base.netloc, target, token, stdin)
            finally:
                with trio.move_on_after(1):
                    await stream.aclose()
    except trio.TooSlowError:
        raise KubeUnavailable(f"exec in pod {pod}: no answer within {timeout:g}s") from None
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise KubeUnavailable(f"exec in pod {pod}: cannot reach {base.scheme}://{base.netloc}: {exc}") from None


async def _session(stream: trio.abc.Stream, netloc: str, target: str, token: str, stdin: bytes | None) -> ExecResult:
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(
        ws.send(Request(host=netloc, target=target, subprotocols=PROTOCOLS, extra_headers=[("Authorization", f"Bearer {token}")]))
    )
    channels: dict[int, bytearray] = {STDOUT: bytearray(), STDERR: bytearray(), ERROR: bytearray()}
    partial = bytearray()
    protocol = ""
    reject_status: int | None = None
    reject_body = bytearray()
    done = False
    while not done:
        data = await stream.receive_some(65536)
        ws.receive_data(data or None)
        for event in ws.events():
            if isinstance(event, AcceptConnection):
                protocol = event.subprotocol or ""
                if stdin is not None:
                    if protocol != PROTOCOLS[0]:
                        await _close(stream, ws)
                        raise StdinNeedsV5(
                            f"the API server speaks {protocol or 'no channel protocol'}, not {PROTOCOLS[0]}: "
                            "it cannot end a command's input (Kubernetes 1.30 or later has v5)"
                        )
                    if stdin:
                        await stream.send_all(ws.send(Message(data=bytes([STDIN]) + stdin)))
                    await stream.send_all(ws.send(Message(data=bytes([CLOSE, STDIN]))))
            elif isinstance(event, RejectConnection):
                reject_status = event.status_code
                if not event.has_body:
                    done = True
            elif isinstance(event, RejectData):
                reject_body += event.data
                if event.body_finished:
                    done = True
            elif isinstance(event, BytesMessage):
                partial += event.data
                if event.message_finished:
                    if partial:
                        channel = partial[0]
                        if channel in channels and len(channels[channel]) < OUTPUT_LIMIT:
                            channels[channel] += partial[1:]
                    partial = bytearray()
            elif isinstance(event, Ping):
                await stream.send_all(ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                try:
                    await stream.send_all(ws.send(event.response()))
                except Exception:  # noqa: BLE001 - the peer may be gone already
                    pass
                done = True
        if not data:
            done = True
    if reject_status is not None:
        try:
            body: Any = json.loads(bytes(reject_body))
        except ValueError:
            body = {"message": bytes(reject_body).decode("utf-8", "replace")[:300]}
        raise error_from(reject_status, body, "exec")
    if not protocol:
        raise KubeUnavailable("exec: the connection closed before the API server answered")
    return ExecResult(bytes(channels[STDOUT]), bytes(channels[STDERR]), _exit_code(bytes(channels[ERROR])), protocol)


async def _close(stream: trio.abc.Stream, ws: WSConnection) -> None:
    try:
        await stream.send_all(ws.send(CloseConnection(code=1000)))
    except Exception:  # noqa: BLE001 - closing anyway
        pass


def _exit_code(raw: bytes) -> int:
    """The command's exit code from the error channel's Status (nothing on it: success, as
    with a v4 server that ends without one)."""
    if not raw.strip():
        return 0
    try:
        status = json.loads(raw)
    except ValueError:
        raise KubeError(f"exec: unreadable status {raw[:200]!r}") from None
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message"))
                except (TypeError, ValueError):
                    break
        return 1
    raise KubeError(f"exec: {status.get('message') or 'failed'} ({status.get('reason') or 'Failure'})")
