"""The notification router: which notifiers get a notification, and how hard each one tries.

The policy of notifying lives here, the I/O in the plugins (`aod/plugins/notifier/`):

- Routing: every notifier whose `priorities` holds the notification's priority, and the
  built-in `log` notifier always, so every notification is on record.
- Independence: all of them at once, each with its own attempts, timeout and backoff; a
  receiver that hangs or is down costs its own budget and never delays another's result.
- Retries: an attempt that failed in a way worth repeating (429, 5xx, timeout, no network) is
  repeated up to `retries` times, after exponential backoff with jitter, or after the receiver's
  Retry-After when it gave one (capped, so a receiver cannot park a notification for an hour).
  A refusal that will not change (404, 401, a missing program) ends at once.
- Safety: `deliver` never raises (short of cancellation); each notifier's outcome is "ok" or one
  line saying what went wrong, with the notifier's secrets blanked out.

The same notification may be delivered again after a crash (the reactor re-sends pending
intents); its `id` stays the same, so receivers that care can drop the repeat.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import msgspec
import structlog
import trio

from aod import __version__, redact
from aod.config import (
    BUILTIN_NOTIFIER,
    Config,
    DesktopNotifierConfig,
    DiscordNotifierConfig,
    LogNotifierConfig,
    NotifierConfig,
    NtfyNotifierConfig,
    PluginNotifierConfig,
    SlackNotifierConfig,
    WebhookNotifierConfig,
    format_duration,
)
from aod.plugins.notifier import Notification, Notifier, NotifierError, cut, one_line
from aod.plugins.notifier.desktop import DesktopNotifier
from aod.plugins.notifier.discord import DiscordNotifier
from aod.plugins.notifier.log import LogNotifier
from aod.plugins.notifier.ntfy import NtfyNotifier
from aod.plugins.notifier.slack import SlackNotifier
from aod.plugins.notifier.webhook import WebhookNotifier
from aod.redact import Redactor

log = structlog.get_logger()

OK = "ok"
# The built-in log notifier's settings: every priority; writing a log line does not fail.
_BUILTIN = LogNotifierConfig(kind="log", retries=0)


@dataclass(frozen=True)
class _Route:
    notifier: Notifier
    settings: NotifierConfig
    secrets: tuple[str, ...]


class NotificationRouter:
    def __init__(
        self,
        config: Callable[[], Config],
        *,
        backoff: float = 1.0,
        max_delay: float = 60.0,
        rng: random.Random | None = None,
    ) -> None:
        """`config` is read at every delivery, so a reload takes effect on the next one.

        `backoff` is the wait before the first retry (doubling each time), `max_delay` caps
        every wait, the receiver's Retry-After included.
        """
        self._config = config
        self._backoff = backoff
        self._max_delay = max_delay
        self._rng = rng or random.Random()
        self._built_for: Config | None = None
        self._routes: dict[str, _Route] = {}
        self._client: httpx.AsyncClient | None = None
        self.redactor: Callable[[], Redactor] = lambda: redact.DEFAULT

    async def deliver(self, notification: Notification) -> dict[str, str]:
        """Send through every notifier routed for its priority, with retries; name -> outcome."""
        return await self._fan_out(notification, single_attempt=False)

    async def send_now(self, notification: Notification) -> dict[str, str]:
        """The same with one attempt each: `aoctl notify test` wants the first answer."""
        return await self._fan_out(notification, single_attempt=True)

    async def aclose(self) -> None:
        """Close the HTTP connections. The router still works afterwards (it reconnects)."""
        client, self._client = self._client, None
        self._built_for = None  # the notifiers hold the closed client: build them anew
        self._routes = {}
        if client is not None:
            await client.aclose()

    # -----------------------------------------------------------------------------------------

    async def _fan_out(self, notification: Notification, *, single_attempt: bool) -> dict[str, str]:
        results: dict[str, str] = {}
        # Whatever built it, no secret leaves in a notification (desktop, chat, webhooks, log).
        redactor = self.redactor()
        notification = msgspec.structs.replace(
            notification, title=redactor.text(notification.title), body=redactor.text(notification.body)
        )
        try:
            routes = self._routed(notification.priority)
        except Exception as exc:  # a bug: still answer, and still write the log line
            # No traceback (as below): its locals could hold a secret.
            log.error("notifiers could not be built", error=f"{type(exc).__name__}: {exc}")
            routes = {BUILTIN_NOTIFIER: _Route(LogNotifier(), _BUILTIN, ())}
        async with trio.open_nursery() as nursery:
            for name, route in routes.items():
                nursery.start_soon(self._run, name, route, notification, single_attempt, results)
        return {name: results[name] for name in routes}  # in config order, not finishing order

    def _routed(self, priority: str) -> dict[str, _Route]:
        config = self._config()
        if config is not self._built_for:
            self._routes = self._build(config)
            self._built_for = config
        return {
            name: route
            for name, route in self._routes.items()
            if name == BUILTIN_NOTIFIER or priority in route.settings.priorities
        }

    def _build(self, config: Config) -> dict[str, _Route]:
        routes = {BUILTIN_NOTIFIER: _Route(LogNotifier(BUILTIN_NOTIFIER), _BUILTIN, ())}
        for name, settings in config.notifiers.items():
            routes[name] = _Route(self._plugin(name, settings), settings, tuple(s for s in settings.secrets() if s))
        return routes

    def _plugin(self, name: str, settings: NotifierConfig) -> Notifier:
        if isinstance(settings, LogNotifierConfig):
            return LogNotifier(name)
        if isinstance(settings, DesktopNotifierConfig):
            return DesktopNotifier(name, timeout=settings.timeout)
        if isinstance(settings, WebhookNotifierConfig):
            return WebhookNotifier(name, settings, self._http())
        if isinstance(settings, SlackNotifierConfig):
            return SlackNotifier(name, settings, self._http())
        if isinstance(settings, DiscordNotifierConfig):
            return DiscordNotifier(name, settings, self._http())
        if isinstance(settings, NtfyNotifierConfig):
            return NtfyNotifier(name, settings, self._http())
        if isinstance(settings, PluginNotifierConfig):
            return _external_notifier(name, settings)
        raise TypeError(f"no notifier plugin for kind {settings.kind!r}")

    def _http(self) -> httpx.AsyncClient:
        # One client for every HTTP notifier: connections to the same host are kept and reused.
        # Redirects are not followed: a webhook that moved is a config to fix, and following one
        # would re-send the body, signature included, to wherever the redirect points.
        if self._client is None:
            self._client = httpx.AsyncClient(
                follow_redirects=False, headers={"User-Agent": f"aod/{__version__}"}
            )
        return self._client

    async def _run(
        self,
        name: str,
        route: _Route,
        notification: Notification,
        single_attempt: bool,
        results: dict[str, str],
    ) -> None:
        try:
            results[name] = await self._attempts(name, route, notification, single_attempt)
        except Exception as exc:  # only a bug gets here; the others' results must still come back
            results[name] = f"internal error: {type(exc).__name__}"

    async def _attempts(
        self, name: str, route: _Route, notification: Notification, single_attempt: bool
    ) -> str:
        attempts = 1 if single_attempt else 1 + route.settings.retries
        slog = log.bind(session=notification.session, notifier=name, notification=notification.id)
        for attempt in range(1, attempts + 1):
            error = await self._attempt(route, notification)
            if error is None:
                if attempt > 1:
                    slog.info("notification delivered", attempts=attempt)
                return OK
            reason = _redacted(str(error), route.secrets)
            if not error.retryable or attempt == attempts:
                if attempt > 1:
                    reason += f" (after {attempt} attempts)"
                slog.warning("notification not delivered", reason=reason)
                return reason
            delay = self._delay(attempt, error.retry_after)
            slog.info("notification attempt failed; retrying", reason=reason, attempt=attempt,
                      retry_in=round(delay, 3))
            await trio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns")

    async def _attempt(self, route: _Route, notification: Notification) -> NotifierError | None:
        timeout = route.settings.timeout
        with trio.move_on_after(timeout):
            try:
                await route.notifier.send(notification)
            except NotifierError as exc:
                return exc
            except Exception as exc:  # a plugin's bug must not cost the other notifiers' results
                # No traceback: its locals could hold a secret, and log lines carry them.
                text = cut(one_line(str(exc)), 200)
                return NotifierError(f"internal error: {type(exc).__name__}: {text}", retryable=False)
            return None
        return NotifierError(f"no answer within {format_duration(timeout)} (timeout)", retryable=True)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        """The wait before attempt `attempt + 1`: exponential with jitter, or what was asked."""
        exponential = min(self._max_delay, self._backoff * 2 ** (attempt - 1))
        # Half fixed, half random: spread out, but never hammering a receiver that is down.
        jittered = exponential * self._rng.uniform(0.5, 1.0)
        if retry_after is not None:
            return min(self._max_delay, max(retry_after, jittered))
        return jittered


class _UnusableNotifier:
    """A plugin notifier that did not load, fit or accept its settings: each send says why, and
    the other notifiers are unaffected."""

    def __init__(self, name: str, why: str) -> None:
        self.name, self.why = name, why

    async def send(self, notification: Notification) -> None:
        raise NotifierError(self.why, retryable=False)


def _external_notifier(name: str, settings: PluginNotifierConfig) -> Notifier:
    from aod.plugins import external  # entry points `aod.notifiers` (docs/plugins.md)

    try:
        return external.make("notifier", settings.kind, name, settings.settings())  # type: ignore[no-any-return]
    except external.PluginUnavailable as exc:
        log.error("notifier plugin unusable", notifier=name, kind=settings.kind, error=str(exc))
        return _UnusableNotifier(name, str(exc))


def _redacted(text: str, secrets: tuple[str, ...]) -> str:
    # The plugins never put a secret in a message; this is the net under a mistake (an exception
    # text that quotes a URL, say), since outcomes are logged and shown by `aoctl notify test`.
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
