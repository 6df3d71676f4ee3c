"""The container runtime (`runtime: container`): each agent runs inside an OCI container of its
own (podman or docker), driven from a pane of aod's own tmux server.

The shape (docs/scale-out.md, "Container sessions"):

- One container per session, started detached with a keep-alive command and nothing else:
  `<engine> run -d --pull never --name ao-<daemon>-<session> --label ao.session=<session>
  --label ao.project=<project> --label ao.daemon=<daemon> --network none -v WORKTREE:WORKTREE
  -w WORKTREE [-v MOUNT ...] [--env NAME ...] --entrypoint sleep IMAGE infinity`.
  The worktree is mounted at the path it has on the host (and, for a git worktree, the
  repository's git directory beside it, so `git commit` works in there): every absolute path
  aod hands the agent (its cwd, hook settings, `.git`'s `gitdir:` line) means the same inside.
  Nothing else of the host is visible unless configured (`mounts`). Secrets go by name only
  (`--env NAME`: the engine reads the value from aod's environment; no value in config or argv).
- The agent itself is started inside it from a tmux pane on the host:
  `<engine> exec -it -w WORKTREE -e AO_SESSION_ID ... ao-<daemon>-<session> AGENT ARGV`, in a
  session of aod's tmux server, so the tmux runtime (composed, not copied) does capture, paste,
  attach, the dashboard's viewers and the snapshot: ONE `tmux list-panes -a` for every session,
  rather than one `exec` into every container every tick. The session's own variables reach
  the agent by name too (`-e NAME`, the value from the pane's environment).
- Liveness: the pane says (the `exec` client lives as long as the agent does). One
  `<engine> ps -a --filter label=ao.daemon=<daemon>` per snapshot (cached for a second, so the
  outbox's own probes do not add more) tells which containers exist: a live pane whose
  container is gone or stopped is dead. An engine that fails or hangs tells nothing: the pane
  decides, never "dead" on the engine's silence.
- Both the tmux session and the container outlive aod: after a restart the handle finds them
  again (re-adoption is nothing more). `kill()` ends both. `reap(live)`, called by the tick,
  removes every container of this aod whose session is no longer live (ended, archived, or
  unknown: the leftovers of a kill -9), after checking once more against the store.

May import: plugins/runtime (values, errors, the tmux runtime), proc, config (models).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import structlog
import trio

from aod.config.scale_out import ContainerConfig
from aod.model import RuntimeHandle
from aod.plugins.runtime import LaunchSpec, Liveness, Look, PaneState, RuntimeError_, Snapshot, ViewerCommand
from aod.plugins.runtime.tmux import TmuxRuntime
from aod.plugins.runtime.tmux_client import validate_name
from aod.proc import Result, ToolMissing, ToolTimeout, child_env, run

log = structlog.get_logger()

PS_MAX_AGE: Final = 1.0
"""Seconds one `ps` answers every snapshot that asks (the tick, a delivery's check)."""
REAP_EVERY: Final = 60.0
"""Seconds between sweeps for orphans when no snapshot looked at the containers anyway."""
RUN_TIMEOUT: Final = 60.0
"""`run` may have to set up storage for a new image layer; a hung engine still ends."""
ENV_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
LABEL_SESSION: Final = "ao.session"
LABEL_PROJECT: Final = "ao.project"
LABEL_DAEMON: Final = "ao.daemon"
# Passed through to the agent from the pane besides the session's own variables.
PASS_THROUGH: Final = ("TERM",)
_IMAGE_MISSING: Final = re.compile(
    r"image not known|no such image|unable to find image|image .* not found|manifest unknown|"
    r"failed to resolve image|pull access denied|repository .* not found",
    re.IGNORECASE,
)
_NAME_IN_USE: Final = re.compile(r"already in use|is already in use|conflict", re.IGNORECASE)
_NO_SUCH: Final = re.compile(r"no such container|no container with", re.IGNORECASE)


def daemon_label(location: Path | str) -> str:
    """This aod's mark on its containers (a hash of its state directory's path, `location`):
    two aods sharing one engine never reap each other's."""
    return hashlib.sha256(str(location).encode("utf-8", "surrogateescape")).hexdigest()[:10]


@dataclass(frozen=True)
class Container:
    """One container of this aod as one `ps` saw it."""

    name: str
    session: str
    state: str
    """The engine's word: running, created, exited, paused, stopping, ..."""
    engine: tuple[str, ...]
    """The engine's command (`podman --root ...`) that listed it, and removes it."""


class ContainerSnapshot(Snapshot):
    """The tmux snapshot plus what the engine said (`containers` None: it could not say)."""

    def __init__(self, panes: Snapshot, containers: dict[str, Container] | None) -> None:
        super().__init__(panes, server=panes.server)
        self.containers = containers


def engine_missing(engine: str) -> ToolMissing:
    missing = ToolMissing(engine)
    missing.args = (
        f"{engine!r} is not installed or not on aod's PATH: `runtime: container` needs it; "
        f"install {engine} (Debian: `apt install {engine}`{', runc' if engine == 'podman' else ''}) "
        "or set runtime.kind (or the project's runtime) to tmux",
    )
    return missing


def parse_ps(text: str) -> list[dict[str, Any]]:
    """`ps --format json` (podman: one JSON array) or `--format '{{json .}}'` (docker: one
    object a line)."""
    text = text.strip()
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        data = [json.loads(line) for line in text.splitlines() if line.strip()]
    if isinstance(data, dict):
        data = [data]
    return [row for row in data if isinstance(row, dict)]


def _labels(row: dict[str, Any]) -> dict[str, str]:
    labels = row.get("Labels")
    if isinstance(labels, dict):
        return {str(k): str(v) for k, v in labels.items()}
    if isinstance(labels, str):  # docker: "a=b,c=d"
        pairs = (part.partition("=") for part in labels.split(",") if part)
        return {k: v for k, _, v in pairs}
    return {}


def _name(row: dict[str, Any]) -> str:
    names = row.get("Names")
    if isinstance(names, list) and names:
        return str(names[0]).lstrip("/")
    return str(names or "").split(",")[0].lstrip("/")


def git_dirs(worktree: Path) -> list[Path]:
    """The directories besides `worktree` that git needs to work in it: a linked worktree's
    `.git` is a file naming `<repo>/.git/worktrees/<name>`, whose `commondir` is the repository's
    git directory (objects, refs). Both are mounted at their own paths. Blocking I/O."""
    dot_git = worktree / ".git"
    try:
        if not dot_git.is_file():
            return []
        first = dot_git.read_text(encoding="utf-8", errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return []
    if not first.startswith("gitdir:"):
        return []
    gitdir = Path(first[len("gitdir:") :].strip())
    if not gitdir.is_absolute():
        gitdir = (worktree / gitdir).resolve()
    try:
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve()
    except OSError:
        return [gitdir]
    if gitdir.is_relative_to(common):
        return [common]
    return [common, gitdir]


class ContainerRuntime:
    """Agents in containers of `engine` (settings per project), watched through `tmux`."""

    kind = "container"
    echoes_input = True
    agent_on_host = False
    """The agent's program is looked for in the image, not on aod's PATH (spawn skips that
    check; a program the image lacks ends the agent at once: the pane shows the engine's
    "executable file not found", the session errors with status 127)."""

    def __init__(
        self,
        tmux: TmuxRuntime,
        settings: Callable[[str | None], ContainerConfig],
        engines: Callable[[], Iterable[ContainerConfig]],
        *,
        daemon: str,
        timeout: float = 5.0,
        in_use: Callable[[], bool] = lambda: True,
    ) -> None:
        """`settings(project)`: the container settings for a project's sessions (None: the
        global ones); `engines()`: every setting in use, so that every engine is asked;
        `daemon`: this aod's label (`daemon_label`); `in_use()`: whether config asks for
        containers at all (else `reap` looks only when a container was seen before)."""
        self.tmux = tmux
        self.settings = settings
        self.engines = engines
        self.daemon = daemon
        self.timeout = timeout
        self.in_use = in_use
        self._ps: dict[str, Container] | None = None
        self._ps_at = float("-inf")
        self._swept_at = float("-inf")
        self._ever_seen = False
        self._last_live: set[str] = set()

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def engine_argv(settings: ContainerConfig) -> tuple[str, ...]:
        return (settings.engine, *settings.engine_args)

    def container_name(self, session: str) -> str:
        return f"ao-{self.daemon}-{validate_name(session)}"

    async def _engine(self, engine: Sequence[str], *args: str, timeout: float | None = None) -> Result:
        try:
            return await run([*engine, *args], timeout=timeout or self.timeout, env=child_env(tool=False))
        except ToolMissing:
            raise engine_missing(engine[0]) from None

    def _all_engines(self) -> list[tuple[str, ...]]:
        seen: dict[tuple[str, ...], None] = {}
        for settings in self.engines():
            seen.setdefault(self.engine_argv(settings))
        return list(seen)

    async def containers(self, max_age: float = PS_MAX_AGE) -> dict[str, Container] | None:
        """This aod's containers by session, from one `ps -a` per engine in use (a second-old
        answer is reused); None when an engine could not say (missing, hung, failed)."""
        now = time.monotonic()
        if now - self._ps_at <= max_age:
            return self._ps
        found: dict[str, Container] | None = {}
        for engine in self._all_engines():
            fmt = "json" if Path(engine[0]).name.startswith("podman") else "{{json .}}"
            try:
                result = await self._engine(engine, "ps", "-a", "--no-trunc", "--filter", f"label={LABEL_DAEMON}={self.daemon}", "--format", fmt)
            except (ToolMissing, ToolTimeout) as exc:
                log.warning("the container engine did not answer; containers unknown", engine=engine[0], error=str(exc))
                found = None
                break
            if not result.ok:
                log.warning("the container engine's ps failed; containers unknown", engine=engine[0], error=result.err.strip()[:300])
                found = None
                break
            try:
                rows = parse_ps(result.out)
            except ValueError:
                found = None
                break
            for row in rows:
                session = _labels(row).get(LABEL_SESSION)
                if session:
                    found[session] = Container(_name(row), session, str(row.get("State", "")).lower(), engine)
        self._ps, self._ps_at = found, time.monotonic()
        if found:
            self._ever_seen = True
        return found

    def _forget_ps(self) -> None:
        self._ps_at = float("-inf")

    async def _remove(self, engine: Sequence[str], names: Sequence[str]) -> None:
        """Remove containers at once, gone or not. Raises RuntimeError_ when the engine refused."""
        if not names:
            return
        podman = Path(engine[0]).name.startswith("podman")
        args = ["rm", "-f", "--ignore", "--time", "0"] if podman else ["rm", "-f"]
        try:
            result = await self._engine(engine, *args, *names, timeout=max(self.timeout, 30.0))
        except ToolTimeout as exc:
            raise RuntimeError_(f"{engine[0]} rm did not finish: {exc}; the next tick tries again") from None
        if result.ok:
            return
        left = [line for line in result.err.splitlines() if line.strip() and not _NO_SUCH.search(line)]
        if left:
            raise RuntimeError_(f"{engine[0]} rm {' '.join(names)} failed: {' '.join(left)[:300]}")

    # -- Runtime ------------------------------------------------------------------------------

    async def create(self, spec: LaunchSpec) -> RuntimeHandle:
        name = validate_name(spec.name)
        project = spec.env.get("AO_PROJECT")
        settings = self.settings(project)
        if not settings.image:
            raise RuntimeError_(
                "runtime: container needs an image: set runtime.container.image (or "
                "projects.NAME.container.image) to an image you built or pulled"
            )
        cwd = Path(spec.cwd)
        if not await trio.to_thread.run_sync(cwd.is_dir):
            raise RuntimeError_(f"the working directory {cwd} does not exist")
        for key in [*spec.env, *settings.env]:
            if ENV_NAME.fullmatch(key) is None:
                raise RuntimeError_(f"invalid environment variable name {key!r}")
        engine = self.engine_argv(settings)
        cname = self.container_name(name)
        extra = await trio.to_thread.run_sync(git_dirs, cwd)
        run_args = [
            "run", "-d", "--pull", "never",
            "--name", cname,
            "--label", f"{LABEL_SESSION}={name}",
            "--label", f"{LABEL_PROJECT}={project or ''}",
            "--label", f"{LABEL_DAEMON}={self.daemon}",
        ]  # fmt: skip
        if settings.network == "none":
            run_args += ["--network", "none"]
        run_args += ["-v", f"{cwd}:{cwd}", "-w", str(cwd)]
        for path in extra:
            run_args += ["-v", f"{path}:{path}"]
        for mount in settings.mounts:
            run_args += ["-v", mount]
        for key in settings.env:
            run_args += ["--env", key]  # by name: the engine takes the value from aod's environment
        run_args += [*settings.run_args, "--entrypoint", "sleep", settings.image, "infinity"]
        started = await self._engine(engine, *run_args, timeout=RUN_TIMEOUT)
        if not started.ok and _NAME_IN_USE.search(started.err):
            # A container left by an earlier run of this session (a restore after a crash).
            await self._remove(engine, [cname])
            started = await self._engine(engine, *run_args, timeout=RUN_TIMEOUT)
        if not started.ok:
            detail = started.err.strip() or started.out.strip() or f"exit status {started.returncode}"
            if _IMAGE_MISSING.search(detail):
                raise RuntimeError_(
                    f"the image {settings.image!r} is not in {engine[0]}'s local storage, and aod never pulls: "
                    f"build it (`{engine[0]} build -t {settings.image} ...` or `{engine[0]} import`) or pull it "
                    f"yourself, then spawn again ({detail[:200]})"
                )
            raise RuntimeError_(f"{engine[0]} run for session {name} failed: {detail[:500]}")
        self._forget_ps()
        exec_argv = [*engine, "exec", "-it"]
        if Path(engine[0]).name.startswith("podman"):
            exec_argv.append("--detach-keys=")  # Ctrl-P Ctrl-Q belong to the agent
        exec_argv += ["-w", str(cwd)]
        for key in [*spec.env, *PASS_THROUGH]:
            exec_argv += ["-e", key]  # by name: the value is the pane's (tmux new-session -e)
        exec_argv += [cname, *spec.argv]
        try:
            handle = await self.tmux.create(
                LaunchSpec(name=name, argv=exec_argv, cwd=cwd, env=spec.env, width=spec.width, height=spec.height)
            )
        except BaseException:
            with trio.CancelScope(shield=True):
                try:
                    await self._remove(engine, [cname])
                except Exception as exc:  # noqa: BLE001 - the reaper removes it later
                    log.warning("could not remove the container of a failed start", container=cname, error=str(exc))
            raise
        return RuntimeHandle(kind=self.kind, name=handle.name, pane_id=handle.pane_id, pid=handle.pid, socket=handle.socket)

    def server_of(self, handle: RuntimeHandle) -> str:
        return self.tmux.server_of(handle)

    async def snapshot(self, server: str = "") -> dict[str, PaneState] | None:
        panes = await self.tmux.snapshot(server)
        if panes is None:
            return None
        if not isinstance(panes, Snapshot):
            panes = Snapshot(panes, server=server or self.tmux.socket_name)
        return ContainerSnapshot(panes, await self.containers())

    def liveness(self, handle: RuntimeHandle, snapshot: dict[str, PaneState] | None) -> Liveness:
        seen = self.tmux.liveness(handle, snapshot)
        if seen != "alive":
            return seen
        containers = getattr(snapshot, "containers", None)
        if containers is None:
            return "alive"  # the engine could not say; the agent's pane is there
        container = containers.get(handle.name)
        if container is None or container.state in ("exited", "stopped", "dead", "created", "removing"):
            return "dead"
        if container.state == "running":
            return "alive"
        return "unknown"  # paused, stopping, restarting: not the agent's own doing

    async def capture(self, handle: RuntimeHandle, lines: int = 50) -> str:
        return await self.tmux.capture(handle, lines)

    async def capture_many(self, handles: Sequence[RuntimeHandle], lines: int = 50) -> dict[str, str]:
        return await self.tmux.capture_many(handles, lines)

    async def look(self, handle: RuntimeHandle, lines: int = 50) -> Look:
        return await self.tmux.look(handle, lines)

    async def paste(self, handle: RuntimeHandle, text: str) -> None:
        await self.tmux.paste(handle, text)

    async def press_enter(self, handle: RuntimeHandle) -> None:
        await self.tmux.press_enter(handle)

    async def kill(self, handle: RuntimeHandle) -> None:
        """The pane, then the container (from the engine that listed it, else from every engine
        in use). An engine that hangs leaves the container to the reaper."""
        await self.tmux.kill(handle)
        cname = self.container_name(handle.name)
        known = (self._ps or {}).get(handle.name)
        engines = [known.engine] if known is not None else self._all_engines()
        self._forget_ps()
        for engine in engines:
            try:
                await self._remove(engine, [cname])
            except RuntimeError_ as exc:
                log.warning("could not remove the session's container; the tick will", container=cname, error=str(exc))

    def attach_argv(self, handle: RuntimeHandle) -> list[str] | None:
        return self.tmux.attach_argv(handle)

    def viewer_command(self, handle: RuntimeHandle, *, control: bool) -> ViewerCommand:
        return self.tmux.viewer_command(handle, control=control)

    async def set_viewer_control(self, handle: RuntimeHandle, terminal: str, control: bool) -> None:
        await self.tmux.set_viewer_control(handle, terminal, control)

    def hold_window_size(self, handle: RuntimeHandle) -> AbstractAsyncContextManager[None]:
        return self.tmux.hold_window_size(handle)

    # -- reaping ------------------------------------------------------------------------------

    async def reap(self, live: set[str], fresh: Callable[[], Awaitable[set[str]]] | None = None) -> list[str]:
        """Remove this aod's containers whose session is not in `live` (the sessions not ended,
        and those being spawned). Looks at the engine only when it is worth it: the first call
        (the sweep after a restart), when a session in `live` last time is not any more, when a
        snapshot already asked the engine this tick, and once a minute while config uses
        containers. A container `live` misses is checked against `fresh()` (the store read
        again: `live` was read before the engine was asked) before it goes. Returns the
        sessions whose containers were removed."""
        now = time.monotonic()
        ended = bool(self._last_live - live)
        self._last_live = set(live)
        recent = now - self._ps_at <= PS_MAX_AGE
        wanted = self.in_use() or self._ever_seen
        due = recent or ended or (wanted and now - self._swept_at >= REAP_EVERY)
        if not due or not (wanted or recent):
            return []
        self._swept_at = now
        containers = await self.containers(max_age=PS_MAX_AGE if not ended else 0.0)
        if not containers:
            return []
        orphans = [c for c in containers.values() if c.session not in live]
        if orphans and fresh is not None:
            again = await fresh()
            orphans = [c for c in orphans if c.session not in again]
        by_engine: dict[tuple[str, ...], list[Container]] = {}
        for container in orphans:
            by_engine.setdefault(container.engine, []).append(container)
        removed: list[str] = []
        for engine, group in by_engine.items():
            try:
                await self._remove(engine, [c.name for c in group])
            except (RuntimeError_, ToolMissing) as exc:
                log.warning("could not remove orphaned containers", engine=engine[0], error=str(exc))
                continue
            removed += [c.session for c in group]
            log.info("removed containers of ended sessions", engine=engine[0], sessions=[c.session for c in group])
        if removed:
            self._forget_ps()
        return removed
