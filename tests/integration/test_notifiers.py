"""Notifiers and the router, against a real loopback HTTP server and real subprocesses.

The plugins run unmodified with their URLs pointed at `HttpSink`; the desktop notifier runs a
stand-in `notify-send` (or `osascript`) script found first on PATH that records its argv.
"""

from __future__ import annotations

import email.header
import hashlib
import hmac
import json
import os
import shlex
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import structlog
import trio

from aod import __version__
from aod.config import Config, NtfyNotifierConfig
from aod.notify import NotificationRouter
from aod.plugins.notifier import Notification, NotifierError, header_text, parse_retry_after
from aod.plugins.notifier.desktop import DesktopNotifier
from aod.plugins.notifier.ntfy import NtfyNotifier
from aod.plugins.notifier.webhook import WebhookNotifier
from tests.support.http_sink import HttpSink, Reply

HOSTILE_TITLE = "Fix\r\nX-Injected: yes\n@everyone <!channel> `rm -rf ~` $(reboot); a|b && c > d — Café ☕ 🚀"
SECRET = "s3cret-for-signing"
SLACK_TOKEN = "XOXSECRETTOKEN123"


def note(**changes: Any) -> Notification:
    fields: dict[str, Any] = {
        "id": "fp-0123456789abcdef",
        "title": "ao-7: CI failed",
        "body": "test_login failed on main.\nSee the log.",
        "priority": "action",
        "session": "ao-7",
        "project": "shop",
        "kind": "ci-failed",
        "url": "https://github.com/acme/shop/pull/7",
        "time": "2026-01-02T03:04:05.678Z",
    }
    fields.update(changes)
    return Notification(**fields)


def config(**notifiers: dict[str, Any]) -> Config:
    return Config.model_validate({"notifiers": notifiers})


@pytest.fixture
def sink() -> Iterator[HttpSink]:
    server = HttpSink()
    yield server
    server.close()


class Holder:
    """The router reads the config through a callable, as it does from the App."""

    def __init__(self, value: Config) -> None:
        self.value = value

    def __call__(self) -> Config:
        return self.value


@pytest.fixture
async def make_router() -> AsyncIterator[Any]:
    routers: list[NotificationRouter] = []

    def make(cfg: Config | Holder, **kwargs: Any) -> NotificationRouter:
        # Short waits between attempts: a test about Retry-After can tell its wait from ours.
        kwargs.setdefault("backoff", 0.001)
        router = NotificationRouter(cfg if isinstance(cfg, Holder) else Holder(cfg), **kwargs)
        routers.append(router)
        return router

    yield make
    for router in routers:
        await router.aclose()


# --- webhook -------------------------------------------------------------------------------


async def test_webhook_posts_the_notification_as_json_with_a_signature_that_verifies(
    sink: HttpSink, make_router: Any
) -> None:
    router = make_router(config(hook={
        "kind": "webhook", "url": sink.url("/hook"), "secret": SECRET, "headers": {"X-Team": "core"},
    }))
    sent = note()

    results = await router.deliver(sent)

    assert results == {"log": "ok", "hook": "ok"}
    [request] = sink.requests("/hook")
    assert msgspec.json.decode(request.body, type=Notification) == sent
    assert json.loads(request.body)["priority"] == "action"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == f"aod/{__version__}"
    assert request.headers["X-AO-Delivery"] == sent.id
    assert request.headers["X-AO-Event"] == "ci-failed"
    assert request.headers["X-Team"] == "core"
    expected = hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-AO-Signature"] == f"sha256={expected}"
    wrong = hmac.new(b"another secret", request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-AO-Signature"] != f"sha256={wrong}"


async def test_webhook_without_a_secret_is_not_signed(sink: HttpSink, make_router: Any) -> None:
    router = make_router(config(hook={"kind": "webhook", "url": sink.url("/hook")}))

    assert await router.deliver(note()) == {"log": "ok", "hook": "ok"}

    [request] = sink.requests("/hook")
    assert request.headers["X-AO-Signature"] is None
    assert request.headers["X-AO-Delivery"] == "fp-0123456789abcdef"


# --- slack, discord, ntfy ------------------------------------------------------------------


async def test_slack_gets_bold_title_body_and_link(sink: HttpSink, make_router: Any) -> None:
    router = make_router(config(team={"kind": "slack", "url": sink.url("/services/T0/B0/" + SLACK_TOKEN)}))

    assert await router.deliver(note()) == {"log": "ok", "team": "ok"}

    [request] = sink.requests()
    assert request.path == "/services/T0/B0/" + SLACK_TOKEN
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "text": "*ao-7: CI failed*\ntest_login failed on main.\nSee the log.\n<https://github.com/acme/shop/pull/7>"
    }


