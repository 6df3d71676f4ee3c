"""HTTP to GitHub for the GitHub forge: one client, rate limits read and obeyed, bounded retries.

Rules, each learned the hard way by tools before aod (docs/trackers-and-scm.md):
- Every answer's `X-RateLimit-*` headers are kept per resource (core, graphql, ...). A 403 or
  429 that is a rate limit (remaining 0, a Retry-After, GitHub's "secondary rate limit"
  message, a GraphQL RATE_LIMITED error) starts a backoff until the reset or Retry-After, with
  jitter; meanwhile every call fails at once with ForgeUnavailable and NOTHING is sent.
  Retrying into a rate limit is what gets integrations banned.
- 5xx answers and network errors are retried a bounded number of times with exponential
  backoff and jitter, inside the call's time budget (`github.timeout`), then ForgeUnavailable.
- Never fail open: an error never leads to more requests, or to more expensive ones.
- The token goes in the Authorization header of requests to the API only; a redirect (the
  job-log download) is followed by hand, without it.
- Time: `clock` (monotonic seconds, injectable) decides when GitHub may be asked again; trio's
  own clock bounds an in-flight call. Reset times are read against the answer's `Date`
  header, so a skewed local clock does not stretch or cut a backoff.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
import trio

from aod import __version__
from aod.config import GithubConfig
from aod.plugins.forge import ForgeError, ForgeUnavailable
from aod.plugins.forge.github_prs import MERGE_INFO_PREVIEW
from aod.plugins.service_http import int_or as _int
from aod.plugins.service_http import origin as _origin
from aod.plugins.service_http import retry_after as _retry_after
from aod.plugins.service_http import server_now as _server_now
from aod.plugins.service_http import short as _short

log = structlog.get_logger()

ALL = "*"
"""The backoff key that stops every resource (secondary rate limits, 429s)."""
SECONDARY_WAIT = 60.0
"""GitHub: after a secondary rate limit without Retry-After, wait at least a minute."""
MAX_WAIT = 3600.0
MAX_JITTER = 5.0
LOW_BUDGET = 0.20
"""Below this share of a resource left, PR polling is spread out over the time to the reset."""
RESERVE = 0.05
"""Below this share, PR polling stops until the reset: the rest is kept for merges, comments."""
MAX_LOG_BYTES = 4 * 1024 * 1024
"""Of a job log, the last this many bytes are read (the failure is near the end)."""


@dataclass
class RateLimit:
    resource: str
    limit: int
    remaining: int
    reset: int
    """Epoch seconds (GitHub's clock) when the window refills."""
    used: int
    reset_at: float
    """The same moment on our `clock`."""


@dataclass
class Meter:
    """What one forge call cost: every HTTP request sent, and how many were answered 304."""

    requests: int = 0
    not_modified: int = 0


@dataclass
class _Backoff:
    until: float = 0.0
    strikes: int = 0


@dataclass
class Totals:
    requests: int = 0
    not_modified: int = 0
    by_resource: dict[str, int] = field(default_factory=dict)


class GithubApi:
    def __init__(
        self,
        settings: Callable[[], GithubConfig],
        token: Callable[[], Awaitable[str]],
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        on_unauthorized: Callable[[], None] | None = None,
    ) -> None:
        self._settings = settings
        self._token = token
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_unauthorized = on_unauthorized
        self._client: httpx.AsyncClient | None = None
        self._backoff: dict[str, _Backoff] = {}
        self._outage = _Backoff()
        self._last_poll: dict[str, float] = {}
        self.limits: dict[str, RateLimit] = {}
        self.totals = Totals()
        self.graphql_server_time = 0.0
        """GitHub's time (epoch, from `Date`) of the last GraphQL answer."""

    # -- the client ---------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False,
                headers={
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                    "User-Agent": f"aod/{__version__}",
                },
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- rate limits ----------------------------------------------------------------------------

    def waiting(self, resource: str) -> float:
        """Seconds until `resource` may be asked again (0: now)."""
        now = self._clock()
        until = max(
            self._backoff.get(resource, _Backoff()).until,
            self._backoff.get(ALL, _Backoff()).until,
            self._outage.until,
        )
        return max(0.0, until - now)

    def backing_off_until(self) -> float | None:
        """Epoch seconds (our wall clock) of the furthest backoff in force, or None."""
        now = self._clock()
        until = max([b.until for b in self._backoff.values()] + [self._outage.until], default=0.0)
        return time.time() + (until - now) if until > now else None

    def may_poll(self, resource: str) -> bool:
        """Whether a PR poll (never a command) may spend `resource` now.

        With plenty left: always. Below LOW_BUDGET: at most half of what is left is spent before
        the reset, evenly spread. Below RESERVE: not at all until the reset; what is left is for
        merges, comments and issues, which the user asked for.
        """
        if self.waiting(resource) > 0:
            return False
        limit = self.limits.get(resource)
        now = self._clock()
        if limit is None or limit.limit <= 0 or now >= limit.reset_at:
            return True
        share = limit.remaining / limit.limit
        if share >= LOW_BUDGET:
            return True
        if share < RESERVE:
            return False
        interval = (limit.reset_at - now) / max(limit.remaining / 2, 1.0)
        return now - self._last_poll.get(resource, -math.inf) >= interval

    def polled(self, resource: str) -> None:
        self._last_poll[resource] = self._clock()

    def _record(self, response: httpx.Response) -> None:
        headers = response.headers
        resource = headers.get("x-ratelimit-resource")
        try:
            limit = int(headers["x-ratelimit-limit"])
            remaining = int(headers["x-ratelimit-remaining"])
            reset = int(headers["x-ratelimit-reset"])
        except (KeyError, ValueError):
            return
        if not resource:
            return
        used = _int(headers.get("x-ratelimit-used"), limit - remaining)
        reset_in = min(max(reset - _server_now(response), 0.0), MAX_WAIT)
        self.limits[resource] = RateLimit(resource, limit, remaining, reset, used, self._clock() + reset_in)

    def _rate_limited(self, response: httpx.Response, resource: str, body: Any) -> float | None:
        """Seconds to wait when `response` says we are rate limited, else None."""
        status = response.status_code
        graphql_limited = isinstance(body, Mapping) and any(
            isinstance(e, Mapping) and e.get("type") in ("RATE_LIMITED", "RATE_LIMIT")
            for e in body.get("errors") or ()
        )
        if status not in (403, 429) and not graphql_limited:
            return None
        headers = response.headers
        retry_after = _retry_after(headers.get("retry-after"))
        message = _message(body).lower()
        secondary = "secondary rate limit" in message or "abuse" in message
        if headers.get("x-ratelimit-remaining") == "0" and not secondary:
            reset = _int(headers.get("x-ratelimit-reset"), 0)
            wait = reset - _server_now(response) if reset else SECONDARY_WAIT
            wait = max(wait, retry_after or 0.0, 1.0)
            self._start_backoff(headers.get("x-ratelimit-resource") or resource, wait)
            return wait
        if retry_after is not None or secondary or status == 429 or graphql_limited:
            strikes = self._backoff.setdefault(ALL, _Backoff()).strikes
            wait = retry_after if retry_after is not None else SECONDARY_WAIT * 2**strikes
            self._backoff[ALL].strikes = strikes + 1
            self._start_backoff(ALL, max(wait, 1.0))
            return wait
        return None  # a 403 that is about permissions, not about rate

    def _start_backoff(self, key: str, wait: float) -> None:
        wait = min(wait, MAX_WAIT)
        jitter = self._rng.uniform(0, min(MAX_JITTER, wait * 0.1))
        backoff = self._backoff.setdefault(key, _Backoff())
        backoff.until = max(backoff.until, self._clock() + wait + jitter)
        log.warning("github rate limited: waiting", resource=key, seconds=round(wait + jitter, 1))

    # -- requests -------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        url: str,
        *,
        resource: str,
        meter: Meter,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """Send one API request (retrying 5xx and network errors); any other answer is returned.

        Raises ForgeUnavailable (rate limited, backing off, GitHub down or slow) without sending
        anything while a backoff is in force; ForgeError when GitHub refuses the token.
        `retry=False` for requests that must not be sent twice (a merge, a comment: the first may
        have worked even though its answer never came).
        """
        settings = self._settings()
        retries = settings.retries if retry else 0
        deadline = trio.current_time() + settings.timeout
        attempt = 0
        while True:
            self._refuse_while_waiting(resource)
            token = await self._token()
            left = deadline - trio.current_time()
            if left <= 0:
                raise self._give_up(f"no answer from GitHub within {settings.timeout:g}s")
            problem: str
            try:
                with trio.fail_after(left):
                    response = await self._http().request(
                        method,
                        url,
                        params=params,
                        json=json,
                        headers={"Authorization": f"Bearer {token}", **(headers or {})},
                        timeout=left,
                    )
                    await response.aread()
            except (trio.TooSlowError, httpx.TimeoutException):
                self._count(meter, resource, None)
                problem = f"no answer from GitHub within {settings.timeout:g}s"
            except httpx.TransportError as exc:
                self._count(meter, resource, None)
                problem = f"cannot reach {_origin(url)}: {_short(exc)}"
            else:
                self._count(meter, resource, response)
                self._record(response)
                body = _json(response)
                wait = self._rate_limited(response, resource, body)
                if wait is not None:
                    raise RateLimited(
                        f"GitHub rate limit ({_message(body) or response.status_code}); "
                        f"aod waits {wait:.0f}s before asking again",
                        retry_after=wait,
                    )
                if response.status_code == 401:
                    if self._on_unauthorized is not None:
                        self._on_unauthorized()
                    raise ForgeError(
                        f"GitHub refused the token (401 {_message(body) or 'Unauthorized'}): "
                        "set a valid GH_TOKEN in aod's environment, or run `gh auth login`"
                    )
                if response.status_code < 500:
                    self._outage = _Backoff()
                    self._backoff.get(ALL, _Backoff()).strikes = 0
                    return response
                problem = f"GitHub answered {response.status_code} {_message(body) or response.reason_phrase}"
            attempt += 1
            if attempt > retries:
                raise self._give_up(problem)
            delay = settings.retry_backoff * 2 ** (attempt - 1) * self._rng.uniform(0.5, 1.5)
            if trio.current_time() + delay >= deadline:
                raise self._give_up(problem)
            await trio.sleep(delay)

    def ready(self, resource: str) -> None:
        """Raises NotSent while `resource` may not be asked (a backoff, a spent budget)."""
        self._refuse_while_waiting(resource)

    def _refuse_while_waiting(self, resource: str) -> None:
        wait = self.waiting(resource)
        if wait > 0:
            raise NotSent(f"waiting {wait:.0f}s for GitHub's rate limit or outage to pass", retry_after=wait)
        # The last answer said the budget is spent: this request would only be refused.
        limit = self.limits.get(resource)
        if limit is not None and limit.remaining <= 0 and self._clock() < limit.reset_at:
            wait = limit.reset_at - self._clock()
            raise NotSent(f"GitHub's {resource} rate limit is spent; it resets in {wait:.0f}s", retry_after=wait)

    def _give_up(self, problem: str) -> ForgeUnavailable:
        # GitHub down or unreachable: the next calls wait a little (doubling, up to a minute), so
        # an outage costs a few requests a minute, not several per session per tick.
        settings = self._settings()
        wait = min(settings.retry_backoff * 2**self._outage.strikes, 60.0)
        self._outage.strikes += 1
        self._outage.until = self._clock() + wait
        return ForgeUnavailable(problem, retry_after=wait)

    def _count(self, meter: Meter, resource: str, response: httpx.Response | None) -> None:
        meter.requests += 1
        self.totals.requests += 1
        self.totals.by_resource[resource] = self.totals.by_resource.get(resource, 0) + 1
        if response is not None and response.status_code == 304:
            meter.not_modified += 1
            self.totals.not_modified += 1

    async def graphql(self, url: str, query: str, variables: Mapping[str, Any], *, meter: Meter) -> Any:
        """The `data` of a GraphQL answer; errors (other than rate limits) raise ForgeError."""
        response = await self.request(
            "POST", url, resource="graphql", meter=meter,
            json={"query": query, "variables": dict(variables)},
            headers={"Accept": MERGE_INFO_PREVIEW},
        )
        self.graphql_server_time = _server_now(response)
        body = _json(response)
        if response.status_code != 200 or not isinstance(body, Mapping):
            raise ForgeError(f"GitHub GraphQL answered {response.status_code}: {_message(body) or 'no JSON'}")
        errors = [e for e in body.get("errors") or () if isinstance(e, Mapping)]
        if errors:
            raise GraphqlError([str(e.get("message") or e) for e in errors])
        return body.get("data")

    async def download(self, url: str, *, meter: Meter) -> str | None:
        """The text at a redirect target (a pre-signed blob URL): no token, last MAX_LOG_BYTES.

        One attempt, no retries: a log is a nicety, never worth more requests. None on failure.
        """
        if self.waiting("blob") > 0:
            return None
        settings = self._settings()
        tail: deque[bytes] = deque()
        size = 0
        try:
            with trio.fail_after(settings.timeout):
                # A fresh request without our default headers' Authorization (we set none there).
                async with self._http().stream("GET", url, headers={"Accept": "*/*"}, timeout=settings.timeout) as response:
                    self._count(meter, "blob", response)
                    if response.status_code != 200:
                        return None
                    async for chunk in response.aiter_bytes():
                        tail.append(chunk)
                        size += len(chunk)
                        while size - len(tail[0]) >= MAX_LOG_BYTES:
                            size -= len(tail.popleft())
        except (trio.TooSlowError, httpx.HTTPError):
            return None
        data = b"".join(tail)[-MAX_LOG_BYTES:]
        return data.decode("utf-8", "replace")


class RateLimited(ForgeUnavailable):
    """GitHub said: rate limited. aod waits `retry_after` seconds before asking again."""


class NotSent(ForgeUnavailable):
    """Nothing was sent: a rate limit or an outage is being waited out (`retry_after` left)."""


class GraphqlError(ForgeError):
    def __init__(self, messages: list[str]) -> None:
        super().__init__("GitHub GraphQL: " + "; ".join(messages)[:500])
        self.messages = messages


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _message(body: Any) -> str:
    if isinstance(body, Mapping):
        if body.get("message"):
            return str(body["message"])[:300]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
            return str(errors[0].get("message") or "")[:300]
    return ""


def message_of(response: httpx.Response) -> str:
    """GitHub's own words about a refusal: the `message`, and each validation error's."""
    body = _json(response)
    text = _message(body)
    if isinstance(body, Mapping):
        details = [
            str(e.get("message") or " ".join(str(e[k]) for k in ("field", "code") if e.get(k)))
            if isinstance(e, Mapping) else e  # a review's refusal lists plain sentences
            for e in body.get("errors") or ()
            if isinstance(e, Mapping | str)
        ]
        details = [d for d in details if d]
        if details:
            text = f"{text}: {'; '.join(details)}" if text else "; ".join(details)
    return text or f"HTTP {response.status_code}"
