"""Beyond one machine, and safer on one (issue 21): `runtime.container` (the agent in an OCI
container), `runtime.kubernetes` (one session, one pod), and `hosts` with `placement` (other
machines' aods, federated over SSH).

One job: these sections' models. May import: pydantic and this package's `fields`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from aod.config.fields import MINUTE, Argv, HttpUrl, Integer, PositiveDuration, Section, at_most

HOST_NAME = r"^[a-z0-9][a-z0-9-]{0,31}$"


class ContainerConfig(Section):
    """`runtime.container` (and `projects.NAME.container`, which replaces it as a whole): how a
    `runtime: container` session's agent is boxed in."""

    engine: Literal["podman", "docker"] = "podman"
    # The image the agent runs in (built or pulled by you; aod never pulls).
    image: str | None = None
    # `none`: no network at all for the agent; `default`: the engine's default network.
    network: Literal["none", "default"] = "none"
    # Extra bind mounts, `HOST_PATH:CONTAINER_PATH[:ro]`; nothing of your home is visible otherwise.
    mounts: list[str] = Field(default_factory=list)
    # Names of variables passed from aod's environment (secrets by name, never by value in config).
    env: list[str] = Field(default_factory=list)
    # Flags of the engine itself, before its command (`--root`, `--runroot`, `--runtime runc`,
    # `--storage-driver overlay`; docker: `-H unix://...`).
    engine_args: list[str] = Field(default_factory=list)
    # Extra flags of `run` (`--ulimit nofile=10000:10000`, `--userns keep-id`, `--memory 4g`).
    run_args: list[str] = Field(default_factory=list)


class KubernetesConfig(Section):
    """`runtime.kubernetes`: the cluster `runtime: kubernetes` sessions run in."""

    # The API server; unset: in-cluster (KUBERNETES_SERVICE_HOST), else an error saying to set it.
    api_url: HttpUrl | None = None
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")] = "default"
    # A bearer token; unset: the service account's token file, else KUBERNETES_TOKEN.
    token: SecretStr | None = None
    image: str | None = None
    # The persistent volume of each session's workspace.
    storage: str = "10Gi"
    timeout: Annotated[PositiveDuration, at_most(10 * MINUTE)] = 10.0
    # A PEM file of the CA that signed the API server's certificate; unset: the service account's
    # ca.crt when in-cluster, else the system's CAs.
    ca_file: str | None = None
    # `auto`: a `Sandbox` (agents.x-k8s.io) per session when that CRD is installed, else a Pod and
    # a PVC; `off`: always a Pod and a PVC.
    sandbox: Literal["auto", "off"] = "auto"
    # Resources of the agent's container (requests = limits), Kubernetes quantities; unset: none.
    cpu: str | None = None
    memory: str | None = None
    # A Secret whose keys become the agent's environment (its API keys), by name only.
    env_secret: str | None = None
    # The StorageClass of the sessions' volumes; unset: the cluster's default.
    storage_class: str | None = None


class HostConfig(Section):
    """`hosts.NAME`: another machine whose aod runs sessions for this one."""

    # `user@host[:port]`, or a `Host` alias of ~/.ssh/config (keys, ProxyJump, ControlMaster
    # from there); never a password prompt.
    ssh: str | None = None
    # Instead of ssh: the command that speaks aod's JSON-RPC on its stdin/stdout (argv).
    command: Argv | None = None
    # The remote aoctl (argv), when it is not on the remote PATH.
    aoctl: Argv = Field(default_factory=lambda: ["aoctl"])
    # issue 21: an ssh_config file for this host's ssh (`ssh -F FILE`) instead of ~/.ssh/config.
    ssh_config: Annotated[str, Field(pattern=r"^/")] | None = None
    # Sessions this host may run at most (placement skips it when full); unset: no limit.
    max_sessions: Annotated[Integer, Field(ge=1, le=100_000)] | None = None


class PlacementConfig(Section):
    """`placement`: which host a spawn without `--host` goes to."""

    # `local`: this machine, unless a project is pinned; `least-loaded`: the host (this machine
    # included) with the fewest live sessions; `round-robin`: each in turn.
    policy: Literal["local", "least-loaded", "round-robin"] = "local"
    # Projects pinned to a host (`local` for this machine).
    pinned: dict[str, Annotated[str, Field(pattern=HOST_NAME)]] = Field(default_factory=dict)
