"""The kubernetes runtime (`runtime: kubernetes`): one session = one pod with a persistent volume.

Per session, in `runtime.kubernetes.namespace`:
- a PersistentVolumeClaim `workspace-POD` (`storage`, `storage_class`) and a Pod `POD` (`image`,
  `cpu`/`memory`, `env_secret`), both labelled `ao.session=ID`, `ao.project=P`,
  `app.kubernetes.io/name=ao-agent`, `app.kubernetes.io/managed-by=aod`;
- or, with `sandbox: auto` and the `agents.x-k8s.io` Sandbox CRD installed (discovery asked once),
  one `Sandbox` named POD whose pod template and volume claim template are the same; its
  controller makes the pod `POD` and the claim `workspace-POD`.

The pod: an init container clones the project's remote into the volume (`/workspace/repo`, only
when not there yet) and checks out the session branch (the remote's, else a new one at the
local base commit); the container `agent` writes a tmux config (`remain-on-exit on`), starts the
agent in the tmux session `ao` (argv, never a shell string of it) and runs while that session
exists. The image needs `sh`, `git` and `tmux` (3.2+). The agent pushes to the project's remote
itself (credentials: `env_secret`, or the image).

What the runtime does through the API:
- `snapshot()`: ONE list call for all sessions (`GET .../pods?labelSelector=ao.session`).
  `activity_at` is the pane's last output as the last capture read it (`#{window_activity}`),
  None once that reading is 10 s old, so the observer captures an idle pod every 10 s (one exec)
  and a busy one every tick, never every pod every tick.
  Liveness from the pod (phase, the agent container's state, deletion) and from the agent's exit
  as the pane recorded it, read only when a capture ran anyway (`#{pane_dead}` printed after the
  capture, same exec). No answer, a 5xx, a 429: None (unknown, never dead).
- capture / look / paste / Enter: `tmux` in the pod through the `exec` subresource
  (aod/plugins/runtime/kube_exec.py); text goes on stdin to `tmux load-buffer -` and is pasted
  with `paste-buffer -p`; nothing the user wrote is ever in a command line.
- `kill()`: the pod goes (the volume stays: its clone may hold work not pushed yet);
  `cleanup()`: the pod and the volume (and the Sandbox). `pause()`: the pod goes, the volume
  stays (a Sandbox: `replicas: 0`); `resume()`: a new pod on the same volume (`replicas: 1`),
  from the pod manifest kept in the claim's annotation `ao.pod`.

Handles: `name` the session id, `pane_id` the pod's uid (None for a Sandbox, whose pod the
controller makes), `socket` the namespace (so sessions of a namespace changed since are judged
on their own namespace's list, and unknown from another's).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shutil
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, AsyncIterator, Final
from urllib.parse import quote

import structlog
import trio

from aod.model import RuntimeHandle
from aod.plugins.runtime import LaunchSpec, Liveness, Look, PaneState, RuntimeError_, Snapshot, ViewerCommand
from aod.plugins.runtime.kube_api import SANDBOX_GROUP, KubeApi, KubeError, KubeUnavailable
from aod.plugins.runtime.kube_exec import ExecResult, StdinNeedsV5, pod_exec
from aod.plugins.runtime.tmux import _cells_prefix, _command_argv, _tidy, sanitize_paste_text
from aod.plugins.runtime.tmux_client import validate_name
from aod.proc import ToolTimeout, child_env, run

if TYPE_CHECKING:
    from aod.config.scale_out import KubernetesConfig

log = structlog.get_logger()

SESSION_LABEL: Final = "ao.session"
PROJECT_LABEL: Final = "ao.project"
APP_LABELS: Final = {"app.kubernetes.io/name": "ao-agent", "app.kubernetes.io/managed-by": "aod"}
POD_ANNOTATION: Final = "ao.pod"
CONTAINER: Final = "agent"
VOLUME: Final = "workspace"
MOUNT: Final = "/workspace"
TMUX_SESSION: Final = "ao"
TARGET: Final = f"={TMUX_SESSION}:"
BUFFER: Final = "ao-paste"
# `set-buffer` carries the text in argv (a query parameter): only for v4-only servers, and short.
SET_BUFFER_LIMIT: Final = 8 * 1024
EXEC_PARALLEL: Final = 8
# How old a capture's reading of an idle pane may get before the snapshot asks for another.
IDLE_RECAPTURE: Final = 10.0
FATAL_WAITING: Final = frozenset(
    {"InvalidImageName", "ErrImageNeverPull", "CreateContainerConfigError", "CreateContainerError", "CrashLoopBackOff"}
)

# The init container: the project's remote cloned into the volume once, the session branch
# checked out. Constant text; the values are its positional parameters ($1 $2 $3), never code.
INIT_SCRIPT: Final = """set -eu
url=$1 branch=$2 base=$3
if [ ! -d repo/.git ]; then git clone --quiet -- "$url" repo; fi
cd repo
git fetch --quiet origin || echo "ao: could not fetch origin; using the clone as it is" >&2
if git rev-parse -q --verify "refs/heads/$branch" >/dev/null; then git checkout --quiet "$branch"
elif git rev-parse -q --verify "refs/remotes/origin/$branch" >/dev/null; then git checkout --quiet -b "$branch" --track "origin/$branch"
elif [ -n "$base" ] && git cat-file -e "$base^{commit}" 2>/dev/null; then git checkout --quiet -b "$branch" "$base"
else git checkout --quiet -b "$branch"; fi
"""

# The agent container: tmux with remain-on-exit from its first session on (the config is read
# when the server starts, so even an agent that dies at once leaves its pane), the agent's argv
# as "$@", and the container lives as long as the tmux session does.
MAIN_SCRIPT: Final = """set -u
mkdir -p .ao
printf 'set-option -g remain-on-exit on\\nset-option -g history-limit 10000\\n' > .ao/tmux.conf
cd repo
tmux -f ../.ao/tmux.conf new-session -d -s ao -x "${AO_WIDTH:-200}" -y "${AO_HEIGHT:-50}" -- "$@" || exit 111
while tmux has-session -t =ao 2>/dev/null; do sleep 1; done
"""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


def pod_name(session: str) -> str:
    """The pod's name for a session id: a DNS label (lowercase, digits, `-`, at most 63); an id
    that had to change for it gets a hash suffix, so two ids never share a pod."""
    name = re.sub(r"[^a-z0-9-]", "-", session.lower()).strip("-")[:50] or "ao"
    if name != session or not _DNS_LABEL.match(name):
        name = f"{name}-{hashlib.sha1(session.encode()).hexdigest()[:8]}"
    return name


def claim_name(pod: str) -> str:
    return f"{VOLUME}-{pod}"  # as the Sandbox controller names a claim template's PVC


def label_value(value: str) -> str | None:
    """`value` if Kubernetes takes it as a label value, else None."""
    return value if len(value) <= 63 and _LABEL_VALUE.match(value) else None


class KubernetesRuntime:
    kind = "kubernetes"
    echoes_input = True

    def __init__(self, config: KubernetesConfig, *, kubectl: str = "kubectl", api: KubeApi | None = None) -> None:
        self.config = config
        self.api = api or KubeApi(config)
        self.kubectl = kubectl
        self._cut = f"ao-cut-{secrets.token_hex(8)}"
        self._sandbox_version: str | None | bool = False  # False: not asked yet; None: no CRD
        self._exited: dict[str, tuple[str | None, int | None]] = {}
        """Session → (pod uid, exit status) of an agent whose pane a capture saw dead."""
        self._uids: dict[str, str] = {}
        """Session → the pod uid the last snapshot saw."""
        self._activity: dict[str, tuple[float, float]] = {}
        """Session → (the pane's last output as tmux stamped it, when the capture read that)."""
        self.list_calls = 0

    @property
    def namespace(self) -> str:
        return self.config.namespace

    def server_of(self, handle: RuntimeHandle) -> str:
        return handle.socket or self.namespace

    # -- the API ------------------------------------------------------------------------------

    def _pods(self, namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{quote(namespace)}/pods" + (f"/{quote(name)}" if name else "")

    def _claims(self, namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{quote(namespace)}/persistentvolumeclaims" + (f"/{quote(name)}" if name else "")

    def _sandboxes(self, version: str, namespace: str, name: str = "") -> str:
        return f"/apis/{SANDBOX_GROUP}/{version}/namespaces/{quote(namespace)}/sandboxes" + (f"/{quote(name)}" if name else "")

    async def sandbox_version(self) -> str | None:
        """The Sandbox CRD's served version (`v1alpha1`), or None when it is not installed or
        `sandbox: off`. Discovery is asked once; an API that does not answer is asked again."""
        if self.config.sandbox == "off":
            return None
        if self._sandbox_version is False:
            group = await self.api.call("GET", f"/apis/{SANDBOX_GROUP}", missing_ok=True)
            version = None
            if group is not None:
                preferred = (group.get("preferredVersion") or {}).get("version")
                versions = [v.get("version") for v in group.get("versions") or []]
                version = preferred or (versions[0] if versions else None)
            self._sandbox_version = version
        return self._sandbox_version or None

    async def _exec(self, handle: RuntimeHandle, argv: list[str], *, stdin: bytes | None = None) -> ExecResult:
        validate_name(handle.name)
        return await pod_exec(self.api, self.server_of(handle), pod_name(handle.name), CONTAINER, argv, stdin=stdin)

    async def _tmux(self, handle: RuntimeHandle, *args: str, stdin: bytes | None = None, what: str = "") -> ExecResult:
        result = await self._exec(handle, ["tmux", *args], stdin=stdin)
        if not result.ok:
            raise RuntimeError_(
                f"tmux {what or args[0]} in pod {pod_name(handle.name)} failed: {result.err or f'exit status {result.exit_code}'}"
            )
        return result

    # -- create ---------------------------------------------------------------------------------

    async def create(self, spec: LaunchSpec) -> RuntimeHandle:
        name = validate_name(spec.name)
        if not self.config.image:
            raise RuntimeError_("runtime.kubernetes.image is not set: name the image the sessions' pods run (it needs sh, git and tmux)")
        pod = pod_name(name)
        namespace = self.namespace
        url, branch, base = await _workspace_source(spec.cwd)
        manifest = self._pod_manifest(spec, pod, url, branch, base)
        self._exited.pop(name, None)
        version = await self.sandbox_version()
        if version:
            await self._create_sandbox(version, namespace, pod, manifest, spec)
            uid = None
        else:
            await self._ensure_claim(namespace, pod, manifest, spec)
            uid = await self._create_pod(namespace, pod, manifest)
        handle = RuntimeHandle(kind=self.kind, name=name, pane_id=uid, socket=namespace)
        await self._wait_started(handle)
        log.info("pod started", session=name, pod=pod, namespace=namespace, sandbox=bool(version))
        return handle

    def _labels(self, spec: LaunchSpec) -> dict[str, str]:
        labels = {SESSION_LABEL: spec.name, **APP_LABELS}
        project = label_value(str(spec.env.get("AO_PROJECT", "")))
        if project:
            labels[PROJECT_LABEL] = project
        return labels

    def _pod_manifest(self, spec: LaunchSpec, pod: str, url: str, branch: str, base: str) -> dict[str, Any]:
        cfg = self.config
        env = [{"name": k, "value": str(v)} for k, v in spec.env.items()]
        env += [{"name": "AO_WIDTH", "value": str(spec.width)}, {"name": "AO_HEIGHT", "value": str(spec.height)}]
        mounts = [{"name": VOLUME, "mountPath": MOUNT}]
        agent: dict[str, Any] = {
            "name": CONTAINER,
            "image": cfg.image,
            "workingDir": MOUNT,
            "command": ["sh", "-c", MAIN_SCRIPT, "ao-agent", *_command_argv(spec.argv)],
            "env": env,
            "volumeMounts": mounts,
        }
        quantities = {k: v for k, v in (("cpu", cfg.cpu), ("memory", cfg.memory)) if v}
        if quantities:
            agent["resources"] = {"requests": dict(quantities), "limits": dict(quantities)}
        if cfg.env_secret:
            agent["envFrom"] = [{"secretRef": {"name": cfg.env_secret}}]
        init = {
            "name": "clone",
            "image": cfg.image,
            "workingDir": MOUNT,
            "command": ["sh", "-c", INIT_SCRIPT, "ao-init", url, branch, base],
            "volumeMounts": mounts,
        }
        if cfg.env_secret:
            init["envFrom"] = [{"secretRef": {"name": cfg.env_secret}}]
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": pod, "labels": self._labels(spec)},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 5,
                "initContainers": [init],
                "containers": [agent],
                "volumes": [{"name": VOLUME, "persistentVolumeClaim": {"claimName": claim_name(pod)}}],
            },
        }

    def _claim_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": self.config.storage}}}
        if self.config.storage_class:
            spec["storageClassName"] = self.config.storage_class
        return spec

    async def _ensure_claim(self, namespace: str, pod: str, manifest: dict[str, Any], spec: LaunchSpec) -> None:
        claim = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": claim_name(pod),
                "labels": self._labels(spec),
                "annotations": {POD_ANNOTATION: json.dumps(manifest, separators=(",", ":"))},
            },
            "spec": self._claim_spec(),
        }
        try:
            await self.api.call("POST", self._claims(namespace), body=claim)
        except KubeError as exc:
            if exc.code != 409:
                raise
            # The session's volume is there already (a respawn): keep its clone, store the new pod.
            patch = {"metadata": {"annotations": {POD_ANNOTATION: claim["metadata"]["annotations"][POD_ANNOTATION]}}}
            await self.api.call("PATCH", self._claims(namespace, claim_name(pod)), body=patch, content_type="application/merge-patch+json")

    async def _create_pod(self, namespace: str, pod: str, manifest: dict[str, Any]) -> str | None:
        deadline = trio.current_time() + self._start_budget()
        delay = 0.05
        while True:
            try:
                created = await self.api.call("POST", self._pods(namespace), body=manifest)
                return ((created or {}).get("metadata") or {}).get("uid")
            except KubeError as exc:
                if exc.code != 409:
                    raise
            # A pod of the name exists: an old one of this session (dead, or still terminating
            # after a kill). A live one is not ours to replace.
            old = await self.api.call("GET", self._pods(namespace, pod), missing_ok=True)
            if old is not None and not old["metadata"].get("deletionTimestamp") and not _pod_dead(old)[0]:
                raise RuntimeError_(f"pod {pod} already runs in namespace {namespace}: kill the session first")
            if old is not None and not old["metadata"].get("deletionTimestamp"):
                await self.api.call("DELETE", self._pods(namespace, pod), params={"gracePeriodSeconds": "0"}, missing_ok=True)
            if trio.current_time() > deadline:
                raise RuntimeError_(f"pod {pod} in namespace {namespace} is still being deleted; try again shortly")
            await trio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _create_sandbox(self, version: str, namespace: str, pod: str, manifest: dict[str, Any], spec: LaunchSpec) -> None:
        pod_spec = dict(manifest["spec"])
        # The controller adds the claim template's volume (named after the template) itself.
        pod_spec["volumes"] = []
        sandbox = {
            "apiVersion": f"{SANDBOX_GROUP}/{version}",
            "kind": "Sandbox",
            "metadata": {
                "name": pod,
                "labels": self._labels(spec),
                "annotations": {POD_ANNOTATION: json.dumps(manifest, separators=(",", ":"))},
            },
            "spec": {
                "replicas": 1,
                "podTemplate": {"metadata": {"labels": self._labels(spec)}, "spec": pod_spec},
                "volumeClaimTemplates": [{"metadata": {"name": VOLUME}, "spec": self._claim_spec()}],
            },
        }
        try:
            await self.api.call("POST", self._sandboxes(version, namespace), body=sandbox)
        except KubeError as exc:
            if exc.code != 409:
                raise
            await self.api.call(
                "PATCH", self._sandboxes(version, namespace, pod),
                body={"spec": {"replicas": 1, "podTemplate": sandbox["spec"]["podTemplate"]}},
                content_type="application/merge-patch+json",
            )

    def _start_budget(self) -> float:
        # Image pulls and volume binding take longer than one call.
        return max(12 * self.config.timeout, 30.0)

    async def _wait_started(self, handle: RuntimeHandle) -> None:
        """Until the pod runs and its tmux session exists (as the tmux runtime returns once the
        pane exists), or it ended, or the start budget is spent."""
        namespace, pod = self.server_of(handle), pod_name(handle.name)
        deadline = trio.current_time() + self._start_budget()
        delay = 0.05
        last = "not created yet"
        while trio.current_time() < deadline:
            try:
                got = await self.api.call("GET", self._pods(namespace, pod), missing_ok=True)
            except KubeUnavailable as exc:
                got, last = None, str(exc)
            if got is not None:
                dead, _status, why = _pod_dead(got)
                if dead:
                    raise RuntimeError_(f"pod {pod} ended before the agent started: {why}")
                phase = (got.get("status") or {}).get("phase")
                last = f"phase {phase}"
                if phase == "Running":
                    try:
                        result = await self._exec(handle, ["tmux", "has-session", "-t", f"={TMUX_SESSION}"])
                        if result.ok:
                            return
                        last = "tmux session not there yet"
                    except KubeError as exc:
                        last = str(exc)
            await trio.sleep(delay)
            delay = min(delay * 2, 1.0)
        raise RuntimeError_(f"pod {pod} in namespace {namespace} did not start within {self._start_budget():g}s ({last}); see kubectl describe pod -n {namespace} {pod}")

    # -- liveness -------------------------------------------------------------------------------

    async def snapshot(self, server: str = "") -> dict[str, PaneState] | None:
        namespace = server or self.namespace
        self.list_calls += 1
        try:
            listed = await self.api.call("GET", self._pods(namespace), params={"labelSelector": SESSION_LABEL})
        except KubeUnavailable as exc:
            log.info("pod list failed; liveness unknown", namespace=namespace, error=str(exc))
            return None
        except KubeError as exc:
            log.warning("pod list refused; liveness unknown", namespace=namespace, error=str(exc))
            return None
        panes = Snapshot(server=namespace)
        for pod in (listed or {}).get("items") or []:
            meta = pod.get("metadata") or {}
            name = (meta.get("labels") or {}).get(SESSION_LABEL)
            if not name:
                continue
            uid = meta.get("uid")
            dead, status, _why = _pod_dead(pod)
            exited = self._exited.get(name)
            if not dead and exited is not None and exited[0] in (None, uid):
                dead, status = True, exited[1]
            if uid:
                self._uids[name] = uid
            panes[name] = PaneState(name=name, pane_id=uid, pid=None, dead=dead, exit_status=status, activity_at=self._activity_at(name))
        return panes

    def _activity_at(self, name: str) -> float | None:
        """The pane's last output as the last capture saw it; None (the screen may have moved:
        capture it) once that reading is IDLE_RECAPTURE old. The pod list cannot say when a pane
        printed, so an idle agent is captured again every IDLE_RECAPTURE seconds, a busy one (its
        last output within a second of the capture) at every tick, as with tmux."""
        seen = self._activity.get(name)
        if seen is None or time.time() - seen[1] >= IDLE_RECAPTURE:
            return None
        return seen[0]

    def liveness(self, handle: RuntimeHandle, snapshot: dict[str, PaneState] | None) -> Liveness:
        if snapshot is None:
            return "unknown"
        if isinstance(snapshot, Snapshot) and snapshot.server != self.server_of(handle):
            return "unknown"
        state = snapshot.get(handle.name)
        if state is None or state.dead:
            return "dead"
        if handle.pane_id and state.pane_id != handle.pane_id:
            return "dead"  # another pod of the name: this handle's agent is gone
        return "alive"

    # -- the screen ----------------------------------------------------------------------------

    async def _note_exit(self, handle: RuntimeHandle, mark_row: str) -> None:
        """What the capture's mark row says of the pane: its last output (for the snapshots'
        `activity_at`) and whether the agent exited (remembered for the next snapshots). A dead
        pane without a status is tmux#311 (a missed SIGCHLD, see tmux.py): the pod's tmux server
        is sent one, best effort, so a later capture reads the status."""
        dead, _, rest = mark_row.strip().partition(" ")
        server_pid, _, rest = rest.partition(" ")
        activity, _, status = rest.partition(" ")
        if activity.isdigit():
            self._activity[handle.name] = (float(activity), time.time())
        if dead != "1":
            return
        uid = handle.pane_id or self._uids.get(handle.name)
        code = int(status) if status.strip().lstrip("-").isdigit() else None
        self._exited[handle.name] = (uid, code)
        if code is None and server_pid.isdigit():
            try:
                await self._exec(handle, ["kill", "-CHLD", server_pid])
            except RuntimeError_:
                pass

    async def capture(self, handle: RuntimeHandle, lines: int = 50) -> str:
        lines = max(1, int(lines))
        cut = self._cut
        result = await self._tmux(
            handle,
            "capture-pane", "-p", "-J", "-t", TARGET, "-S", f"-{lines}", ";",
            "display-message", "-p", "-t", TARGET, f"{cut} #{{pane_dead}} #{{pid}} #{{window_activity}} #{{pane_dead_status}}",
            what="capture-pane",
        )  # fmt: skip
        parts = result.out.split("\n")
        marks = [i for i, row in enumerate(parts) if row.startswith(cut + " ")]
        if not marks:
            raise RuntimeError_(f"pod {pod_name(handle.name)}: unexpected capture output")
        await self._note_exit(handle, parts[marks[-1]][len(cut) + 1 :])
        return _tidy(parts[: marks[-1]], lines)

    async def capture_many(self, handles: Sequence[RuntimeHandle], lines: int = 50) -> dict[str, str]:
        screens: dict[str, str] = {}
        limiter = trio.CapacityLimiter(EXEC_PARALLEL)

        async def one(handle: RuntimeHandle) -> None:
            async with limiter:
                try:
                    screens[handle.name] = await self.capture(handle, lines)
                except RuntimeError_:
                    pass

        async with trio.open_nursery() as nursery:
            for handle in handles:
                nursery.start_soon(one, handle)
        return screens

    async def look(self, handle: RuntimeHandle, lines: int = 50) -> Look:
        lines = max(1, int(lines))
        cut = self._cut
        result = await self._tmux(
            handle,
            "capture-pane", "-p", "-J", "-t", TARGET, "-S", f"-{lines}", ";",
            "display-message", "-p", "-t", TARGET, f"{cut} #{{pane_dead}} #{{pid}} #{{window_activity}} #{{pane_dead_status}}", ";",
            "capture-pane", "-p", "-t", TARGET, ";",
            "display-message", "-p", "-t", TARGET, f"{cut} #{{cursor_x}} #{{cursor_y}}",
            what="capture-pane",
        )  # fmt: skip
        parts = result.out.split("\n")
        marks = [i for i, row in enumerate(parts) if row.startswith(cut + " ")]
        if len(marks) != 2:
            raise RuntimeError_(f"pod {pod_name(handle.name)}: unexpected capture output")
        await self._note_exit(handle, parts[marks[0]][len(cut) + 1 :])
        rows = [row.rstrip() for row in parts[: marks[0]]]
        while rows and not rows[-1]:
            rows.pop()
        visible = parts[marks[0] + 1 : marks[1]]
        before = None
        x_text, _, y_text = parts[marks[1]][len(cut) + 1 :].strip().partition(" ")
        if x_text.isdigit() and y_text.isdigit() and int(y_text) < len(visible):
            before = _cells_prefix(visible[int(y_text)], int(x_text)).rstrip()
        return Look("\n".join(rows[-lines:]), before)

    # -- input ----------------------------------------------------------------------------------

    async def paste(self, handle: RuntimeHandle, text: str) -> None:
        """One bracketed paste: the text on the exec's stdin into `tmux load-buffer -`, then
        `paste-buffer -p`. A v4-only API server (no way to end stdin) gets `set-buffer` with the
        text as one argument instead, up to 8 KB (still argv, never a shell)."""
        data = sanitize_paste_text(text)
        if not data:
            return
        try:
            await self._tmux(handle, "load-buffer", "-b", BUFFER, "-", stdin=data, what="load-buffer")
        except StdinNeedsV5:
            if len(data) > SET_BUFFER_LIMIT:
                raise RuntimeError_(
                    f"the API server speaks only v4.channel.k8s.io; a paste over {SET_BUFFER_LIMIT} bytes needs v5 (Kubernetes 1.30+)"
                ) from None
            await self._tmux(handle, "set-buffer", "-b", BUFFER, "--", data.decode("utf-8", "replace"), what="set-buffer")
        try:
            await self._tmux(handle, "paste-buffer", "-p", "-d", "-b", BUFFER, "-t", TARGET, what="paste-buffer")
        except RuntimeError_:
            try:
                await self._exec(handle, ["tmux", "delete-buffer", "-b", BUFFER])
            except RuntimeError_:
                pass
            raise

    async def press_enter(self, handle: RuntimeHandle) -> None:
        await self._tmux(handle, "send-keys", "-t", TARGET, "Enter", what="send-keys")

    # -- stop, pause, resume, clean up -----------------------------------------------------------

    async def kill(self, handle: RuntimeHandle) -> None:
        """The pod goes (a Sandbox: scaled to 0); the volume stays until `cleanup()`.
        Idempotent."""
        name = validate_name(handle.name)
        namespace, pod = self.server_of(handle), pod_name(name)
        version = await self.sandbox_version()
        if version and await self._scale_sandbox(version, namespace, pod, 0):
            return
        await self.api.call("DELETE", self._pods(namespace, pod), params={"gracePeriodSeconds": "0"}, missing_ok=True)

    async def pause(self, handle: RuntimeHandle) -> None:
        """Scale to 0: the pod goes, the volume (clone, agent state) stays for `resume()`."""
        await self.kill(handle)

    async def resume(self, handle: RuntimeHandle, spec: LaunchSpec | None = None) -> RuntimeHandle:
        """A pod again on the session's volume: the manifest kept at create (or one made from
        `spec`, e.g. the agent's resume command). The new handle (new pod uid) replaces the old."""
        name = validate_name(handle.name)
        namespace, pod = self.server_of(handle), pod_name(name)
        self._exited.pop(name, None)
        version = await self.sandbox_version()
        if version:
            if spec is not None:
                manifest = self._pod_manifest(spec, pod, *(await _workspace_source(spec.cwd)))
                await self._create_sandbox(version, namespace, pod, manifest, spec)
            elif not await self._scale_sandbox(version, namespace, pod, 1):
                raise RuntimeError_(f"no Sandbox {pod} in namespace {namespace} to resume: the session was cleaned up")
            uid = None
        else:
            claim = await self.api.call("GET", self._claims(namespace, claim_name(pod)), missing_ok=True)
            if claim is None:
                raise RuntimeError_(f"no volume {claim_name(pod)} in namespace {namespace} to resume on: the session was cleaned up")
            if spec is not None:
                manifest = self._pod_manifest(spec, pod, *(await _workspace_source(spec.cwd)))
            else:
                stored = ((claim.get("metadata") or {}).get("annotations") or {}).get(POD_ANNOTATION)
                if not stored:
                    raise RuntimeError_(f"volume {claim_name(pod)} has no {POD_ANNOTATION} annotation: resume with a launch spec")
                manifest = json.loads(stored)
            uid = await self._create_pod(namespace, pod, manifest)
        new = RuntimeHandle(kind=self.kind, name=name, pane_id=uid, socket=namespace)
        await self._wait_started(new)
        return new

    async def cleanup(self, handle: RuntimeHandle) -> None:
        """Everything of the session: the pod (or Sandbox) and its volume. Idempotent."""
        name = validate_name(handle.name)
        namespace, pod = self.server_of(handle), pod_name(name)
        version = await self.sandbox_version()
        if version:
            await self.api.call("DELETE", self._sandboxes(version, namespace, pod), missing_ok=True)
        await self.api.call("DELETE", self._pods(namespace, pod), params={"gracePeriodSeconds": "0"}, missing_ok=True)
        await self.api.call("DELETE", self._claims(namespace, claim_name(pod)), missing_ok=True)
        self._exited.pop(name, None)
        self._uids.pop(name, None)
        self._activity.pop(name, None)

    async def _scale_sandbox(self, version: str, namespace: str, pod: str, replicas: int) -> bool:
        got = await self.api.call(
            "PATCH", self._sandboxes(version, namespace, pod), body={"spec": {"replicas": replicas}},
            content_type="application/merge-patch+json", missing_ok=True,
        )
        return got is not None

    # -- watching ------------------------------------------------------------------------------

    def _kubectl_argv(self, handle: RuntimeHandle, *tmux_args: str) -> list[str]:
        return [
            self.kubectl, "exec", "-it", "-n", self.server_of(handle), pod_name(validate_name(handle.name)),
            "-c", CONTAINER, "--", "tmux", "attach-session", *tmux_args, "-t", f"={TMUX_SESSION}",
        ]  # fmt: skip

    def attach_argv(self, handle: RuntimeHandle) -> list[str] | None:
        """`kubectl exec -it ... tmux attach` (kubectl's own kubeconfig must reach the cluster);
        None when kubectl is not installed."""
        if shutil.which(self.kubectl) is None:
            return None
        return self._kubectl_argv(handle)

    def viewer_command(self, handle: RuntimeHandle, *, control: bool) -> ViewerCommand:
        if shutil.which(self.kubectl) is None:
            raise RuntimeError_(f"{self.kubectl} is not installed: the dashboard watches pods through kubectl exec (Debian: kubernetes-client)")
        args = () if control else ("-r", "-f", "ignore-size")
        return ViewerCommand(
            argv=self._kubectl_argv(handle, *args),
            env=child_env(tool=False),
            can_type=False,
            readonly_reason="a pod's viewer cannot switch to typing; open a typing viewer instead",
        )

    async def set_viewer_control(self, handle: RuntimeHandle, terminal: str, control: bool) -> None:
        raise RuntimeError_("a pod's viewer cannot switch between watching and typing; open it again")

    def hold_window_size(self, handle: RuntimeHandle) -> AbstractAsyncContextManager[None]:
        # Read-only viewers attach with `-f ignore-size`: they never resize the agent's window.
        @asynccontextmanager
        async def held() -> AsyncIterator[None]:
            yield

        return held()