async def test_slack_link_is_escaped_like_the_rest(sink: HttpSink, make_router: Any) -> None:
    router = make_router(config(team={"kind": "slack", "url": sink.url("/s")}))

    await router.deliver(note(url="https://ci.example/run?id=1&tab=log", body=""))

    assert json.loads(sink.requests("/s")[0].body) == {"text": "*ao-7: CI failed*\n<https://ci.example/run?id=1&amp;tab=log>"}


async def test_slack_text_is_limited_in_size(sink: HttpSink, make_router: Any) -> None:
    router = make_router(config(team={"kind": "slack", "url": sink.url("/s")}))

    assert await router.deliver(note(title="T" * 1000, body="b" * 50_000)) == {"log": "ok", "team": "ok"}

    text = json.loads(sink.requests("/s")[0].body)["text"]
    assert len(text) < 4000
    assert text.startswith("*TTT") and "…*\n" in text and "bbb…" in text


async def test_discord_gets_content_that_pings_nobody(sink: HttpSink, make_router: Any) -> None:
    router = make_router(config(chat={"kind": "discord", "url": sink.url("/api/webhooks/1/tok")}))

    assert await router.deliver(note()) == {"log": "ok", "chat": "ok"}

    [request] = sink.requests("/api/webhooks/1/tok")
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body) == {
        "content": "**ao-7: CI failed**\ntest_login failed on main.\nSee the log.\nhttps://github.com/acme/shop/pull/7",
        "username": "aod",
        "allowed_mentions": {"parse": []},
    }


async def test_discord_content_is_cut_to_2000_and_keeps_the_link(sink: HttpSink, make_router: Any) -> None:
    router = make_router(config(chat={"kind": "discord", "url": sink.url("/d")}))

    await router.deliver(note(body="🚀" * 3000))  # 2 UTF-16 units each, as Discord counts

    content = json.loads(sink.requests("/d")[0].body)["content"]
    assert len(content.encode("utf-16-le")) // 2 <= 2000
    assert len(content.encode("utf-16-le")) // 2 > 1900
    assert content.endswith("\nhttps://github.com/acme/shop/pull/7")
    assert "…" in content


@pytest.mark.parametrize(("priority", "number"), [("urgent", "5"), ("action", "4"), ("warning", "3"), ("info", "2")])
async def test_ntfy_request_shape(sink: HttpSink, make_router: Any, priority: str, number: str) -> None:
    router = make_router(config(phone={"kind": "ntfy", "url": sink.url() + "/", "topic": "aod-x1", "token": "tk_abc"}))

    assert await router.deliver(note(priority=priority)) == {"log": "ok", "phone": "ok"}

    [request] = sink.requests()
    assert request.path == "/aod-x1"
    assert request.body.decode() == "test_login failed on main.\nSee the log."
    assert request.headers["Title"] == "ao-7: CI failed"
    assert request.headers["Priority"] == number
    tags = request.headers["Tags"].split(",")
    assert tags[1:] == ["aod", "ci-failed", "ao-7"]
    assert request.headers["Click"] == "https://github.com/acme/shop/pull/7"
    assert request.headers["Authorization"] == "Bearer tk_abc"


