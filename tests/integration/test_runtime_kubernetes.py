"""KubernetesRuntime, unmodified, against the loopback Kubernetes API (tests/support/kube_emulator.py):
pods that run locally (init clone, tmux in the container), exec over the real WebSocket channel
protocol, list calls counted. No real cluster runs here."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
from pydantic import SecretStr

from aod.config.scale_out import KubernetesConfig
from aod.model import RuntimeHandle
from aod.plugins.runtime import LaunchSpec, RuntimeError_
from aod.plugins.runtime.kube_api import KubeApi, KubeError
from aod.plugins.runtime.kubernetes import KubernetesRuntime, claim_name, pod_name
from tests.support.kube_emulator import KubeEmulator

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None or shutil.which("git") is None, reason="needs tmux and git")

TOKEN = "test-token-1"
HOSTILE = "it's \"quoted\" `uname` $(touch pwned) $HOME; rm -rf pwned2 && echo hi | cat\nsecond line \\ \t tab\n  indented"


async def until(predicate: Callable[[], Awaitable[Any]], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll an async `predicate` until it is truthy (a condition with a deadline)."""
    deadline = trio.current_time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if trio.current_time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await trio.sleep(0.05)


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A project's remote (bare) and a local workspace on the session branch, as spawn makes it."""
    remote = tmp_path / "remote.git"
    seed = tmp_path / "seed"
    seed.mkdir()
    _git("init", "-q", "-b", "main", cwd=seed)
    (seed / "README").write_text("hello\n")
    _git("add", "README", cwd=seed)
    _git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "-m", "first", cwd=seed)
    _git("clone", "-q", "--bare", str(seed), str(remote), cwd=tmp_path)
    work = tmp_path / "work"
    _git("clone", "-q", str(remote), str(work), cwd=tmp_path)
    _git("checkout", "-q", "-b", "sess-1", cwd=work)
    return work


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[KubeEmulator]:
    with KubeEmulator(token=TOKEN, root=tmp_path / "cluster") as emu:
        yield emu


_OPEN: list[KubernetesRuntime] = []


@pytest.fixture(autouse=True)
async def _close_clients() -> Any:
    yield
    while _OPEN:
        await _OPEN.pop().api.aclose()


def make_runtime(emu: KubeEmulator, **overrides: Any) -> KubernetesRuntime:
    config = KubernetesConfig(api_url=emu.api_url, token=SecretStr(TOKEN), image="aod-agent:test", timeout=5, storage="2Gi",
                              **overrides)
    runtime = KubernetesRuntime(config)
    _OPEN.append(runtime)
    return runtime


@pytest.fixture
def runtime(emulator: KubeEmulator) -> KubernetesRuntime:
    return make_runtime(emulator)


def spec(repo: Path, name: str = "sess-1", argv: list[str] | None = None) -> LaunchSpec:
    return LaunchSpec(
        name=name,
        argv=argv or ["sh", "-c", "echo agent-ready; exec cat > got.txt"],
        cwd=repo,
        env={"AO_SESSION_ID": name, "AO_PROJECT": "demo", "MY_VAR": "x y"},
    )


async def test_create_makes_a_claim_and_a_pod_with_the_clone_on_the_session_branch(
    emulator: KubeEmulator, runtime: KubernetesRuntime, repo: Path
) -> None:
    handle = await runtime.create(spec(repo))
    pod = emulator.pod("sess-1")
    assert pod is not None and handle.pane_id == pod["metadata"]["uid"] and handle.socket == "default"
    labels = pod["metadata"]["labels"]
    assert labels["ao.session"] == "sess-1" and labels["ao.project"] == "demo" and labels["app.kubernetes.io/name"] == "ao-agent"
    container = pod["spec"]["containers"][0]
    assert container["image"] == "aod-agent:test" and container["name"] == "agent"
    claim = emulator.claims[("default", "workspace-sess-1")]
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == "workspace-sess-1"
    clone = emulator.claim_dir("workspace-sess-1") / "repo"
    assert _git("rev-parse", "--abbrev-ref", "HEAD", cwd=clone) == "sess-1"
    assert (clone / "README").read_text() == "hello\n"
    snap = await runtime.snapshot()
    assert runtime.liveness(handle, snap) == "alive"
    assert snap["sess-1"].activity_at is None, "never captured: the screen may have moved"
    assert "agent-ready" in await runtime.capture(handle)
    activity = (await runtime.snapshot())["sess-1"].activity_at
    assert activity is not None and abs(activity - time.time()) < 60, "the pane's last output, from the capture"
    argv = runtime.attach_argv(handle)
    if shutil.which("kubectl"):
        assert argv == ["kubectl", "exec", "-it", "-n", "default", "sess-1", "-c", "agent", "--", "tmux", "attach-session", "-t", "=ao"]
    await runtime.cleanup(handle)