def _pod_dead(pod: dict[str, Any]) -> tuple[bool, int | None, str]:
    """(the agent is gone, its exit status, why) from a pod object."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return True, None, "being deleted"
    agent = next((c for c in status.get("containerStatuses") or [] if c.get("name") == CONTAINER), None)
    state = (agent or {}).get("state") or {}
    terminated = state.get("terminated")
    if terminated is not None:
        return True, terminated.get("exitCode"), f"the agent container ended ({terminated.get('reason') or 'terminated'})"
    for init in status.get("initContainerStatuses") or []:
        ended = ((init.get("state") or {}).get("terminated")) or {}
        if ended and ended.get("exitCode") not in (0, None):
            return True, ended.get("exitCode"), f"the workspace clone failed (exit {ended.get('exitCode')})"
    waiting = (state.get("waiting") or {}).get("reason")
    if waiting in FATAL_WAITING:
        return True, None, f"the agent container cannot start ({waiting})"
    phase = status.get("phase")
    if phase in ("Succeeded", "Failed"):
        return True, None, f"phase {phase}"
    return False, None, ""


async def _workspace_source(cwd: Path) -> tuple[str, str, str]:
    """(remote URL, branch, base commit) of the session's local workspace: what the pod clones
    and checks out. The branch's remote, else `origin`, else the only remote."""

    async def git(*args: str) -> str | None:
        try:
            result = await run(["git", "-C", str(cwd), *args], timeout=10)
        except (ToolTimeout, OSError):
            return None
        return result.out.strip() if result.ok else None

    branch = await git("symbolic-ref", "--short", "-q", "HEAD")
    if not branch:
        raise RuntimeError_(f"{cwd} is not on a branch: a kubernetes session clones the project's remote and checks out the session branch")
    remote = await git("config", f"branch.{branch}.remote")
    remotes = (await git("remote") or "").split()
    if not remote or remote not in remotes:
        remote = "origin" if "origin" in remotes else (remotes[0] if len(remotes) == 1 else None)
    if not remote:
        raise RuntimeError_(f"the project at {cwd} has no remote: a kubernetes session clones it from its remote (git remote add origin URL)")
    url = await git("remote", "get-url", remote)
    if not url:
        raise RuntimeError_(f"cannot read the URL of remote {remote} in {cwd}")
    base = await git("rev-parse", "-q", "--verify", "HEAD^{commit}") or ""
    return url, branch, base