async def test_ntfy_defaults_to_ntfy_sh_and_sends_no_token_unless_set() -> None:
    settings = config(phone={"kind": "ntfy", "topic": "aod-x1"}).notifiers["phone"]
    assert isinstance(settings, NtfyNotifierConfig)

    async with httpx.AsyncClient() as client:  # only the request is built: nothing is sent
        notifier = NtfyNotifier("phone", settings, client)
        _body, headers = notifier.request(note(url=None))

    assert notifier.url == "https://ntfy.sh/aod-x1"
    assert "Authorization" not in headers and "Click" not in headers


# --- hostile text --------------------------------------------------------------------------


async def test_a_hostile_title_is_delivered_intact_or_neutralised_everywhere(
    sink: HttpSink, make_router: Any
) -> None:
    router = make_router(config(
        hook={"kind": "webhook", "url": sink.url("/hook")},
        team={"kind": "slack", "url": sink.url("/slack")},
        chat={"kind": "discord", "url": sink.url("/discord")},
        phone={"kind": "ntfy", "url": sink.url(), "topic": "t"},
    ))
    hostile = note(title=HOSTILE_TITLE, body="<b>bold</b> & <@U123>")

    results = await router.deliver(hostile)

    assert results == {"log": "ok", "hook": "ok", "team": "ok", "chat": "ok", "phone": "ok"}
    one_line = "Fix X-Injected: yes @everyone <!channel> `rm -rf ~` $(reboot); a|b && c > d — Café ☕ 🚀"
    # The webhook carries the text exactly, in JSON.
    assert json.loads(sink.requests("/hook")[0].body)["title"] == HOSTILE_TITLE
    # Slack: mrkdwn's control characters escaped, so no channel ping, no user ping, no markup.
    slack = json.loads(sink.requests("/slack")[0].body)["text"]
    title_line = slack.split("\n")[0]
    assert title_line == "*" + one_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "*"
    assert "<!channel>" not in slack and "<@U123>" not in slack and "<b>" not in slack
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;@U123&gt;" in slack
    # Discord: the text stays, mentions are switched off.
    discord = json.loads(sink.requests("/discord")[0].body)
    assert discord["content"].startswith(f"**{one_line}**\n")
    assert discord["allowed_mentions"] == {"parse": []}
    # ntfy: the title arrives on one line, as one header, and decodes to the text (RFC 2047).
    [push] = sink.requests("/t")
    assert push.headers["X-Injected"] is None
    assert len(push.headers.get_all("Title") or []) == 1
    assert push.headers["Title"].isascii()
    assert str(email.header.make_header(email.header.decode_header(push.headers["Title"]))) == one_line


def test_header_text_round_trips_through_rfc_2047() -> None:
    for text in ["plain", "Café ☕", "日本語のタイトル" * 10, "=?UTF-8?B?Zm9v?= looks encoded", "🚀" * 40]:
        value = header_text(text, limit=1000)
        assert value.isascii() and "\n" not in value and "\r" not in value
        assert str(email.header.make_header(email.header.decode_header(value))) == text


# --- status handling, retries, timeouts ----------------------------------------------------


async def test_a_502_is_retried_with_the_same_delivery_id_until_it_succeeds(
    sink: HttpSink, make_router: Any
) -> None:
    sink.script("/hook", 502, Reply(status=503, body=b"busy"))
    router = make_router(config(hook={"kind": "webhook", "url": sink.url("/hook"), "retries": 3, "secret": SECRET}))

    assert await router.deliver(note()) == {"log": "ok", "hook": "ok"}

    requests = sink.requests("/hook")
    assert len(requests) == 3
    assert {r.headers["X-AO-Delivery"] for r in requests} == {"fp-0123456789abcdef"}
    assert len({r.body for r in requests}) == 1
    assert len({r.headers["X-AO-Signature"] for r in requests}) == 1


async def test_retries_end_after_the_configured_number(sink: HttpSink, make_router: Any) -> None:
    sink.script("/hook", *[502] * 10)
    router = make_router(config(hook={"kind": "webhook", "url": sink.url("/hook"), "retries": 2}))

    results = await router.deliver(note())

    assert results["hook"].startswith(f"HTTP 502 from http://127.0.0.1:{sink.port}")
    assert results["hook"].endswith("(after 3 attempts)")
    assert len(sink.requests("/hook")) == 3


