"""A Kubernetes API server on loopback: the subset the kubernetes runtime uses, in the documented
shapes, with pods that really run (locally) and an exec that really executes.

The runtime plugin runs unmodified against it with `runtime.kubernetes.api_url` pointed at
`api_url`. It keeps, per namespace:

- PersistentVolumeClaims (`/api/v1/namespaces/NS/persistentvolumeclaims`: list, create, get,
  merge-patch, delete), each a directory of its own: the volume.
- Pods (`/api/v1/namespaces/NS/pods`: list with `labelSelector` (`k`, `!k`, `k=v`, `k==v`,
  `k!=v`) and the list's `metadata.resourceVersion`, create, get, delete). A pod is created
  `Pending`; a thread of the emulator then runs its init containers and its first container's
  command as local processes (the image is not pulled: the host's own `sh`, `git` and `tmux`
  stand in), with the claim's directory as the volume (a container's `workingDir` equal to a
  volume's `mountPath` is that directory) and a tmux directory of the pod's own
  (`TMUX_TMPDIR`), so tmux in "the pod" is a real tmux server nobody else sees. The pod turns
  `Running` when its container starts; `containerStatuses` show `terminated` with the exit code
  when the container's process ended (phase `Succeeded` / `Failed`, `restartPolicy: Never`).
  Deleting a pod kills its processes and its tmux server.
- `pods/NAME/exec`: a WebSocket upgrade (GET, as kubectl sends it) speaking
  `v5.channel.k8s.io` / `v4.channel.k8s.io` (the server's choice configurable): the `command`
  parameters are run as argv (no shell) in the pod's container (its working directory, its
  environment, its tmux), stdin from channel 0 (closed by `[255, 0]` in v5), stdout on 1, stderr
  on 2, and one `Status` on 3 (`Success`, or `Failure` / `NonZeroExitCode` with the exit code in
  `details.causes`).
- With `sandbox_crd=True`: discovery `GET /apis/agents.x-k8s.io` answers the APIGroup, and
  `sandboxes` (agents.x-k8s.io/v1alpha1) can be created, read, merge-patched and deleted; a
  controller of the emulator's own makes, for `replicas: 1`, the claims of
  `volumeClaimTemplates` (`TEMPLATE-SANDBOX`) and the pod `SANDBOX` (the template's labels plus
  `agents.x-k8s.io/sandbox-name-hash`), deletes the pod for `replicas: 0`, and everything with
  the Sandbox. Without it discovery answers 404, as a cluster without the CRD does.

Errors are `Status` objects (`kind: Status`, `status: Failure`, `message`, `reason`, `code`):
401 without the bearer token, 404 NotFound, 409 AlreadyExists, 400 BadRequest. Faults can be
injected: a status (5xx, 429 with Retry-After), a delay, for the next N requests matching a path;
`down()` closes the port (connection refused) and `up()` opens it again. Every request is logged
on arrival (method, path, query, status).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, CloseConnection, Ping, RejectConnection, Request

GROUP = "agents.x-k8s.io"
SANDBOX_VERSION = "v1alpha1"


def _iso(epoch: float | None = None) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch if epoch is not None else time.time()))


def status_object(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": message, "reason": reason, "code": code}
    if details:
        out["details"] = details
    return out


@dataclass
class Logged:
    method: str
    path: str
    query: dict[str, list[str]]
    at: float
    status: int = 0


@dataclass
class _Fault:
    status: int | None
    delay: float
    path: str | None
    retry_after: float | None


@dataclass
class PodRun:
    """What runs for one pod: its processes and its tmux directory."""

    tmux_dir: str
    main: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None
    deleted: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class KubeEmulator:
    def __init__(self, *, token: str = "kube-emulator-token", sandbox_crd: bool = False,
                 protocols: tuple[str, ...] = ("v5.channel.k8s.io", "v4.channel.k8s.io"),
                 root: Path | None = None, tls: tuple[str, str] | None = None) -> None:
        self.token = token
        self.tls = tls
        """(certificate file, key file): serve HTTPS (and WSS for exec) with them."""
        self.sandbox_crd = sandbox_crd
        self.protocols = protocols
        self._own_root = root is None
        self.root = Path(root or tempfile.mkdtemp(prefix="kube-emu-"))
        self._lock = threading.RLock()
        self._log: list[Logged] = []
        self._faults: list[_Fault] = []
        self._rv = itertools.count(1000)
        self.pods: dict[tuple[str, str], dict[str, Any]] = {}
        self.claims: dict[tuple[str, str], dict[str, Any]] = {}
        self.sandboxes: dict[tuple[str, str], dict[str, Any]] = {}
        self.runs: dict[str, PodRun] = {}  # by pod uid
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> KubeEmulator:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler_for(self))
        self._server.daemon_threads = True
        if self.tls is not None:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    @property
    def api_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    def down(self) -> None:
        """Close the port: the API server is unreachable (connection refused). Pods run on."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def up(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self.start()

    def stop(self) -> None:
        self.down()
        with self._lock:
            uids = list(self.runs)
        for uid in uids:
            self._stop_run(uid)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- for tests ------------------------------------------------------------------------------

    def fail(self, status: int | None = 503, *, times: int = 1, delay: float = 0.0, path: str | None = None,
             retry_after: float | None = None) -> None:
        """The next `times` requests (whose path contains `path`) answer `status` (None: answer
        normally) after `delay` seconds."""
        with self._lock:
            self._faults += [_Fault(status, delay, path, retry_after) for _ in range(times)]

    def requests(self, method: str | None = None, path_contains: str = "") -> list[Logged]:
        with self._lock:
            return [e for e in self._log if (method is None or e.method == method) and path_contains in e.path]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def pod(self, name: str, namespace: str = "default") -> dict[str, Any] | None:
        with self._lock:
            return self.pods.get((namespace, name))

    def claim_dir(self, name: str, namespace: str = "default") -> Path:
        return self.root / "volumes" / namespace / name

    def tmux_env(self, name: str, namespace: str = "default") -> dict[str, str]:
        """The environment in which a test's own `tmux` reaches the pod's tmux server."""
        pod = self.pod(name, namespace)
        assert pod is not None, f"no pod {name}"
        run = self.runs[pod["metadata"]["uid"]]
        return {**_base_env(), "TMUX_TMPDIR": run.tmux_dir}

    def add_pod(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """A pod created as if by someone else (no process runs for it): for scale tests."""
        with self._lock:
            pod = self._new_pod(namespace, manifest)
            pod["status"] = {"phase": "Running", "containerStatuses": [
                {"name": c["name"], "state": {"running": {"startedAt": _iso()}}, "ready": True, "restartCount": 0,
                 "image": c.get("image", ""), "started": True} for c in manifest["spec"]["containers"]]}
            self.pods[(namespace, pod["metadata"]["name"])] = pod
            return pod

    # -- the HTTP side ----------------------------------------------------------------------------

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.path is None or fault.path in path:
                    return self._faults.pop(index)
        return None

    def begin(self, method: str, target: str, headers: dict[str, str]) -> tuple[Logged, tuple[int, Any, dict[str, str]] | None]:
        """Log the request; an answer now (fault, auth) or None to go on."""
        parts = urlsplit(target)
        entry = Logged(method, parts.path, parse_qs(parts.query), time.time())
        with self._lock:
            self._log.append(entry)
        fault = self._take_fault(parts.path)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                extra = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
                reason = "TooManyRequests" if fault.status == 429 else "ServiceUnavailable" if fault.status == 503 else "InternalError"
                return entry, (fault.status, status_object(fault.status, reason, f"injected {fault.status}"), extra)
        if headers.get("authorization") != f"Bearer {self.token}":
            return entry, (401, status_object(401, "Unauthorized", "Unauthorized"), {})
        return entry, None

    def handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, bytes, dict[str, str]]:
        entry, early = self.begin(method, target, headers)
        if early is None:
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            try:
                early = self._route(method, entry.path, {k: v[-1] for k, v in entry.query.items()}, body)
            except _Answer as answer:
                early = (answer.code, status_object(answer.code, answer.reason, answer.message), {})
        status, payload, extra = early
        entry.status = status
        return status, json.dumps(payload).encode(), {"Content-Type": "application/json", **extra}

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        seg = [s for s in path.split("/") if s]
        if seg == ["apis", GROUP] and method == "GET":
            if not self.sandbox_crd:
                raise _Answer(404, "NotFound", "the server could not find the requested resource")
            gv = {"groupVersion": f"{GROUP}/{SANDBOX_VERSION}", "version": SANDBOX_VERSION}
            return 200, {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": [gv], "preferredVersion": gv}, {}
        if len(seg) >= 5 and seg[:2] == ["api", "v1"] and seg[2] == "namespaces":
            namespace, resource, rest = seg[3], seg[4], seg[5:]
            if resource == "pods":
                return self._pods(method, namespace, rest, query, body)
            if resource == "persistentvolumeclaims":
                return self._claims(method, namespace, rest, query, body)
        if len(seg) >= 6 and seg[:3] == ["apis", GROUP, SANDBOX_VERSION] and seg[3] == "namespaces" and seg[5] == "sandboxes" and self.sandbox_crd:
            return self._sandboxes(method, seg[4], seg[6:], body)
        raise _Answer(404, "NotFound", "the server could not find the requested resource")

    # -- objects ----------------------------------------------------------------------------------

    def _meta(self, namespace: str, manifest: dict[str, Any], kind: str) -> dict[str, Any]:
        meta = dict(manifest.get("metadata") or {})
        if not meta.get("name"):
            raise _Answer(422, "Invalid", f"{kind} \"\" is invalid: metadata.name: Required value: name or generateName is required")
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), resourceVersion=str(next(self._rv)), creationTimestamp=_iso())
        return meta

    def _list(self, kind: str, items: list[dict[str, Any]], selector: str | None) -> dict[str, Any]:
        chosen = [i for i in items if _selects(selector, (i.get("metadata") or {}).get("labels") or {})]
        return {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": str(next(self._rv))},
                "items": [json.loads(json.dumps(i)) for i in chosen]}

    def _claims(self, method: str, namespace: str, rest: list[str], query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if not rest:
                if method == "GET":
                    items = [c for (ns, _), c in self.claims.items() if ns == namespace]
                    return 200, self._list("PersistentVolumeClaimList", items, query.get("labelSelector")), {}
                if method == "POST":
                    return 201, self._create_claim(namespace, body or {}), {}
            else:
                key = (namespace, rest[0])
                claim = self.claims.get(key)
                if claim is None:
                    raise _Answer(404, "NotFound", f'persistentvolumeclaims "{rest[0]}" not found')
                if method == "GET":
                    return 200, claim, {}
                if method == "PATCH":
                    _merge(claim, {"metadata": (body or {}).get("metadata") or {}})
                    claim["metadata"]["resourceVersion"] = str(next(self._rv))
                    return 200, claim, {}
                if method == "DELETE":
                    del self.claims[key]
                    shutil.rmtree(self.claim_dir(rest[0], namespace), ignore_errors=True)
                    return 200, claim, {}
        raise _Answer(405, "MethodNotAllowed", f"{method} is not supported")

    def _create_claim(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = self._meta(namespace, manifest, "PersistentVolumeClaim")
        if (namespace, meta["name"]) in self.claims:
            raise _Answer(409, "AlreadyExists", f'persistentvolumeclaims "{meta["name"]}" already exists')
        claim = {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "metadata": meta, "spec": manifest.get("spec") or {},
                 "status": {"phase": "Bound", "accessModes": (manifest.get("spec") or {}).get("accessModes", []),
                            "capacity": ((manifest.get("spec") or {}).get("resources") or {}).get("requests", {})}}
        self.claims[(namespace, meta["name"])] = claim
        self.claim_dir(meta["name"], namespace).mkdir(parents=True, exist_ok=True)
        return claim

    def _pods(self, method: str, namespace: str, rest: list[str], query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if not rest:
                if method == "GET":
                    items = [p for (ns, _), p in self.pods.items() if ns == namespace]
                    return 200, self._list("PodList", items, query.get("labelSelector")), {}
                if method == "POST":
                    pod = self._new_pod(namespace, body or {})
                    if (namespace, pod["metadata"]["name"]) in self.pods:
                        raise _Answer(409, "AlreadyExists", f'pods "{pod["metadata"]["name"]}" already exists')
                    self.pods[(namespace, pod["metadata"]["name"])] = pod
                    self._start_pod(namespace, pod)
                    return 201, pod, {}
            elif len(rest) == 1:
                pod = self.pods.get((namespace, rest[0]))
                if pod is None:
                    raise _Answer(404, "NotFound", f'pods "{rest[0]}" not found')
                if method == "GET":
                    return 200, pod, {}
                if method == "DELETE":
                    self._delete_pod(namespace, rest[0])
                    return 200, pod, {}
            elif rest[1] == "exec":
                raise _Answer(400, "BadRequest", "Upgrade request required")
        raise _Answer(405, "MethodNotAllowed", f"{method} is not supported")

    def _new_pod(self, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
        meta = self._meta(namespace, manifest, "Pod")
        spec = manifest.get("spec") or {}
        if not spec.get("containers"):
            raise _Answer(422, "Invalid", f'Pod "{meta["name"]}" is invalid: spec.containers: Required value')
        return {"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec,
                "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "True"}],
                           "containerStatuses": [{"name": c["name"], "state": {"waiting": {"reason": "ContainerCreating"}},
                                                  "ready": False, "restartCount": 0, "image": c.get("image", ""), "started": False}
                                                 for c in spec["containers"]]}}

    def _delete_pod(self, namespace: str, name: str) -> None:
        pod = self.pods.pop((namespace, name), None)
        if pod is not None:
            threading.Thread(target=self._stop_run, args=(pod["metadata"]["uid"],), daemon=True).start()

    # -- running a pod ------------------------------------------------------------------------------

    def _container_dir(self, namespace: str, pod: dict[str, Any], container: dict[str, Any]) -> Path:
        """A container's working directory: the volume mounted there (a claim's directory)."""
        claims = {v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod["spec"].get("volumes") or [] if v.get("persistentVolumeClaim")}
        workdir = container.get("workingDir")
        for mount in container.get("volumeMounts") or []:
            if mount.get("mountPath") == workdir and mount.get("name") in claims:
                return self.claim_dir(claims[mount["name"]], namespace)
        return self.root / "pods" / namespace / pod["metadata"]["name"]

    def _claims_ready(self, namespace: str, pod: dict[str, Any]) -> bool:
        with self._lock:
            return all((namespace, v["persistentVolumeClaim"]["claimName"]) in self.claims
                       for v in pod["spec"].get("volumes") or [] if v.get("persistentVolumeClaim"))

    def _env(self, run: PodRun, container: dict[str, Any]) -> dict[str, str]:
        env = _base_env()
        for item in container.get("env") or []:
            env[item["name"]] = str(item.get("value", ""))
        env["TMUX_TMPDIR"] = run.tmux_dir
        return env

    def _start_pod(self, namespace: str, pod: dict[str, Any]) -> None:
        run = PodRun(tmux_dir=tempfile.mkdtemp(prefix="k8s-", dir="/tmp"))
        self.runs[pod["metadata"]["uid"]] = run
        run.thread = threading.Thread(target=self._run_pod, args=(namespace, pod, run), daemon=True)
        run.thread.start()

    def _run_pod(self, namespace: str, pod: dict[str, Any], run: PodRun) -> None:
        status = pod["status"]
        deadline = time.monotonic() + 30
        while not self._claims_ready(namespace, pod):
            if run.deleted or time.monotonic() > deadline:
                return
            status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                     "message": "persistentvolumeclaim not found"}]
            time.sleep(0.05)
        status.update(startTime=_iso(), hostIP="10.0.0.1", podIP="10.244.0.2")
        inits = []
        for container in pod["spec"].get("initContainers") or []:
            cwd = self._container_dir(namespace, pod, container)
            cwd.mkdir(parents=True, exist_ok=True)
            argv = [*(container.get("command") or []), *(container.get("args") or [])]
            try:
                done = subprocess.run(argv, cwd=cwd, env=self._env(run, container), stdin=subprocess.DEVNULL,
                                      capture_output=True, timeout=60)
                code, message = done.returncode, done.stderr.decode(errors="replace")[-500:]
            except (OSError, subprocess.TimeoutExpired) as exc:
                code, message = 128, str(exc)
            inits.append({"name": container["name"], "ready": code == 0, "restartCount": 0, "image": container.get("image", ""),
                          "state": {"terminated": {"exitCode": code, "reason": "Completed" if code == 0 else "Error",
                                                   "message": message, "finishedAt": _iso()}}})
            with self._lock:
                status["initContainerStatuses"] = list(inits)
                if code != 0:
                    status["phase"] = "Failed"
                    return
        main = pod["spec"]["containers"][0]
        cwd = self._container_dir(namespace, pod, main)
        cwd.mkdir(parents=True, exist_ok=True)
        argv = [*(main.get("command") or []), *(main.get("args") or [])]
        with run.lock:
            if run.deleted:
                return
            try:
                run.main = subprocess.Popen(argv, cwd=cwd, env=self._env(run, main), stdin=subprocess.DEVNULL,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                with self._lock:
                    status["containerStatuses"][0]["state"] = {"waiting": {"reason": "CreateContainerError", "message": str(exc)}}
                return
        with self._lock:
            status["phase"] = "Running"
            status["conditions"] = [{"type": t, "status": "True"} for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")]
            first = status["containerStatuses"][0]
            first.update(state={"running": {"startedAt": _iso()}}, ready=True, started=True,
                         containerID=f"containerd://{pod['metadata']['uid'].replace('-', '')}")
        code = run.main.wait()
        with self._lock:
            first["state"] = {"terminated": {"exitCode": code if code >= 0 else 128 - code,
                                             "reason": "Completed" if code == 0 else "Error", "finishedAt": _iso()}}
            first["ready"] = False
            status["phase"] = "Succeeded" if code == 0 else "Failed"

    def _stop_run(self, uid: str) -> None:
        run = self.runs.pop(uid, None)
        if run is None:
            return
        with run.lock:
            run.deleted = True
            main = run.main
        env = {**_base_env(), "TMUX_TMPDIR": run.tmux_dir}
        subprocess.run(["tmux", "kill-server"], env=env, capture_output=True, timeout=10)
        if main is not None and main.poll() is None:
            try:
                os.killpg(main.pid, signal.SIGKILL)
            except OSError:
                pass
            main.wait(timeout=10)
        shutil.rmtree(run.tmux_dir, ignore_errors=True)

    # -- Sandboxes (agents.x-k8s.io) ------------------------------------------------------------------

    def _sandboxes(self, method: str, namespace: str, rest: list[str], body: Any) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            if not rest and method == "POST":
                manifest = body or {}
                meta = self._meta(namespace, manifest, "Sandbox")
                if (namespace, meta["name"]) in self.sandboxes:
                    raise _Answer(409, "AlreadyExists", f'sandboxes.{GROUP} "{meta["name"]}" already exists')
                box = {"apiVersion": f"{GROUP}/{SANDBOX_VERSION}", "kind": "Sandbox", "metadata": meta,
                       "spec": manifest.get("spec") or {}, "status": {"replicas": 0}}
                self.sandboxes[(namespace, meta["name"])] = box
                self._reconcile(namespace, box)
                return 201, box, {}
            if rest:
                key = (namespace, rest[0])
                box = self.sandboxes.get(key)
                if box is None:
                    raise _Answer(404, "NotFound", f'sandboxes.{GROUP} "{rest[0]}" not found')
                if method == "GET":
                    return 200, box, {}
                if method == "PATCH":
                    _merge(box, body or {})
                    box["metadata"]["resourceVersion"] = str(next(self._rv))
                    self._reconcile(namespace, box)
                    return 200, box, {}
                if method == "DELETE":
                    del self.sandboxes[key]
                    self._delete_pod(namespace, rest[0])
                    for template in box["spec"].get("volumeClaimTemplates") or []:
                        name = f"{template['metadata']['name']}-{rest[0]}"
                        if self.claims.pop((namespace, name), None) is not None:
                            shutil.rmtree(self.claim_dir(name, namespace), ignore_errors=True)
                    return 200, box, {}
        raise _Answer(405, "MethodNotAllowed", f"{method} is not supported")

    def _reconcile(self, namespace: str, box: dict[str, Any]) -> None:
        """The Sandbox controller: claims and pod for replicas 1, no pod for 0."""
        name = box["metadata"]["name"]
        replicas = box["spec"].get("replicas", 1)
        if replicas == 0:
            self._delete_pod(namespace, name)
        elif (namespace, name) not in self.pods:
            template = box["spec"].get("podTemplate") or {}
            spec = json.loads(json.dumps(template.get("spec") or {}))
            for claim in box["spec"].get("volumeClaimTemplates") or []:
                claim_name = f"{claim['metadata']['name']}-{name}"
                if (namespace, claim_name) not in self.claims:
                    self._create_claim(namespace, {"metadata": {"name": claim_name}, "spec": claim.get("spec") or {}})
                spec.setdefault("volumes", []).append({"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}})
            labels = {f"{GROUP}/sandbox-name-hash": hashlib.sha256(name.encode()).hexdigest()[:8],
                      **((template.get("metadata") or {}).get("labels") or {})}
            pod = self._new_pod(namespace, {"metadata": {"name": name, "labels": labels}, "spec": spec})
            self.pods[(namespace, name)] = pod
            self._start_pod(namespace, pod)
        box["status"] = {"replicas": 1 if replicas else 0, "service": name,
                         "selector": f"{GROUP}/sandbox-name-hash={hashlib.sha256(name.encode()).hexdigest()[:8]}"}

    # -- exec -------------------------------------------------------------------------------------

    def exec_session(self, handler: BaseHTTPRequestHandler, entry: Logged, namespace: str, name: str) -> None:
        """An exec: the upgrade, the command as argv in the pod's container, the channels."""
        query = entry.query
        sock = handler.connection

        def refuse(code: int, reason: str, message: str) -> None:
            entry.status = code
            data = json.dumps(status_object(code, reason, message)).encode()
            handler.send_response(code)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)

        with self._lock:
            pod = self.pods.get((namespace, name))
        if pod is None:
            return refuse(404, "NotFound", f'pods "{name}" not found')
        containers = pod["spec"]["containers"]
        wanted = (query.get("container") or [containers[0]["name"]])[-1]
        container = next((c for c in containers if c["name"] == wanted), None)
        if container is None:
            return refuse(400, "BadRequest", f'container {wanted} is not valid for pod {name}')
        run = self.runs.get(pod["metadata"]["uid"])
        state = next((s for s in pod["status"].get("containerStatuses") or [] if s["name"] == wanted), {}).get("state") or {}
        if run is None or "running" not in state:
            return refuse(400, "BadRequest", f'unable to upgrade connection: container not found ("{wanted}")')
        argv = query.get("command") or []
        if not argv:
            return refuse(400, "BadRequest", "you must specify at least 1 command")
        if (handler.headers.get("Upgrade") or "").lower() != "websocket":
            return refuse(400, "BadRequest", "Upgrade request required")
        ws = WSConnection(ConnectionType.SERVER)
        raw = f"{handler.command} {handler.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in handler.headers.items()) + "\r\n"
        ws.receive_data(raw.encode())
        request = next((e for e in ws.events() if isinstance(e, Request)), None)
        offered = [p.strip() for p in (request.subprotocols if request else [])]
        chosen = next((p for p in self.protocols if p in offered), None)
        if request is None or chosen is None:
            entry.status = 400
            sock.sendall(ws.send(RejectConnection(status_code=400)))
            return
        entry.status = 101
        send_lock = threading.Lock()

        def send(event: Any) -> None:
            with send_lock:
                try:
                    sock.sendall(ws.send(event))
                except Exception:  # noqa: BLE001 - the client went away or closed first
                    pass

        send(AcceptConnection(subprotocol=chosen))
        want_stdin = (query.get("stdin") or ["0"])[-1] in ("1", "true")
        try:
            proc = subprocess.Popen(argv, cwd=self._container_dir(namespace, pod, container), env=self._env(run, container),
                                    stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            status = status_object(500, "InternalError", f'failed to exec in container: exec: "{argv[0]}": {exc}')
            send(BytesMessage(data=bytes([3]) + json.dumps(status).encode()))
            send(CloseConnection(code=1000))
            return

        def pump(stream: Any, channel: int) -> None:
            while True:
                chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
                if not chunk:
                    return
                send(BytesMessage(data=bytes([channel]) + chunk))

        pumps = [threading.Thread(target=pump, args=(proc.stdout, 1), daemon=True),
                 threading.Thread(target=pump, args=(proc.stderr, 2), daemon=True)]
        for thread in pumps:
            thread.start()

        def read_client() -> None:
            buffer = bytearray()
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                ws.receive_data(data or None)
                for event in ws.events():
                    if isinstance(event, BytesMessage):
                        buffer += event.data
                        if not event.message_finished:
                            continue
                        message, buffer = bytes(buffer), bytearray()
                        if message[:1] == b"\x00" and proc.stdin is not None:
                            try:
                                proc.stdin.write(message[1:])
                                proc.stdin.flush()
                            except OSError:
                                pass
                        elif message[:2] == b"\xff\x00" and chosen.startswith("v5") and proc.stdin is not None:
                            proc.stdin.close()
                    elif isinstance(event, Ping):
                        send(event.response())
                    elif isinstance(event, CloseConnection):
                        if proc.stdin is not None and not proc.stdin.closed:
                            proc.stdin.close()
                        return
                if not data:
                    if proc.stdin is not None and not proc.stdin.closed:
                        proc.stdin.close()
                    return

        reader = threading.Thread(target=read_client, daemon=True)
        reader.start()
        try:
            self._finish_exec(proc, pumps, reader, send)
        finally:
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    try:
                        pipe.close()
                    except OSError:
                        pass

    @staticmethod
    def _finish_exec(proc: subprocess.Popen[bytes], pumps: list[threading.Thread], reader: threading.Thread, send: Any) -> None:
        code = proc.wait()
        for thread in pumps:
            thread.join(timeout=10)
        if code == 0:
            status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        else:
            status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                      "message": f"command terminated with non-zero exit code: exit status {code}",
                      "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        send(BytesMessage(data=bytes([3]) + json.dumps(status).encode()))
        send(CloseConnection(code=1000))
        reader.join(timeout=2)


class _Answer(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE", "TMUX_TMPDIR")}


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    """A JSON merge patch (RFC 7386)."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _selects(selector: str | None, labels: dict[str, str]) -> bool:
    if not selector:
        return True
    for term in (t.strip() for t in selector.split(",")):
        if not term:
            continue
        if "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _handler_for(emulator: KubeEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            seg = [s for s in urlsplit(self.path).path.split("/") if s]
            if self.command in ("GET", "POST") and len(seg) == 7 and seg[:3] == ["api", "v1", "namespaces"] and seg[4] == "pods" and seg[6] == "exec" \
                    and (self.headers.get("Upgrade") or "").lower() == "websocket":
                headers = {k.lower(): v for k, v in self.headers.items()}
                entry, early = emulator.begin(self.command, self.path, headers)
                self.close_connection = True
                if early is not None:
                    return self._reply(entry, *early)
                return emulator.exec_session(self, entry, seg[3], seg[5])
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, data, extra = emulator.handle(self.command, self.path, headers, raw)
            self._send(status, data, extra)

        def _reply(self, entry: Logged, status: int, payload: Any, extra: dict[str, str]) -> None:
            entry.status = status
            self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **extra})

        def _send(self, status: int, data: bytes, extra: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in extra.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
            pass

    return Handler
