"""A session with `runtime: kubernetes`, end to end: aod and aoctl as processes, the project's
remote a real bare repository, the cluster the loopback Kubernetes API emulator (whose pods run
locally: the init container clones the remote, the scripted agent runs in a real tmux of the
pod's own). The first prompt and a hostile message reach the agent through exec; kill deletes the
pod and keeps the volume; aod killed -9 and restarted finds the session alive in its pod. Waits are on conditions, never fixed sleeps."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.kube_emulator import KubeEmulator
from tests.support.tmux import tmux_server

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

TOKEN = "e2e-kube-token"
HOSTILE = "fix `rm -rf /` and $(touch pwned); echo 'quoted' \"double\" | cat & \\ \t tab\nline two"


def test_a_kubernetes_session_from_spawn_to_kill(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "demo")
    remote = tmp_path / "demo.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "fetch", "-q", "origin")
    with tmux_server() as tmux, KubeEmulator(token=TOKEN, root=tmp_path / "cluster") as cluster:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        text = config_text(tmux, records, "projects:\n  demo: {runtime: kubernetes}\n")
        kube = {"api_url": cluster.api_url, "token": TOKEN, "image": "aod-agent:e2e", "namespace": "agents"}
        text = text.replace(f"runtime: {{tmux_socket: {tmux}}}", f"runtime: {{tmux_socket: {tmux}, kubernetes: {json.dumps(kube)}}}")
        aod.write_config(text)
        aod.start()
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))
        spawned = fleet.ok("spawn", "--task", HOSTILE)
        sid = spawned["id"]
        assert spawned["runtime"]["kind"] == "kubernetes" and fleet.tmux_sessions() == []
        pod = cluster.pod(sid, "agents")
        assert pod is not None and pod["metadata"]["labels"]["ao.session"] == sid
        clone = cluster.claim_dir(f"workspace-{sid}", "agents") / "repo"
        assert git(clone, "branch", "--show-current").strip() == spawned["branch"]

        wait_for(lambda: fleet.received(sid), 30, "the first prompt through exec")
        assert HOSTILE in fleet.received(sid)[0]
        fleet.ok("send", sid, HOSTILE)
        wait_for(lambda: fleet.received(sid).count(HOSTILE) == 1 and len(fleet.received(sid)) == 2, 30, "the message")
        assert not list(tmp_path.rglob("pwned"))
        lists = [e for e in cluster.requests("GET") if e.path == "/api/v1/namespaces/agents/pods"]
        assert lists and all(e.query.get("labelSelector") == ["ao.session"] for e in lists)
        assert fleet.ok("logs", sid)["alive"] == "alive"

        # An idle agent: each tick one list; a capture (one exec) only when the screen may have
        # moved, so far fewer execs than ticks.
        cluster.clear_log()
        wait_for(lambda: len([e for e in cluster.requests("GET") if e.path == "/api/v1/namespaces/agents/pods"]) >= 10, 30, "ten ticks")
        ticks = len([e for e in cluster.requests("GET") if e.path == "/api/v1/namespaces/agents/pods"])
        execs = len(cluster.requests(path_contains="/exec"))
        # (How few is the benchmark's business, tests/bench/bench_kubernetes.py; under load the
        # screen settles later, so only "not one per tick" is asserted here.)
        assert execs < ticks, (execs, ticks)

        # aod killed and started again: the pod ran on; the session is found alive in it.
        uid = cluster.pod(sid, "agents")["metadata"]["uid"]
        aod.proc.kill()
        aod.proc.wait()
        aod.start()
        assert cluster.pod(sid, "agents")["metadata"]["uid"] == uid
        assert fleet.ok("logs", sid)["alive"] == "alive"
        fleet.ok("send", sid, "after the restart")
        fleet.wait_received(sid, "after the restart")

        killed = fleet.ok("kill", sid)
        assert killed["state"] == "killed"
        assert cluster.pod(sid, "agents") is None
        assert ("agents", f"workspace-{sid}") in cluster.claims

        # Cleanup of a killed session keeps the volume (commits the agent never pushed may be
        # in it) and says so; --force releases it.
        kept = fleet.ok("cleanup")["items"]
        assert [(i["id"], i["action"]) for i in kept] == [(sid, "kept")] and "never pushed" in kept[0]["reason"]
        assert ("agents", f"workspace-{sid}") in cluster.claims
        removed = fleet.ok("cleanup", "--force")["items"]
        assert [(i["id"], i["action"]) for i in removed] == [(sid, "removed")]
        assert ("agents", f"workspace-{sid}") not in cluster.claims