async def test_a_429_waits_for_retry_after(sink: HttpSink, make_router: Any) -> None:
    sink.script("/hook", Reply(status=429, headers={"Retry-After": "0.2"}))
    router = make_router(config(hook={"kind": "webhook", "url": sink.url("/hook")}))

    assert await router.deliver(note()) == {"log": "ok", "hook": "ok"}

    first, second = sink.requests("/hook")
    assert second.at - first.at >= 0.19  # the router's own backoff here is 1 ms


async def test_retry_after_is_capped(sink: HttpSink, make_router: Any) -> None:
    sink.script("/hook", Reply(status=429, headers={"Retry-After": "3600"}))
    router = make_router(config(hook={"kind": "webhook", "url": sink.url("/hook")}), max_delay=0.05)

    assert await router.deliver(note()) == {"log": "ok", "hook": "ok"}

    first, second = sink.requests("/hook")
    assert 0.04 <= second.at - first.at < 2


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=90.0) == 10.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=200.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


async def test_a_404_is_not_retried_and_says_what_to_check(sink: HttpSink, make_router: Any) -> None:
    sink.script("/services/T0/B0/" + SLACK_TOKEN, Reply(status=404, body=b"no_service"))
    router = make_router(config(team={"kind": "slack", "url": sink.url("/services/T0/B0/" + SLACK_TOKEN), "retries": 5}))

    results = await router.deliver(note())

    assert len(sink.requests()) == 1
    reason = results["team"]
    assert reason.startswith(f"HTTP 404 from http://127.0.0.1:{sink.port} (no_service)")
    assert "check the slack notifier's `url`" in reason
    assert SLACK_TOKEN not in reason and "after" not in reason


async def test_a_401_from_ntfy_is_not_retried_and_never_shows_the_token(sink: HttpSink, make_router: Any) -> None:
    sink.script("/t", Reply(status=401, body=b'{"code":40101,"error":"unauthorized"}'))
    router = make_router(config(phone={"kind": "ntfy", "url": sink.url(), "topic": "t", "token": "tk_verysecret"}))

    with structlog.testing.capture_logs() as logged:
        results = await router.deliver(note())

    assert len(sink.requests()) == 1
    assert "HTTP 401" in results["phone"] and "not allowed" in results["phone"] and "`token`" in results["phone"]
    assert "tk_verysecret" not in repr(results) and "tk_verysecret" not in repr(logged)
    assert any(e["event"] == "notification not delivered" and e["notifier"] == "phone" for e in logged)


async def test_a_refused_connection_is_retried(make_router: Any, sink: HttpSink) -> None:
    closed = HttpSink()
    url = closed.url("/hook")
    closed.close()  # nothing listens on that port now
    router = make_router(config(hook={"kind": "webhook", "url": url, "retries": 1}))

    results = await router.deliver(note())

    assert results["hook"].startswith(f"cannot reach http://127.0.0.1:{closed.port}:")
    assert results["hook"].endswith("(after 2 attempts)")


async def test_a_hanging_receiver_does_not_delay_the_others(sink: HttpSink, make_router: Any) -> None:
    # Proved by order, not by a stopwatch: both hanging receivers hold their request while the
    # fast one has been answered. Tried one after another, the second request (whichever it
    # is) would only be sent once the first hanging one gave up, 30 s later.
    sink.script("/slow1", Reply(hang=True))
    sink.script("/slow2", Reply(hang=True))
    slow = {"kind": "webhook", "timeout": "30s", "retries": 0}
    router = make_router(config(
        a_slow=slow | {"url": sink.url("/slow1")},
        m_fast={"kind": "webhook", "url": sink.url("/fast")},
        z_slow=slow | {"url": sink.url("/slow2")},
    ))
    results: dict[str, str] = {}

    async def deliver() -> None:
        results.update(await router.deliver(note()))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(deliver)
            while not all(sink.requests(path) for path in ("/slow1", "/slow2", "/fast")):
                await trio.sleep(0.01)
            assert results == {}  # nothing finished: the hanging two are still held
            sink.release()  # the held two are hung up on now
    assert results["m_fast"] == "ok" and results["log"] == "ok"
    assert results["a_slow"].startswith("cannot reach") and results["z_slow"].startswith("cannot reach")


