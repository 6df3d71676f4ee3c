"""aod/plugins/service_http.py against a real loopback server: retries, rate-limit waits that
send nothing, outages that back off, and requests that must not be sent twice."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import trio

from aod.plugins.forge import ForgeUnavailable
from aod.plugins.service_http import NotSent, RateLimited, ServiceHttp, wait_from_headers
from tests.support.http_sink import HttpSink, Reply


@dataclass
class Settings:
    timeout: float = 5.0
    retries: int = 2
    retry_backoff: float = 0.01


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def client(settings: Settings | None = None, clock: Clock | None = None) -> ServiceHttp:
    chosen = settings or Settings()
    return ServiceHttp("Example", lambda: chosen, clock=clock or Clock())


async def test_a_5xx_is_retried_and_the_answer_returned(sink: HttpSink) -> None:
    sink.script("/a", 502, 503, Reply(200, b'{"ok": true}'))
    http = client()
    response = await http.request("GET", sink.url("/a"))
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert http.requests == 3 and len(sink.requests("/a")) == 3
    await http.aclose()


async def test_a_post_is_not_sent_twice_and_an_outage_then_sends_nothing_for_a_while(sink: HttpSink) -> None:
    sink.script("/merge", 502)
    clock = Clock()
    http = client(clock=clock)
    with pytest.raises(ForgeUnavailable, match="502"):
        await http.request("POST", sink.url("/merge"), json={})
    assert len(sink.requests("/merge")) == 1
    with pytest.raises(NotSent):
        await http.request("GET", sink.url("/merge"))
    assert len(sink.requests("/merge")) == 1
    clock.now += 61
    assert (await http.request("GET", sink.url("/merge"))).status_code == 200
    await http.aclose()


async def test_a_4xx_is_the_plugins_business(sink: HttpSink) -> None:
    sink.script("/missing", Reply(404, b'{"message": "404 Not found"}'))
    http = client()
    assert (await http.request("GET", sink.url("/missing"))).status_code == 404
    assert http.requests == 1
    await http.aclose()


async def test_a_rate_limit_waits_its_retry_after_without_sending(sink: HttpSink) -> None:
    sink.script("/x", Reply(429, b"slow down", {"Retry-After": "30", "RateLimit-Remaining": "0", "RateLimit-Limit": "600"}))
    clock = Clock()
    http = client(clock=clock)
    with pytest.raises(RateLimited) as caught:
        await http.request("GET", sink.url("/x"))
    assert caught.value.retry_after == 30
    assert http.status()["rate_limit"] == {"core": {"remaining": 0, "limit": 600}}
    clock.now += 29
    with pytest.raises(NotSent):
        await http.request("GET", sink.url("/x"))
    assert len(sink.requests("/x")) == 1
    clock.now += 5  # past the wait and its jitter (at most 10% of it)
    assert (await http.request("GET", sink.url("/x"))).status_code == 200
    await http.aclose()


async def test_a_plugins_own_rate_limit_signal(sink: HttpSink) -> None:
    sink.script("/graphql", Reply(400, b'{"errors": [{"extensions": {"code": "RATELIMITED"}}]}', {"X-RateLimit-Requests-Reset": "0"}))
    http = ServiceHttp(
        "Linear-like", lambda: Settings(),
        rate_limit=lambda r: 60.0 if r.status_code == 400 and b"RATELIMITED" in r.content else None,
        clock=Clock(),
    )
    with pytest.raises(RateLimited):
        await http.request("POST", sink.url("/graphql"), json={"query": "{ viewer { id } }"})
    await http.aclose()


async def test_a_hung_service_is_unavailable_within_the_timeout(sink: HttpSink) -> None:
    sink.script("/slow", Reply(hang=True))
    http = client(Settings(timeout=0.5, retries=0))
    with trio.fail_after(10):
        with pytest.raises(ForgeUnavailable, match="no answer from Example within 0.5s"):
            await http.request("GET", sink.url("/slow"))
    sink.release()
    await http.aclose()


def test_reset_headers_read_against_the_servers_date() -> None:
    import httpx

    date = "Mon, 07 Dec 2026 12:00:00 GMT"
    epoch = 1796644800  # that date
    response = httpx.Response(429, headers={"Date": date, "RateLimit-Reset": str(epoch + 42)})
    assert wait_from_headers(response, default=60) == pytest.approx(42)
    millis = httpx.Response(400, headers={"Date": date, "X-RateLimit-Requests-Reset": str((epoch + 10) * 1000)})
    assert wait_from_headers(millis, default=60) == pytest.approx(10)
    assert wait_from_headers(httpx.Response(429), default=60) == 60
