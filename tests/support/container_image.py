"""A container engine and a small image for tests, built locally (no registry, ever).

    engine = shared_engine()        # podman with its own --root/--runroot under a temp dir
    engine.image                    # "localhost/aod-test:1", built once per test process
    engine.podman("ps", "-a")       # a podman command on that storage

The engine: Debian's podman with `--runtime runc` and a containers.conf with explicit ulimits
(crun and the default ulimits fail in this sandbox: /work/shared/INFRA.md, "Containers"), and
storage of its own, so tests never see (or reap) anybody else's containers.

The image: a root filesystem assembled from the host's own files: busybox (static) for the
shell and `sleep`, `/lib` and `/lib64` as links into `/usr` (so a session that bind-mounts the
host's `/usr` read-only runs the host's python3 on the scripted agent), and the scripted agent
itself at /opt/ao-test/fake_agent.py. `tar` + `podman import` makes it an image.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.tmux import FAKE_AGENT

IMAGE = "localhost/aod-test:1"
AGENT_IN_IMAGE = "/opt/ao-test/fake_agent.py"
CONTAINERS_CONF = """[containers]
default_ulimits=["nofile=10000:10000","nproc=4096:4096"]
[engine]
runtime="runc"
"""
BUSYBOX_APPLETS = ("sh", "sleep", "ls", "cat", "env", "id", "echo", "test", "wget", "ping")


def podman_missing() -> str | None:
    """Why container tests cannot run here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (Debian: apt install podman runc)"
    if shutil.which("runc") is None:
        return "runc is not installed (Debian: apt install runc)"
    if _busybox() is None:
        return "busybox (static) is not installed (Debian: apt install busybox-static)"
    return None


def _busybox() -> str | None:
    for candidate in ("/bin/busybox", "/usr/bin/busybox"):
        if Path(candidate).is_file():
            return candidate
    return shutil.which("busybox")


@dataclass
class Engine:
    root: Path
    image: str = IMAGE
    built: bool = field(default=False)

    @property
    def conf(self) -> Path:
        return self.root / "containers.conf"

    @property
    def engine_args(self) -> list[str]:
        return ["--root", str(self.root / "storage"), "--runroot", str(self.root / "run"), "--runtime", "runc"]

    @property
    def env(self) -> dict[str, str]:
        """What aod (or any podman client) needs in its environment for this engine."""
        return {"CONTAINERS_CONF": str(self.conf)}

    def podman(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", *self.engine_args, *args],
            env={**os.environ, **self.env}, capture_output=True, text=True, timeout=timeout, check=check,
        )

    def labelled(self, label: str) -> list[str]:
        """Names of the containers carrying `label` (`key` or `key=value`)."""
        out = self.podman("ps", "-a", "--filter", f"label={label}", "--format", "{{.Names}}").stdout
        return out.split()

    def config_yaml(self, *, mounts: list[str] = (), extra: str = "") -> str:  # type: ignore[assignment]
        """The `container:` mapping for aod's config (flow style, one line)."""
        import json

        parts = [
            "engine: podman",
            f"image: {json.dumps(self.image)}",
            "network: none",
            f"engine_args: {json.dumps(self.engine_args)}",
            f"mounts: {json.dumps(['/usr:/usr:ro', *mounts])}",
        ]
        if extra:
            parts.append(extra)
        return "{" + ", ".join(parts) + "}"

    def build(self) -> None:
        if self.built:
            return
        rootfs = self.root / "rootfs"
        for sub in ("bin", "etc", "tmp", "proc", "sys", "dev", "root", "opt/ao-test", "home"):
            (rootfs / sub).mkdir(parents=True, exist_ok=True)
        busybox = _busybox()
        assert busybox is not None
        shutil.copy2(busybox, rootfs / "bin" / "busybox")
        for applet in BUSYBOX_APPLETS:
            (rootfs / "bin" / applet).symlink_to("busybox")
        (rootfs / "lib").symlink_to("usr/lib")
        (rootfs / "lib64").symlink_to("usr/lib64")
        (rootfs / "usr").mkdir()
        (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
        (rootfs / "etc" / "group").write_text("root:x:0:\n")
        agent = rootfs / "opt" / "ao-test" / "fake_agent.py"
        shutil.copy2(FAKE_AGENT, agent)
        agent.chmod(0o755)  # run by its `#!/usr/bin/env python3`: a program only the image has
        tarball = self.root / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        self.podman("import", "--change", "ENV=LANG=C.UTF-8", str(tarball), self.image)
        self.built = True

    def close(self) -> None:
        try:
            self.podman("rm", "-af", "-t", "0", check=False, timeout=120)
            self.podman("system", "reset", "-f", check=False, timeout=120)
        except (OSError, subprocess.SubprocessError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)


_shared: Engine | None = None


def shared_engine() -> Engine:
    """The engine and image every test of this process shares (built on first use)."""
    global _shared
    if _shared is None:
        root = Path(tempfile.mkdtemp(prefix="aod-podman-", dir="/tmp"))
        engine = Engine(root)
        engine.conf.write_text(CONTAINERS_CONF)
        atexit.register(engine.close)
        _shared = engine
    _shared.build()
    return _shared
