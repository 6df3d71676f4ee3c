"""S5 (issue 14, security 5): no secret aod sees is stored, shown or forwarded in clear.

An API key printed in a pane or in CI output was shown by `aoctl logs`, stored raw in the local
forge's CI log and PR record and in `reactions.json`, and pasted to the agent. The property test
generates secrets of every documented shape (docs/redaction.md), and values of environment
variables named in config, hides them in generated text, and sends that text down every output
path: the redactor itself, CI excerpts, the journal on disk and as shown, events, the reactor's
boundary (PR facts in, the intents' actions out: agent messages, notifications, PR comments) and
a real notification to a loopback webhook. The end-to-end test runs aod with a CI that prints
secrets and an agent that shows them, and searches everything aod wrote, showed and sent.
"""

from __future__ import annotations

import json
import string
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import trio
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aod import lifecycle, reactions, redact
from aod.ci_logs import excerpt
from aod.config import Config
from aod.events import EventBus
from aod.facts import CheckFact, CommentFact, LedgerEntry, Observation, PRFacts, SessionView
from aod.model import Session
from aod.notify import NotificationRouter
from aod.plugins.notifier import Notification
from aod.reactor import _action_without_secrets, _pr_without_secrets
from aod.store import Store
from tests.reliability.conftest import soak
from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.http_sink import HttpSink
from tests.support.seed import now_iso
from tests.support.tmux import tmux_server

ENV_NAME = "AOD_TEST_DEPLOY_KEY"
USER_PATTERN = r"corp-[0-9]{6}"
ALNUM = string.ascii_letters + string.digits


def _body(alphabet: str, low: int, high: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=alphabet, min_size=low, max_size=high)


def _then(prefix: st.SearchStrategy[str] | str, body: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str]]:
    """(text to embed, the secret that must not survive): here the same."""
    first = st.just(prefix) if isinstance(prefix, str) else prefix
    return st.tuples(first, body).map(lambda pb: (pb[0] + pb[1],) * 2)


def _labelled(label: st.SearchStrategy[str], value: st.SearchStrategy[str]) -> st.SearchStrategy[tuple[str, str]]:
    """(label + value, value): the label (`Bearer `, `DB_PASSWORD=`) may stay, the value not."""
    return st.tuples(label, value).map(lambda lv: (lv[0] + lv[1], lv[1]))


_KEY_LINES = st.lists(_body(ALNUM + "+/", 16, 64), min_size=1, max_size=6).map("\n".join)
SHAPES: dict[str, st.SearchStrategy[tuple[str, str]]] = {
    "anthropic": _then("sk-ant-api03-", _body(ALNUM + "_-", 20, 95)),
    "openai project": _then(st.sampled_from(["sk-proj-", "sk-svcacct-"]), _body(ALNUM + "_-", 20, 80)),
    "openai": _then("sk-", _body(ALNUM, 20, 60)),
    "github": _then(st.sampled_from(["ghp_", "gho_", "ghs_", "ghu_", "ghr_"]), _body(ALNUM, 36, 40)),
    "github pat": _then("github_pat_", _body(ALNUM + "_", 22, 82)),
    "slack": _then(st.sampled_from(["xoxb-", "xoxp-", "xoxa-"]), _body(ALNUM + "-", 10, 60)),
    "aws": _then(st.sampled_from(["AKIA", "ASIA"]), _body(string.ascii_uppercase + string.digits, 16, 16)),
    "private key": st.tuples(st.sampled_from(["RSA ", "EC ", "OPENSSH ", ""]), _KEY_LINES).map(
        lambda kl: (f"-----BEGIN {kl[0]}PRIVATE KEY-----\n{kl[1]}\n-----END {kl[0]}PRIVATE KEY-----", kl[1])
    ),
    "bearer": _labelled(st.sampled_from(["Bearer ", "bearer ", "Authorization: Bearer "]), _body(ALNUM + "._~+/-", 12, 60)),
    "assignment": _labelled(
        st.sampled_from(["password=", "DB_PASSWORD=", "api_key: ", "client_secret = ", '"token": ', "SECRET="]),
        _body(ALNUM + "!@#$%^&*-_.+/~", 8, 40),
    ),
    "url password": _labelled(st.just("https://deploy:"), _body(ALNUM + "!$%&*+-_.~", 8, 30)).map(lambda t: (t[0] + "@git.example.com/r.git", t[1])),
    "user pattern": _then("corp-", _body(string.digits, 6, 6)),
}
SEPARATORS = st.sampled_from([" ", "\n", "\t", ": ", "(", ") ", ", ", "; ", '"', "'"])
AROUND = st.text(alphabet=string.ascii_letters + string.digits + " \n.,:-_/#", max_size=120)


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, list[str], str]:
    """(text with secrets hidden in it, the secrets, the value of ENV_NAME)."""
    env_value = draw(_body(ALNUM + "-_.:/+=", 8, 40))
    parts: list[str] = [draw(AROUND)]
    harmless: list[str] = list(parts)  # the same text with every secret taken out
    secrets: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        shape = draw(st.sampled_from(sorted(SHAPES)))
        text, secret = draw(SHAPES[shape])
        before, after, around = draw(SEPARATORS), draw(SEPARATORS), draw(AROUND)
        parts += [before, text, after, around]
        harmless += [before, text.replace(secret, "\0"), after, around]
        secrets.append(secret)
    if draw(st.booleans()):  # an environment value is redacted wherever it is, even mid-word
        at = draw(st.integers(0, len(parts)))
        parts.insert(at, env_value)
        harmless.insert(at, "\0")
        secrets.append(env_value)
    doc = "".join(parts)
    # A "secret" that the harmless text around it spells out too could not be told apart.
    assume(not any(secret in "".join(harmless) for secret in secrets))
    return doc, secrets, env_value