async def test_a_hanging_receiver_is_cut_at_its_own_timeout(sink: HttpSink, make_router: Any) -> None:
    sink.script("/slow1", Reply(hang=True))
    sink.script("/slow2", Reply(hang=True))
    slow = {"kind": "webhook", "timeout": "1s", "retries": 0}
    router = make_router(config(a_slow=slow | {"url": sink.url("/slow1")}, z_slow=slow | {"url": sink.url("/slow2")}))

    # A generous bound: the notifiers' own 1 s timeouts, not the 30 s default, end the wait.
    with trio.fail_after(15):
        results = await router.deliver(note())

    for name in ("a_slow", "z_slow"):
        assert results[name].startswith("no answer") and "within 1s" in results[name]


async def test_a_timeout_is_retried(sink: HttpSink, make_router: Any) -> None:
    sink.script("/slow", Reply(hang=True))
    router = make_router(config(slow={"kind": "webhook", "url": sink.url("/slow"), "timeout": "300ms", "retries": 1}))

    assert await router.deliver(note()) == {"log": "ok", "slow": "ok"}
    assert len(sink.requests("/slow")) == 2


# --- routing -------------------------------------------------------------------------------


async def test_notifications_go_only_to_notifiers_routed_for_their_priority(
    sink: HttpSink, make_router: Any
) -> None:
    router = make_router(config(
        pager={"kind": "webhook", "url": sink.url("/pager"), "priorities": ["urgent"]},
        feed={"kind": "webhook", "url": sink.url("/feed")},
    ))

    assert await router.deliver(note(priority="info", id="n1")) == {"log": "ok", "feed": "ok"}
    assert sink.requests("/pager") == []

    assert await router.deliver(note(priority="urgent", id="n2")) == {"log": "ok", "pager": "ok", "feed": "ok"}
    assert [r.headers["X-AO-Delivery"] for r in sink.requests("/pager")] == ["n2"]
    assert [r.headers["X-AO-Delivery"] for r in sink.requests("/feed")] == ["n1", "n2"]


async def test_the_log_notifier_always_writes_a_line(make_router: Any) -> None:
    router = make_router(config())

    with structlog.testing.capture_logs() as logged:
        results = await router.deliver(note(priority="info"))

    assert results == {"log": "ok"}
    [line] = [e for e in logged if e["event"] == "notification"]
    assert line["session"] == "ao-7" and line["title"] == "ao-7: CI failed" and line["kind"] == "ci-failed"


async def test_send_now_makes_one_attempt(sink: HttpSink, make_router: Any) -> None:
    sink.script("/hook", 502)
    router = make_router(config(hook={"kind": "webhook", "url": sink.url("/hook"), "retries": 4}))

    results = await router.send_now(note(kind="test"))

    assert results["log"] == "ok"
    assert results["hook"].startswith("HTTP 502") and "after" not in results["hook"]
    assert len(sink.requests("/hook")) == 1
    assert await router.deliver(note()) == {"log": "ok", "hook": "ok"}  # the next try would have worked


async def test_a_new_config_object_rebuilds_the_notifiers(sink: HttpSink, make_router: Any) -> None:
    holder = Holder(config(a={"kind": "webhook", "url": sink.url("/a")}))
    router = make_router(holder)
    assert await router.deliver(note()) == {"log": "ok", "a": "ok"}

    holder.value = config(b={"kind": "webhook", "url": sink.url("/b")})

    assert await router.deliver(note()) == {"log": "ok", "b": "ok"}
    assert len(sink.requests("/a")) == 1 and len(sink.requests("/b")) == 1


