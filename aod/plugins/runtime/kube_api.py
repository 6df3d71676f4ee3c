"""The Kubernetes API as the kubernetes runtime uses it: REST calls (pods, PVCs, the `Sandbox`
resource, discovery) over the shared retrying HTTP client, and the pods' `exec` subresource over
a WebSocket (aod/plugins/runtime/kube_exec.py).

Where the server and the credentials come from, in this order:
- server: `runtime.kubernetes.api_url`; else in-cluster (`KUBERNETES_SERVICE_HOST` and
  `KUBERNETES_SERVICE_PORT`); else an error saying to set `api_url`.
- token: `runtime.kubernetes.token`; else the service account's token file
  (/var/run/secrets/kubernetes.io/serviceaccount/token, read again each minute: kubelet rotates
  bound tokens); else `KUBERNETES_TOKEN`; else an error naming the three.
- CA: `runtime.kubernetes.ca_file`; else the service account's `ca.crt` when in-cluster; else the
  system's CAs.

Answers: a 5xx, a 429, a timeout or a refused connection is `KubeUnavailable` (nothing is known;
callers read it as "unknown", never as "gone"); any other error answer is `KubeError` with the
API's own `Status` message (`reason`, `code`) and what to do about it.

May import: plugins/service_http, plugins/runtime (errors), config (types).
"""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlsplit

import httpx

from aod import __version__
from aod.plugins.forge import ForgeUnavailable
from aod.plugins.runtime import RuntimeError_
from aod.plugins.service_http import ServiceHttp

if TYPE_CHECKING:
    from aod.config.scale_out import KubernetesConfig

SERVICE_ACCOUNT_DIR: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REREAD: Final = 60.0
SANDBOX_GROUP: Final = "agents.x-k8s.io"


class KubeError(RuntimeError_):
    """The API server answered with an error (or cannot be used as configured)."""

    def __init__(self, message: str, *, code: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class KubeUnavailable(KubeError):
    """The API server cannot be reached or did not answer in time (5xx, 429, timeout): nothing
    is known about the cluster."""


@dataclass(frozen=True)
class _Settings:
    timeout: float
    retries: int = 2
    retry_backoff: float = 0.25


class _KubeHttp(ServiceHttp):
    """The shared retrying client, with the cluster's CA."""

    def __init__(self, settings: _Settings, verify: ssl.SSLContext | bool) -> None:
        super().__init__("the Kubernetes API", lambda: settings)
        self._verify = verify

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False, verify=self._verify, headers={"User-Agent": f"aod/{__version__}"}
            )
        return self._client


