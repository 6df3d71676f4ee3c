"""HTTP to a remote tracker or code host (GitLab, Linear, Jira): one client, bounded retries,
rate limits obeyed. The GitHub forge has its own (github_api.py: several rate-limit resources,
secondary limits, GraphQL cost) and shares the small helpers at the bottom.

The rules are the GitHub forge's, learned the hard way by tools before aod:
- A rate-limited answer (the service's own signal, read by the plugin's `rate_limit` hook;
  by default a 429, or a 403 with `RateLimit-Remaining: 0`) starts a wait until the reset or
  `Retry-After`, with jitter; meanwhile every call fails at once with ForgeUnavailable and
  NOTHING is sent. Retrying into a rate limit is what gets integrations banned.
- 5xx answers and network errors are retried `retries` times with doubling backoff and
  jitter, inside the call's time budget (`timeout`), then ForgeUnavailable; the next calls
  then wait a little (doubling, up to a minute), so an outage costs a few requests a minute.
- Requests that must not be sent twice (a merge, a comment, a transition: the first may have
  worked though its answer never came) are not retried: `retry=False`, the default for
  anything but GET and HEAD.
- Any other answer, 4xx included, is returned: what it means is the plugin's business.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import structlog
import trio

from aod import __version__
from aod.plugins.forge import ForgeUnavailable

log = structlog.get_logger()

MAX_WAIT = 3600.0
MAX_JITTER = 5.0
OUTAGE_WAIT_MAX = 60.0
RATE_HEADERS = ("ratelimit-", "x-ratelimit-", "x-complexity", "retry-after")


class ServiceSettings(Protocol):
    timeout: float
    retries: int
    retry_backoff: float


class RateLimited(ForgeUnavailable):
    """The service said to slow down; nothing more is sent until `retry_after` passed."""


class NotSent(ForgeUnavailable):
    """Refused without sending: a rate-limit wait or an outage backoff is in force."""


def default_rate_limit(response: httpx.Response) -> float | None:
    """Seconds to wait when `response` is a rate limit: a 429, or a 403 saying the budget is
    spent (`RateLimit-Remaining: 0`); from `Retry-After`, else the reset time, else a minute."""
    headers = response.headers
    remaining = headers.get("ratelimit-remaining") or headers.get("x-ratelimit-remaining")
    if response.status_code == 429 or (response.status_code == 403 and remaining == "0"):
        return wait_from_headers(response, default=60.0)
    return None


def wait_from_headers(response: httpx.Response, *, default: float) -> float:
    """`Retry-After` (seconds or a date), else a `*-Reset` header (epoch seconds, read against
    the answer's own `Date` so a skewed local clock does not stretch the wait), else `default`."""
    headers = response.headers
    after = retry_after(headers.get("retry-after"))
    if after is not None:
        return after
    for name in ("ratelimit-reset", "x-ratelimit-reset", "x-ratelimit-requests-reset"):
        value = headers.get(name)
        if value is None:
            continue
        try:
            reset = float(value)
        except ValueError:
            continue
        if reset > 1e11:  # milliseconds (Linear)
            reset /= 1000.0
        if reset > 1e9:  # an epoch time, not a number of seconds
            reset -= server_now(response)
        return max(reset, 1.0)
    return default


class ServiceHttp:
    def __init__(
        self,
        service: str,
        settings: Callable[[], ServiceSettings],
        *,
        rate_limit: Callable[[httpx.Response], float | None] = default_rate_limit,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.service = service
        self._settings = settings
        self._rate_limit = rate_limit
        self._clock = clock
        self._rng = rng or random.Random()
        self._client: httpx.AsyncClient | None = None
        self._wait_until = 0.0
        self._outage_strikes = 0
        self.requests = 0
        """Requests sent (each retry counts)."""
        self.rate: dict[str, str] = {}
        """The rate-limit headers of the last answer that had any."""

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": f"aod/{__version__}"})
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def waiting(self) -> float:
        """Seconds until the service may be asked again (0: now)."""
        return max(0.0, self._wait_until - self._clock())

    def status(self) -> dict[str, object]:
        out: dict[str, object] = {"requests": self.requests}
        if self.waiting() > 0:
            out["waiting_s"] = round(self.waiting(), 1)
        remaining = self.rate.get("ratelimit-remaining") or self.rate.get("x-ratelimit-requests-remaining") or self.rate.get("x-ratelimit-remaining")
        limit = self.rate.get("ratelimit-limit") or self.rate.get("x-ratelimit-requests-limit") or self.rate.get("x-ratelimit-limit")
        if remaining is not None:
            out["rate_limit"] = {"core": {"remaining": int_or(remaining, 0), "limit": int_or(limit, 0)}}
        return out

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        retry: bool | None = None,
    ) -> httpx.Response:
        """Send one request (retrying 5xx and network errors when `retry`); any other answer is
        returned. Raises ForgeUnavailable: rate limited, waiting, down or slow."""
        settings = self._settings()
        if retry is None:
            retry = method.upper() in ("GET", "HEAD")
        retries = settings.retries if retry else 0
        deadline = trio.current_time() + settings.timeout
        attempt = 0
        while True:
            wait = self.waiting()
            if wait > 0:
                raise NotSent(f"waiting {wait:.0f}s for {self.service}'s rate limit or outage to pass", retry_after=wait)
            left = deadline - trio.current_time()
            if left <= 0:
                raise self._give_up(f"no answer from {self.service} within {settings.timeout:g}s")
            try:
                with trio.fail_after(left):
                    response = await self._http().request(method, url, headers=headers, params=params, json=json, timeout=left)
                    await response.aread()
            except (trio.TooSlowError, httpx.TimeoutException):
                self.requests += 1
                problem = f"no answer from {self.service} within {settings.timeout:g}s"
            except httpx.TransportError as exc:
                self.requests += 1
                problem = f"cannot reach {origin(url)}: {short(exc)}"
            else:
                self.requests += 1
                self._record(response)
                limited = self._rate_limit(response)
                if limited is not None:
                    self._start_wait(limited)
                    raise RateLimited(
                        f"{self.service} rate limit ({response.status_code}); aod waits {limited:.0f}s before asking again",
                        retry_after=limited,
                    )
                if response.status_code < 500:
                    self._outage_strikes = 0
                    return response
                problem = f"{self.service} answered {response.status_code} {response.reason_phrase}".rstrip()
            attempt += 1
            if attempt > retries:
                raise self._give_up(problem)
            delay = settings.retry_backoff * 2 ** (attempt - 1) * self._rng.uniform(0.5, 1.5)
            if trio.current_time() + delay >= deadline:
                raise self._give_up(problem)
            await trio.sleep(delay)

    def _record(self, response: httpx.Response) -> None:
        seen = {k.lower(): v for k, v in response.headers.items() if k.lower().startswith(RATE_HEADERS)}
        if seen:
            self.rate = seen

    def _start_wait(self, seconds: float) -> None:
        seconds = min(max(seconds, 0.0), MAX_WAIT)
        jitter = self._rng.uniform(0, min(MAX_JITTER, seconds * 0.1))
        self._wait_until = max(self._wait_until, self._clock() + seconds + jitter)
        log.warning("rate limited: waiting", service=self.service, seconds=round(seconds + jitter, 1))

    def _give_up(self, problem: str) -> ForgeUnavailable:
        wait = min(self._settings().retry_backoff * 2**self._outage_strikes, OUTAGE_WAIT_MAX)
        self._outage_strikes += 1
        self._wait_until = max(self._wait_until, self._clock() + wait)
        return ForgeUnavailable(problem, retry_after=wait)


# ---------------------------------------------------------------------------------------------
# Small helpers, shared with the GitHub forge


class Secret(Protocol):
    def get_secret_value(self) -> str: ...


def configured_token(configured: Secret | None, key: str, env: Mapping[str, str], variable: str) -> tuple[str, str] | None:
    """(token, where it came from): the config's own (`key`, e.g. `linear.token`) wins over the
    environment's `variable`; blank values count as unset. None: neither is set."""
    if configured is not None and configured.get_secret_value().strip():
        return configured.get_secret_value().strip(), key
    value = env.get(variable, "").strip()
    return (value, variable) if value else None


def server_now(response: httpx.Response) -> float:
    """The service's time (epoch) from the answer's `Date` header, else ours."""
    date = response.headers.get("date")
    if date:
        try:
            return email.utils.parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            pass
    return time.time()


def retry_after(value: str | None) -> float | None:
    """`Retry-After`: seconds, or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def int_or(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
