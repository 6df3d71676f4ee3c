"""`hosts.bootstrap NAME` (issue 21): this aod's version installed on a host over ssh, for hosts
that may not reach PyPI — the wheels are made here and copied over.

    1. here: `pip wheel` of this checkout (and its dependencies, as far as this machine's index
       has them) into a temporary directory
    2. there: `python3 -m venv ~/.local/share/ao/venv`
    3. there: each wheel copied to ~/.local/share/ao/wheels/ (`dd`, the bytes on ssh's stdin)
    4. there: `pip install --no-index --find-links ~/.local/share/ao/wheels aod` (with the index
       when some dependency could not be made here)

Every step an argv; the words ssh hands the remote shell are this module's own (paths of
aod's, wheel file names pip made), never user text. The answer says what ran and how it went.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import trio

from aod import proc
from aod.errors import RpcFailure
from aod.federation import routing
from aod.protocol import ErrorCode, HostBootstrapResult

if TYPE_CHECKING:
    from aod.federation.hosts import Hosts

VENV = ".local/share/ao/venv"
WHEELS = ".local/share/ao/wheels"
_SAFE_WHEEL = r"^[A-Za-z0-9._+-]+\.whl$"


def checkout_root() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").is_file() and (root / "aod").is_dir() else None


async def bootstrap(hosts: Hosts, name: str) -> HostBootstrapResult:
    import re

    cfg = hosts.app.config.hosts.get(name)
    if cfg is None:
        hosts.remote(name)  # the not-found error, with the known names
        raise AssertionError
    if not cfg.ssh:
        raise RpcFailure(ErrorCode.INVALID_PARAMS, f"host {name} has no `ssh` target (it is reached by `command`): bootstrap needs ssh")
    dest, port = routing.parse_target(cfg.ssh)
    ssh = ["ssh", *(["-F", cfg.ssh_config] if cfg.ssh_config else []), *routing.SSH_OPTIONS, *routing.CONNECT_TIMEOUT, *(["-p", str(port)] if port else []), dest, "--"]
    root = checkout_root()
    if root is None:
        raise RpcFailure(ErrorCode.UNAVAILABLE, "this aod is not run from a checkout with pyproject.toml: bootstrap copies the checkout; install aod on the host by hand (`pip install aod` in a venv) and set hosts.NAME.aoctl")
    steps: list[str] = []

    async def run(argv: list[str], what: str, stdin: bytes | None = None, timeout: float = 600) -> str:
        try:
            result = await proc.run(argv, timeout=timeout, stdin=stdin)
        except (proc.ToolMissing, proc.ToolTimeout) as exc:
            steps.append(f"{what}: failed ({exc})")
            raise RpcFailure(ErrorCode.UNAVAILABLE, f"bootstrap of host {name} stopped: {steps[-1]}", {"steps": steps}) from None
        ok = result.returncode == 0
        steps.append(f"{what}: {'ok' if ok else 'failed (' + (result.err or result.out).strip()[-300:] + ')'}")
        if not ok:
            raise RpcFailure(ErrorCode.UNAVAILABLE, f"bootstrap of host {name} stopped: {steps[-1]}", {"steps": steps})
        return result.out

    with tempfile.TemporaryDirectory(prefix="ao-wheels-") as tmp:
        offline = True
        try:
            await run([sys.executable, "-m", "pip", "wheel", "-q", "-w", tmp, str(root)], f"here: pip wheel {root} with its dependencies")
        except RpcFailure:
            offline = False
            await run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", tmp, str(root)], f"here: pip wheel {root} alone")
        wheels = sorted(p for p in Path(tmp).iterdir() if re.match(_SAFE_WHEEL, p.name))
        await run([*ssh, "python3", "-m", "venv", f"~/{VENV}"], f"{name}: python3 -m venv ~/{VENV}")
        await run([*ssh, "mkdir", "-p", WHEELS], f"{name}: mkdir -p ~/{WHEELS}")
        for wheel in wheels:
            await run([*ssh, "dd", f"of={WHEELS}/{wheel.name}", "status=none"], f"{name}: copy {wheel.name}", stdin=await trio.Path(wheel).read_bytes())
        index = ["--no-index"] if offline else []
        await run([*ssh, f"{VENV}/bin/pip", "install", "-q", *index, "--find-links", WHEELS, "aod"],
                  f"{name}: pip install aod{' (no index: the wheels copied)' if offline else ' (dependencies from its index)'}")
        home = (await run([*ssh, "pwd"], f"{name}: home")).strip()
    aoctl = f"{home}/{VENV}/bin/aoctl"
    steps.append(f"set hosts.{name}.aoctl: [{aoctl}] (then `aoctl daemon reload`)")
    hosts.remote(name).wake()
    return HostBootstrapResult(name=name, venv=f"{home}/{VENV}", aoctl=aoctl, steps=steps)