class KubeApi:
    def __init__(
        self,
        config: KubernetesConfig,
        *,
        environ: Mapping[str, str] | None = None,
        service_account_dir: Path = SERVICE_ACCOUNT_DIR,
    ) -> None:
        self.config = config
        self._environ = os.environ if environ is None else environ
        self._sa_dir = service_account_dir
        self._token: tuple[float, str] | None = None
        self._http_client: _KubeHttp | None = None
        self._ssl: ssl.SSLContext | None = None
        self.exec_calls = 0
        """WebSocket exec sessions opened."""

    # -- where and who ------------------------------------------------------------------------

    @property
    def in_cluster(self) -> bool:
        return bool(self._environ.get("KUBERNETES_SERVICE_HOST"))

    def base_url(self) -> str:
        if self.config.api_url:
            return self.config.api_url.rstrip("/")
        host = self._environ.get("KUBERNETES_SERVICE_HOST")
        port = self._environ.get("KUBERNETES_SERVICE_PORT", "443")
        if host:
            host = f"[{host}]" if ":" in host else host
            return f"https://{host}:{port}"
        raise KubeError(
            "no Kubernetes API server: set runtime.kubernetes.api_url (e.g. https://127.0.0.1:6443), "
            "or run aod inside the cluster"
        )

    def token(self) -> str:
        if self.config.token is not None and self.config.token.get_secret_value():
            return self.config.token.get_secret_value()
        now = time.monotonic()
        if self._token is not None and now - self._token[0] < TOKEN_REREAD:
            return self._token[1]
        token_file = self._sa_dir / "token"
        try:
            text = token_file.read_text().strip()
        except OSError:
            text = ""
        if not text:
            text = self._environ.get("KUBERNETES_TOKEN", "").strip()
        if not text:
            raise KubeError(
                "no Kubernetes token: set runtime.kubernetes.token, run aod in the cluster with a "
                f"service account ({token_file}), or export KUBERNETES_TOKEN"
            )
        self._token = (now, text)
        return text

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            cafile = self.config.ca_file
            if cafile is None and self.in_cluster and not self.config.api_url and (self._sa_dir / "ca.crt").exists():
                cafile = str(self._sa_dir / "ca.crt")
            try:
                self._ssl = ssl.create_default_context(cafile=os.path.expanduser(cafile) if cafile else None)
            except (OSError, ssl.SSLError) as exc:
                raise KubeError(f"cannot read the CA file {cafile}: {exc} (runtime.kubernetes.ca_file)") from None
        return self._ssl

    def _http(self) -> _KubeHttp:
        if self._http_client is None:
            verify: ssl.SSLContext | bool = self.ssl_context() if self.base_url().startswith("https:") else True
            self._http_client = _KubeHttp(_Settings(timeout=self.config.timeout), verify)
        return self._http_client

    @property
    def requests(self) -> int:
        """REST requests sent (retries included) plus exec sessions opened."""
        return (self._http_client.requests if self._http_client else 0) + self.exec_calls

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()

    # -- REST ---------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        ok: tuple[int, ...] = (200, 201, 202),
        missing_ok: bool = False,
    ) -> dict[str, Any] | None:
        """One call; the answer's JSON. None for a 404 when `missing_ok`. Raises KubeUnavailable
        (no answer, 5xx, rate limited) or KubeError (any other error answer)."""
        headers = {"Authorization": f"Bearer {self.token()}", "Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = await self._http().request(
                method, self.base_url() + path, headers=headers, params=params, json=body
            )
        except ForgeUnavailable as exc:
            raise KubeUnavailable(f"{exc} (the sessions' state is unknown until it answers)") from None
        if response.status_code == 404 and missing_ok:
            return None
        if response.status_code not in ok:
            raise error_from(response.status_code, _json(response.content), f"{method} {path}")
        data = _json(response.content)
        return data if isinstance(data, dict) else {}

    # -- exec ---------------------------------------------------------------------------------

    def exec_target(self, namespace: str, pod: str, container: str, argv: list[str], *, stdin: bool) -> str:
        """The path (and query) of an exec: the command as repeated `command=` parameters, one
        argument each (no shell)."""
        from urllib.parse import urlencode

        query: list[tuple[str, str]] = [("command", a) for a in argv]
        query += [("container", container), ("stdout", "1"), ("stderr", "1")]
        if stdin:
            query.append(("stdin", "1"))
        prefix = urlsplit(self.base_url()).path.rstrip("/")
        return f"{prefix}/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/exec?{urlencode(query)}"


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def error_from(status: int, body: Any, what: str) -> KubeError:
    """A KubeError from an error answer, its `Status` object's message and reason kept."""
    message = reason = None
    if isinstance(body, dict):
        message = body.get("message")
        reason = body.get("reason")
    detail = message or f"HTTP {status}"
    if status == 401:
        return KubeError(
            "the Kubernetes API refused the token (401 Unauthorized): check runtime.kubernetes.token, "
            "the service account token or KUBERNETES_TOKEN",
            code=status, reason=reason,
        )
    if status == 403:
        return KubeError(
            f"{what}: forbidden ({detail}); the token's service account needs the RBAC of "
            "docs/scale-out.md (pods, pods/exec, persistentvolumeclaims)",
            code=status, reason=reason,
        )
    if status in (502, 503, 504, 429) or status >= 500:
        return KubeUnavailable(f"{what}: {detail}", code=status, reason=reason)
    return KubeError(f"{what}: {detail} ({reason or status})", code=status, reason=reason)
