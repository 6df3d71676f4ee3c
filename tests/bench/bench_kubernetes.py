"""What a tick costs the kubernetes runtime: API requests and time for the liveness of 1, 10 and
100 pods, counted on the side of the loopback Kubernetes API (tests/support/kube_emulator.py).

    python -m tests.bench.bench_kubernetes [--ticks N]

A tick: `snapshot()` of the namespace plus `liveness()` of every session's handle, as the
observer's tick does. The pods are made in the emulator directly (running, a tenth of them with
their agent container terminated); no process runs for them, so what is measured is the plugin,
the HTTP round trip and the list's JSON. Target (issue 21): 1 list call a tick for all pods, never
one per session.

Also: what one exec costs (a capture of a real tmux in an emulated pod, a paste and Enter), the
WebSocket upgrade and channel protocol included, on loopback.
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import structlog
import trio
from pydantic import SecretStr

from aod.config.scale_out import KubernetesConfig
from aod.model import RuntimeHandle
from aod.plugins.runtime import LaunchSpec
from aod.plugins.runtime.kubernetes import KubernetesRuntime, pod_name
from tests.bench._common import median, p95
from tests.support.kube_emulator import KubeEmulator

TOKEN = "bench-token"


def pod_manifest(session: str) -> dict:
    return {
        "metadata": {"name": pod_name(session), "labels": {"ao.session": session, "ao.project": "demo", "app.kubernetes.io/name": "ao-agent"}},
        "spec": {
            "restartPolicy": "Never",
            "containers": [{"name": "agent", "image": "aod-agent:bench", "workingDir": "/workspace",
                            "command": ["sh", "-c", "...", "ao-agent", "claude", "--permission-mode", "acceptEdits"],
                            "env": [{"name": "AO_SESSION_ID", "value": session}, {"name": "AO_PROJECT", "value": "demo"}],
                            "volumeMounts": [{"name": "workspace", "mountPath": "/workspace"}]}],
            "volumes": [{"name": "workspace", "persistentVolumeClaim": {"claimName": f"workspace-{pod_name(session)}"}}],
        },
    }


async def measure(pods: int, ticks: int) -> dict[str, float]:
    with KubeEmulator(token=TOKEN) as emulator:
        handles = []
        for n in range(pods):
            session = f"demo-{n}"
            pod = emulator.add_pod("default", pod_manifest(session))
            if n % 10 == 9:
                pod["status"]["containerStatuses"][0]["state"] = {"terminated": {"exitCode": 1, "reason": "Error"}}
                pod["status"]["phase"] = "Failed"
            handles.append(RuntimeHandle(kind="kubernetes", name=session, pane_id=pod["metadata"]["uid"], socket="default"))
        runtime = KubernetesRuntime(KubernetesConfig(api_url=emulator.api_url, token=SecretStr(TOKEN), image="aod-agent:bench"))
        try:
            await runtime.snapshot()  # the connection opened
            emulator.clear_log()
            times, worst = [], 0
            for _ in range(ticks):
                before = len(emulator.requests())
                started = time.perf_counter()
                snap = await runtime.snapshot()
                states = [runtime.liveness(h, snap) for h in handles]
                times.append((time.perf_counter() - started) * 1000)
                worst = max(worst, len(emulator.requests()) - before)
                assert states.count("dead") == pods // 10 and states.count("alive") == pods - pods // 10
            return {"pods": pods, "requests": len(emulator.requests()) / ticks, "worst": worst,
                    "median": median(times), "p95": p95(times)}
        finally:
            await runtime.api.aclose()


async def measure_exec(rounds: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        def git(*args: str, cwd: Path) -> None:
            subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)
        (root / "seed").mkdir()
        git("init", "-q", "-b", "main", cwd=root / "seed")
        (root / "seed" / "README").write_text("x\n")
        git("add", "README", cwd=root / "seed")
        git("-c", "user.name=b", "-c", "user.email=b@e", "commit", "-qm", "one", cwd=root / "seed")
        git("clone", "-q", "--bare", str(root / "seed"), str(root / "remote.git"), cwd=root)
        git("clone", "-q", str(root / "remote.git"), str(root / "work"), cwd=root)
        git("checkout", "-q", "-b", "bench-1", cwd=root / "work")
        with KubeEmulator(token=TOKEN, root=root / "cluster") as emulator:
            runtime = KubernetesRuntime(KubernetesConfig(api_url=emulator.api_url, token=SecretStr(TOKEN), image="aod-agent:bench"))
            try:
                started = time.perf_counter()
                handle = await runtime.create(LaunchSpec(name="bench-1", argv=["sh", "-c", "echo ready; exec cat >/dev/null"], cwd=root / "work"))
                create_ms = (time.perf_counter() - started) * 1000
                captures, pastes = [], []
                for n in range(rounds):
                    started = time.perf_counter()
                    await runtime.capture(handle)
                    captures.append((time.perf_counter() - started) * 1000)
                    started = time.perf_counter()
                    await runtime.paste(handle, f"line {n} with $(quotes) 'and' \"more\"")
                    await runtime.press_enter(handle)
                    pastes.append((time.perf_counter() - started) * 1000)
                await runtime.cleanup(handle)
            finally:
                await runtime.api.aclose()
    return {"create": create_ms, "capture": median(captures), "capture95": p95(captures), "paste": median(pastes), "paste95": p95(pastes)}


async def main(ticks: int) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))  # stdout is the markdown
    rows = [await measure(pods, ticks) for pods in (1, 10, 100)]
    print("### Kubernetes runtime: API requests and time per tick (issue 21)\n")
    print(f"{ticks} ticks each; a tick = one `snapshot()` and `liveness()` of every session; counted on the")
    print("emulator's side (loopback HTTP, pods without processes). Target: 1 list call a tick for all pods.\n")
    print("| pods | requests/tick | worst tick | median ms/tick | p95 ms/tick |")
    print("|---:|---:|---:|---:|---:|")
    failed = False
    for row in rows:
        print(f"| {row['pods']} | {row['requests']:.2f} | {row['worst']} | {row['median']:.1f} | {row['p95']:.1f} |")
        failed |= row["worst"] > 1
    execs = await measure_exec(20)
    print("\nOne session's exec (20 rounds, a real tmux in an emulated pod, loopback): capture "
          f"{execs['capture']:.1f} ms median ({execs['capture95']:.1f} p95, one exec); paste + Enter "
          f"{execs['paste']:.1f} ms median ({execs['paste95']:.1f} p95, three execs); create (PVC, pod, "
          f"clone, tmux up) {execs['create']:.0f} ms — the emulator's, not a cluster's.")
    if failed:
        print("\n**Target missed.**")
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=50)
    sys.exit(trio.run(main, parser.parse_args().ticks))