def survivors(secrets: list[str], *outputs: Any) -> list[tuple[str, str]]:
    found = []
    for output in outputs:
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output if isinstance(output, str) else json.dumps(msgspec.to_builtins(output))
        found += [(secret, text[:300]) for secret in secrets if secret in text]
    return found


def _redactor(env_value: str) -> redact.Redactor:
    return redact.build([ENV_NAME], [USER_PATTERN], {ENV_NAME: env_value})


def _reactor_boundary(redactor: redact.Redactor, doc: str) -> list[str]:
    """What the reactor writes into intents for a PR whose facts carry `doc`: CI failure and
    review messages to the agent, and the notification when the budget is spent."""
    pr = PRFacts(
        number="7", head_sha="0123abcd" * 5, checks="failing", review="changes_requested", review_id="r1",
        failing=(CheckFact(name="ci", conclusion="failure", summary=doc, log_excerpt=doc),),
        comments=(CommentFact(id="c1", author="bob", body=doc),),
    )
    view = SessionView(id="demo-1", state="pr_open", reason="", since=0.0)
    observation = Observation(liveness="alive", activity="idle", pr=_pr_without_secrets(pr, redactor))
    step = lifecycle.step(view, observation, 1000.0)
    texts = []
    policies = reactions.policies_for({"ci-failed": {"notify_too": True}}, {})
    for ledger in ({}, {k: LedgerEntry(key=k, attempts=9, first_at=1.0) for k in ("ci-failed", "changes-requested")}):
        decision = reactions.decide("demo-1", step.triggers, step.resolved, ledger, policies, 1000.0)
        for action in decision.actions:
            stored = _action_without_secrets(action, redactor)
            texts += [stored.message, stored.title]
    assert texts, "the facts raised no reaction: the test would prove nothing"
    return texts


def _notified(redactor: redact.Redactor, sink: HttpSink, doc: str) -> bytes:
    config = Config.model_validate({"notifiers": {"hook": {"kind": "webhook", "url": sink.url("/hook"), "retries": 0}}})
    router = NotificationRouter(lambda: config)
    router.redactor = lambda: redactor
    note = Notification(id="n1", title=doc[:200], body=doc, priority="urgent", session="demo-1", project="demo",
                        kind="test", url=None, time=now_iso())

    async def send() -> dict[str, str]:
        try:
            return await router.send_now(note)
        finally:
            await router.aclose()

    before = len(sink.requests("/hook"))
    assert trio.run(send)["hook"] == "ok"
    return sink.requests("/hook")[before].body