async def test_one_list_call_per_snapshot_for_all_pods(emulator: KubeEmulator, runtime: KubernetesRuntime, repo: Path) -> None:
    handles = []
    for n in range(3):
        _git("checkout", "-q", "-B", f"sess-{n}", cwd=repo)
        handles.append(await runtime.create(spec(repo, f"sess-{n}")))
    for n in range(40):  # pods of other sessions, running
        emulator.add_pod("default", {"metadata": {"name": f"other-{n}", "labels": {"ao.session": f"other-{n}"}},
                                     "spec": {"containers": [{"name": "agent", "image": "x"}]}})
    emulator.add_pod("default", {"metadata": {"name": "unrelated"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})
    emulator.clear_log()
    snap = await runtime.snapshot()
    log = emulator.requests()
    assert len(log) == 1 and log[0].method == "GET" and log[0].path == "/api/v1/namespaces/default/pods"
    assert log[0].query == {"labelSelector": ["ao.session"]}
    assert snap is not None and len(snap) == 43 and "unrelated" not in snap
    assert all(runtime.liveness(h, snap) == "alive" for h in handles)
    assert runtime.liveness(RuntimeHandle(kind="kubernetes", name="sess-0", socket="elsewhere"), snap) == "unknown"
    for handle in handles:
        await runtime.cleanup(handle)


async def test_capture_paste_enter_through_exec_on_a_real_tmux_hostile_text_verbatim(
    emulator: KubeEmulator, runtime: KubernetesRuntime, repo: Path
) -> None:
    handle = await runtime.create(spec(repo))
    clone = emulator.claim_dir("workspace-sess-1") / "repo"
    await until(lambda: _async(lambda: "agent-ready" in _screen(emulator)), what="the agent's first output")
    emulator.clear_log()
    await runtime.paste(handle, HOSTILE)
    await runtime.press_enter(handle)
    execs = emulator.requests(path_contains="/exec")
    assert [e.query["command"][:2] for e in execs] == [["tmux", "load-buffer"], ["tmux", "paste-buffer"], ["tmux", "send-keys"]]
    assert all(HOSTILE not in json.dumps(e.query) for e in execs), "the text never travels in a command line"
    got = clone / "got.txt"
    await until(lambda: _async(lambda: got.exists() and got.read_text() == HOSTILE + "\n"), what="the pasted text at the agent")
    assert not list(emulator.root.rglob("pwned")) and not (clone / "pwned").exists()
    screen = await runtime.capture(handle, lines=20)
    assert "$(touch pwned)" in screen and "second line" in screen
    look = await runtime.look(handle)
    assert "agent-ready" in look.text and look.before_cursor is not None
    many = await runtime.capture_many([handle, RuntimeHandle(kind="kubernetes", name="nope", socket="default")])
    assert set(many) == {"sess-1"}
    await runtime.cleanup(handle)


def _screen(emulator: KubeEmulator) -> str:
    result = subprocess.run(["tmux", "capture-pane", "-p", "-t", "=ao:"], env=emulator.tmux_env("sess-1"), capture_output=True, text=True)
    return result.stdout


async def _async(check: Callable[[], Any]) -> Any:
    return check()


async def test_kill_deletes_the_pod_and_keeps_the_volume_cleanup_removes_both(
    emulator: KubeEmulator, runtime: KubernetesRuntime, repo: Path
) -> None:
    handle = await runtime.create(spec(repo))
    await runtime.kill(handle)
    assert emulator.pod("sess-1") is None
    assert ("default", "workspace-sess-1") in emulator.claims
    assert runtime.liveness(handle, await runtime.snapshot()) == "dead"
    await runtime.kill(handle)  # idempotent
    await runtime.cleanup(handle)
    assert ("default", "workspace-sess-1") not in emulator.claims
    await runtime.cleanup(handle)


async def test_pause_and_resume_keep_the_volume(emulator: KubeEmulator, runtime: KubernetesRuntime, repo: Path) -> None:
    handle = await runtime.create(spec(repo))
    clone = emulator.claim_dir("workspace-sess-1") / "repo"
    (clone / "work-in-progress.txt").write_text("not pushed yet\n")
    await runtime.pause(handle)
    assert emulator.pod("sess-1") is None and (clone / "work-in-progress.txt").exists()
    resumed = await runtime.resume(handle)
    pod = emulator.pod("sess-1")
    assert pod is not None and resumed.pane_id == pod["metadata"]["uid"] != handle.pane_id
    assert (clone / "work-in-progress.txt").read_text() == "not pushed yet\n"
    snap = await runtime.snapshot()
    assert runtime.liveness(resumed, snap) == "alive"
    assert runtime.liveness(handle, snap) == "dead", "the old pod's handle names another pod now"
    assert "agent-ready" in await runtime.capture(resumed)
    await runtime.cleanup(resumed)
    with pytest.raises(RuntimeError_, match="cleaned up"):
        await runtime.resume(resumed)


async def test_api_down_or_failing_is_unknown_never_dead(emulator: KubeEmulator, runtime: KubernetesRuntime, repo: Path) -> None:
    handle = await runtime.create(spec(repo))
    emulator.fail(503, times=10, path="/pods")
    assert runtime.liveness(handle, await runtime.snapshot()) == "unknown"
    emulator.down()
    runtime.api._http()._wait_until = 0  # the outage backoff of the shared client: ask again now
    assert await runtime.snapshot() is None
    with pytest.raises(RuntimeError_):
        await runtime.capture(handle)
    emulator.up()
    emulator._faults.clear()
    runtime.api._http()._wait_until = 0
    assert runtime.liveness(handle, await runtime.snapshot()) == "alive"
    emulator.fail(429, retry_after=30, path="/pods")
    assert await runtime.snapshot() is None, "rate limited: unknown, and nothing more is sent meanwhile"
    before = len(emulator.requests())
    assert await runtime.snapshot() is None and len(emulator.requests()) == before
    runtime.api._http()._wait_until = 0
    await runtime.cleanup(handle)


async def test_the_agents_exit_and_a_killed_container_read_dead(emulator: KubeEmulator, runtime: KubernetesRuntime, repo: Path) -> None:
    handle = await runtime.create(spec(repo, argv=["sh", "-c", "echo bye; sleep 0.3; exit 3"]))
    # The pane stays (remain-on-exit) and so does the container: the pod list alone says alive;
    # a capture reads the pane's exit and the next snapshot says dead, with the status.
    assert runtime.liveness(handle, await runtime.snapshot()) == "alive"

    async def exited() -> bool:
        screen = await runtime.capture(handle)
        snap = await runtime.snapshot()
        return "bye" in screen and runtime.liveness(handle, snap) == "dead" and snap["sess-1"].exit_status == 3

    await until(exited, what="the capture to see the agent's exit and its status")
    assert emulator.pod("sess-1")["status"]["phase"] == "Running"
    await runtime.kill(handle)
    _git("checkout", "-q", "-B", "sess-2", cwd=repo)
    other = await runtime.create(spec(repo, "sess-2"))
    subprocess.run(["tmux", "kill-server"], env=emulator.tmux_env("sess-2"), check=True)

    async def dead() -> bool:
        return runtime.liveness(other, await runtime.snapshot()) == "dead"

    await until(dead, what="the container to end")
    state = emulator.pod("sess-2")["status"]["containerStatuses"][0]["state"]
    assert "terminated" in state
    await runtime.cleanup(other)


async def test_the_sandbox_crd_when_installed(tmp_path: Path, repo: Path) -> None:
    with KubeEmulator(token=TOKEN, sandbox_crd=True, root=tmp_path / "cluster") as emu:
        runtime = make_runtime(emu)
        handle = await runtime.create(spec(repo))
        assert [e.path for e in emu.requests("GET", "/apis/agents.x-k8s.io")] == ["/apis/agents.x-k8s.io"]
        box = emu.sandboxes[("default", "sess-1")]
        assert box["spec"]["replicas"] == 1 and box["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "workspace"
        assert emu.pod("sess-1")["metadata"]["labels"]["ao.session"] == "sess-1"
        assert runtime.liveness(handle, await runtime.snapshot()) == "alive"
        clone = emu.claim_dir(claim_name("sess-1")) / "repo"
        assert (clone / "README").exists()
        await runtime.pause(handle)
        assert emu.sandboxes[("default", "sess-1")]["spec"]["replicas"] == 0 and emu.pod("sess-1") is None
        assert (clone / "README").exists()
        resumed = await runtime.resume(handle)
        assert emu.pod("sess-1") is not None and runtime.liveness(resumed, await runtime.snapshot()) == "alive"
        await runtime.cleanup(resumed)
        assert not emu.sandboxes and not emu.claims
        assert len(emu.requests("GET", "/apis/agents.x-k8s.io")) == 1, "discovery asked once"


async def test_a_v4_only_server_gets_set_buffer_in_argv(tmp_path: Path, repo: Path) -> None:
    with KubeEmulator(token=TOKEN, protocols=("v4.channel.k8s.io",), root=tmp_path / "cluster") as emu:
        runtime = make_runtime(emu)
        handle = await runtime.create(spec(repo))
        await runtime.paste(handle, "it's $(x)\nok")
        await runtime.press_enter(handle)
        got = emu.claim_dir("workspace-sess-1") / "repo" / "got.txt"
        await until(lambda: _async(lambda: got.exists() and got.read_text() == "it's $(x)\nok\n"), what="the text")
        with pytest.raises(RuntimeError_, match="v5"):
            await runtime.paste(handle, "x" * 20_000)
        await runtime.cleanup(handle)


async def test_auth_errors_say_what_to_do(emulator: KubeEmulator, repo: Path, tmp_path: Path) -> None:
    wrong = KubernetesRuntime(KubernetesConfig(api_url=emulator.api_url, token=SecretStr("nope"), image="i"))
    _OPEN.append(wrong)
    with pytest.raises(KubeError, match="401 Unauthorized"):
        await wrong.create(spec(repo))
    none = KubeApi(KubernetesConfig(api_url=emulator.api_url, image="i"), environ={}, service_account_dir=tmp_path / "sa")
    with pytest.raises(KubeError, match="KUBERNETES_TOKEN"):
        none.token()
    from_env = KubeApi(KubernetesConfig(api_url=emulator.api_url), environ={"KUBERNETES_TOKEN": TOKEN}, service_account_dir=tmp_path / "sa")
    assert from_env.token() == TOKEN
    (tmp_path / "sa").mkdir()
    (tmp_path / "sa" / "token").write_text("sa-token\n")
    in_cluster = KubeApi(KubernetesConfig(), environ={"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"},
                         service_account_dir=tmp_path / "sa")
    assert in_cluster.token() == "sa-token" and in_cluster.base_url() == "https://10.0.0.1:443"
    with pytest.raises(KubeError, match="api_url"):
        KubeApi(KubernetesConfig(), environ={}).base_url()
    with pytest.raises(RuntimeError_, match="image"):
        await KubernetesRuntime(KubernetesConfig(api_url=emulator.api_url, token=SecretStr(TOKEN))).create(spec(repo))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a certificate")
async def test_https_with_the_configured_ca_for_rest_and_exec(tmp_path: Path, repo: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=kube-emulator",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    with KubeEmulator(token=TOKEN, root=tmp_path / "cluster", tls=(str(cert), str(key))) as emu:
        assert emu.api_url.startswith("https://")
        untrusted = make_runtime(emu)
        assert await untrusted.snapshot() is None, "a certificate not signed by a known CA: unknown"
        runtime = make_runtime(emu, ca_file=str(cert))
        handle = await runtime.create(spec(repo))
        await runtime.paste(handle, "over TLS")
        await runtime.press_enter(handle)
        got = emu.claim_dir("workspace-sess-1") / "repo" / "got.txt"
        await until(lambda: _async(lambda: got.exists() and got.read_text() == "over TLS\n"), what="the text over wss")
        assert runtime.liveness(handle, await runtime.snapshot()) == "alive"
        await runtime.cleanup(handle)
    with pytest.raises(KubeError, match="CA file"):
        KubeApi(KubernetesConfig(api_url="https://127.0.0.1:1", ca_file=str(tmp_path / "missing.pem"))).ssl_context()


async def test_pod_names_are_dns_labels() -> None:
    assert pod_name("sess-1") == "sess-1"
    odd = pod_name("My_Sess")
    assert odd.startswith("my-sess-") and odd != pod_name("my-sess") and len(odd) <= 63