async def test_a_plugin_bug_becomes_a_reason_without_secrets(
    sink: HttpSink, make_router: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: WebhookNotifier, notification: Notification) -> None:
        raise RuntimeError(f"bug while posting with {self.settings.secret.get_secret_value()}")  # type: ignore[union-attr]

    monkeypatch.setattr(WebhookNotifier, "send", broken)
    router = make_router(config(
        hook={"kind": "webhook", "url": sink.url("/hook"), "secret": SECRET},
        phone={"kind": "ntfy", "url": sink.url(), "topic": "t"},
    ))

    results = await router.deliver(note())

    assert results == {"log": "ok", "phone": "ok", "hook": "internal error: RuntimeError: bug while posting with ***"}


# --- desktop -------------------------------------------------------------------------------


def fake_program(directory: Path, name: str, argv_file: Path, *, exit_status: int = 0) -> None:
    """A stand-in for notify-send/osascript that writes its arguments, NUL-separated."""
    script = directory / name
    script.write_text(
        "#!/bin/sh\n"
        f"for arg in \"$@\"; do printf '%s\\0' \"$arg\"; done > {shlex.quote(str(argv_file))}\n"
        + ("echo 'Cannot connect to the notification server' >&2\n" if exit_status else "")
        + f"exit {exit_status}\n"
    )
    script.chmod(0o755)


def recorded_argv(argv_file: Path) -> list[str]:
    return argv_file.read_bytes().decode().split("\0")[:-1]


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ.get('PATH', '')}")
    return directory


@pytest.mark.parametrize(("priority", "urgency"), [("urgent", "critical"), ("action", "normal"), ("info", "low")])
async def test_desktop_runs_notify_send_with_the_text_as_arguments(
    bin_dir: Path, tmp_path: Path, make_router: Any, priority: str, urgency: str
) -> None:
    argv_file = tmp_path / "argv"
    fake_program(bin_dir, "notify-send", argv_file)
    router = make_router(config(desk={"kind": "desktop"}))

    body = "-x <i>&</i> $HOME\x00 \x1b[31mred\x1b[0m\r\n"
    results = await router.deliver(note(priority=priority, title=HOSTILE_TITLE, body=body))

    assert results == {"log": "ok", "desk": "ok"}
    assert recorded_argv(argv_file) == [
        "--app-name=aod",
        f"--urgency={urgency}",
        "--",
        "Fix X-Injected: yes @everyone <!channel> `rm -rf ~` $(reboot); a|b && c > d — Café ☕ 🚀",
        # Markup escaped; the NUL (no argv can hold one) and the terminal colours dropped.
        "-x &lt;i&gt;&amp;&lt;/i&gt; $HOME red\nhttps://github.com/acme/shop/pull/7",
    ]


async def test_desktop_on_macos_passes_the_text_to_osascript_as_argv(bin_dir: Path, tmp_path: Path) -> None:
    argv_file = tmp_path / "argv"
    fake_program(bin_dir, "osascript", argv_file)
    notifier = DesktopNotifier("desk", timeout=10, platform="darwin")

    await notifier.send(note(title='say "hi" & quit', body="it's \\ fine", url=None))

    assert recorded_argv(argv_file) == [
        "-e", "on run argv",
        "-e", "display notification (item 2 of argv) with title (item 1 of argv)",
        "-e", "end run",
        'say "hi" & quit',
        "it's \\ fine",
    ]


async def test_a_missing_notify_send_is_a_clear_error_that_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_router: Any
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    router = make_router(config(desk={"kind": "desktop", "retries": 5}))

    results = await router.deliver(note())

    assert results["log"] == "ok"
    assert results["desk"].startswith("notify-send not found: install libnotify")
    assert "after" not in results["desk"]
    with pytest.raises(NotifierError) as caught:
        await DesktopNotifier("desk", timeout=5, platform="linux").send(note())
    assert caught.value.retryable is False


async def test_a_failing_notify_send_says_why(bin_dir: Path, tmp_path: Path, make_router: Any) -> None:
    fake_program(bin_dir, "notify-send", tmp_path / "argv", exit_status=1)
    router = make_router(config(desk={"kind": "desktop", "retries": 1}))

    results = await router.deliver(note())

    assert results["desk"].startswith("notify-send failed: Cannot connect to the notification server")
    assert results["desk"].endswith("(after 2 attempts)")