@settings(max_examples=soak(60, 1500), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(document=documents(), max_chars=st.integers(80, 4000))
def test_no_generated_secret_survives_into_any_output(document: tuple[str, list[str], str], max_chars: int) -> None:
    doc, secrets, env_value = document
    redactor = _redactor(env_value)
    assert not survivors(secrets, redactor.text(doc), redactor.bytes(doc.encode()), redactor.value({"a": [doc], doc: doc}))

    log = f"##[group]Run make test\n{doc}\nERROR: {doc}\n##[error]Process completed with exit code 1.\n"
    assert not survivors(secrets, excerpt(log, max_chars, redactor.text), excerpt(doc, max_chars, redactor.text))

    bus = EventBus()
    bus.redact = lambda data: redact.fields(redactor, data)
    bus.publish("session.updated", session="demo-1", reason=doc, detail={"lines": [doc]})
    assert not survivors(secrets, bus.recent[-1])

    with tempfile.TemporaryDirectory() as root:
        store = Store(Path(root) / "state")
        store.acquire_lock()
        try:
            store.prepare()
            store.redactor = lambda: redactor
            now = now_iso()
            store.put_session_sync(Session(id="demo-1", project="demo", state="working", reason="", since=now, created_at=now, updated_at=now), 0)
            store.append_journal_sync("demo-1", {"time": now, "kind": "delivery.failed", "detail": doc, "error": [doc]})
            on_disk = (Path(root) / "state" / "sessions" / "demo-1" / "journal.jsonl").read_bytes()
            assert not survivors(secrets, on_disk, json.dumps(store.journal_tail_sync("demo-1", 5)))
        finally:
            store.release_lock()

    assert not survivors(secrets, *_reactor_boundary(redactor, doc))


@settings(max_examples=soak(15, 200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents())
def test_no_generated_secret_leaves_in_a_notification(document: tuple[str, list[str], str]) -> None:
    doc, secrets, env_value = document
    sink = HttpSink()
    try:
        assert not survivors(secrets, _notified(_redactor(env_value), sink, doc))
    finally:
        sink.close()


# -- end to end ------------------------------------------------------------------------------------

CI_SECRETS = {
    "anthropic": "sk-ant-api03-" + "Zq9" * 12,
    "github": "ghp_" + "R7kT" * 9,
    "aws": "AKIA" + "Q7W3E9R2T5Y8U1I4",
    "env": "deploy-key-" + "x4Y" * 6,
    "user pattern": "corp-314159",
    "password": "Tr0ub4dor&3xyz",
}
SCREEN_SECRETS = {"slack": "xoxb-" + "20481" * 6, "openai": "sk-proj-" + "Pq8" * 9}
CI_SCRIPT = f"""\
import sys
print("running the tests with sk-ant-key {CI_SECRETS['anthropic']}")
print("export GITHUB_TOKEN={CI_SECRETS['github']}")
print("aws_access_key_id {CI_SECRETS['aws']} deploy {CI_SECRETS['env']} ticket {CI_SECRETS['user pattern']}")
print("FAILED test_login - DB_PASSWORD={CI_SECRETS['password']} was refused", file=sys.stderr)
sys.exit(1)
"""


def test_secrets_from_ci_and_the_agent_s_screen_are_kept_out_of_everything(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    sink = HttpSink()
    with tmux_server() as tmux:
        aod = make_aod(extra_env={ENV_NAME: CI_SECRETS["env"]})
        records = aod.root / "records"
        records.mkdir()
        extra = f"""\
redact:
  env: [{ENV_NAME}]
  patterns: ["{USER_PATTERN}"]
notifiers:
  hook: {{kind: webhook, url: "{sink.url('/hook')}", retries: 0, priorities: [urgent, action, warning, info]}}
projects:
  demo:
    ci: {json.dumps([sys.executable, "ci.py"])}
    ci_timeout: 60s
    open_pr: auto
    reactions:
      ci-failed: {{notify_too: true}}
"""
        aod.write_config(config_text(tmux, records, extra))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        (repo / "ci.py").write_text(CI_SCRIPT)
        git(repo, "add", "ci.py")
        git(repo, "commit", "-q", "-m", "add CI")
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))
        shown = "\n".join(f"/fake limit the key is {value}" for value in SCREEN_SECRETS.values())
        sid = fleet.ok("spawn", "--task", f"{shown}\n/fake write app.txt feature\n/fake commit add the feature")["id"]

        fleet.wait_state(sid, lambda info: info["state"] == "ci_failed", "CI to fail", 90)
        wait_for(lambda: len(fleet.received(sid)) >= 2, 60, "the CI failure message")
        wait_for(lambda: sink.requests("/hook"), 60, "the ci-failed notification")

        # The screen: the agent shows both keys (they were in its task); aoctl logs does not.
        logs = aod.aoctl("logs", sid, "--lines", "200")
        assert logs.returncode == 0, logs.stderr
        assert "[redacted: slack token]" in logs.stdout and "[redacted: openai api key]" in logs.stdout, logs.stdout
        assert not survivors(list(SCREEN_SECRETS.values()), logs.stdout, json.dumps(aod.result("session.logs", {"id": sid})))

        # CI's secrets: nowhere aod wrote, showed or sent them.
        ci_message = fleet.received(sid)[-1]
        assert "[redacted: github token]" in ci_message and "[redacted: $AOD_TEST_DEPLOY_KEY]" in ci_message, ci_message
        everything_written = [p.read_bytes() for p in aod.state_dir.rglob("*") if p.is_file()]
        ci_log = next(aod.state_dir.glob("forge/demo/ci/*.log")).read_text()
        assert "[redacted: anthropic api key]" in ci_log and "DB_PASSWORD=[redacted: secret value]" in ci_log, ci_log
        outputs = [
            *everything_written,
            *fleet.received(sid)[1:],  # what aod sent the agent after the task it was given
            *(r.body for r in sink.requests("/hook")),
            json.dumps(aod.result("events.recent", {"limit": 500})),
            json.dumps(aod.result("session.history", {"id": sid, "lines": 500})),
            json.dumps(aod.result("pr.open", {"id": sid})),
            aod.log(),
        ]
        assert not survivors(list(CI_SECRETS.values()), *outputs)
    sink.close()
