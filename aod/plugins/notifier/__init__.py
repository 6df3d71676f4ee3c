"""The notifier slot: the plugins that tell a human something happened.

A notifier performs one command, `send`, and decides nothing: which notifiers get a
notification, how often a failed one is retried and how long an attempt may take are the
router's business (`aod/notify.py`). A notifier says how it failed — `NotifierError` with
`retryable` and, when the receiver asked for it, `retry_after` — and never what to do next.

Below the contract are the helpers the HTTP notifiers share: one POST with the status rules
every one of them follows, and text shaping for header values and size limits.
"""

from __future__ import annotations

import base64
import email.utils
import re
import time
import urllib.parse
from typing import Protocol

import httpx
import msgspec

PRIORITIES = ("urgent", "action", "warning", "info")


class Notification(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    """Stable per event (the reaction intent's fingerprint); a re-send after a crash reuses it."""
    title: str
    body: str
    priority: str
    """One of PRIORITIES: "urgent" | "action" | "warning" | "info"."""
    session: str | None
    project: str | None
    kind: str
    """The reaction key, like "ci-failed"; "test" for `aoctl notify test`."""
    url: str | None
    time: str
    """ISO 8601, UTC."""


class NotifierError(Exception):
    """A send that failed. The message is one line for a human, and never holds a secret."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        """Seconds the receiver asked us to wait (HTTP Retry-After), if it said."""


class Notifier(Protocol):
    name: str

    async def send(self, notification: Notification) -> None:
        """Deliver once; raises NotifierError."""
        ...


# ---------------------------------------------------------------------------------------------
# Text shaping

# Control characters (CR, LF, NUL, ...), and the Unicode line and paragraph separators some
# renderers break lines on.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str) -> str:
    """`text` with every run of control characters turned into one space: a title, a header."""
    return _LINE_BREAKING.sub(" ", text).strip()


# Terminal colour and cursor codes, common in text taken from CI logs and agents' screens.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL_BUT_NEWLINE_AND_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def plain_text(text: str) -> str:
    """Multi-line text without terminal escapes or control characters (a NUL cannot be an argv)."""
    text = _ANSI_ESCAPE.sub("", text).replace("\r\n", "\n")
    return _CONTROL_BUT_NEWLINE_AND_TAB.sub("", text)


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending in an ellipsis when something was cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def cut_utf8(text: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, cut between characters, ending in an ellipsis if cut."""
    if len(text.encode()) <= limit:
        return text
    budget = limit - len("…".encode())
    return text.encode()[:budget].decode("utf-8", "ignore") + "…"


def cut_utf16(text: str, limit: int) -> str:
    """At most `limit` UTF-16 code units (how JavaScript, and so Discord, counts length)."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    out: list[str] = []
    used = 1  # the ellipsis
    for char in text:
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            break
        out.append(char)
    return "".join(out) + "…"


_ENCODED_WORD_BYTES = 45  # 60 base64 characters: each encoded word stays under RFC 2047's 75


def header_text(text: str, limit: int = 250) -> str:
    """A header value that shows `text`: one line, and RFC 2047 encoded when not plain ASCII.

    HTTP header values are bytes that httpx writes as ASCII; RFC 2047 encoded words
    (`=?UTF-8?B?...?=`) carry any text through and are decoded by receivers such as ntfy. Text
    that merely looks like an encoded word is encoded too, so it reaches the reader as written.
    """
    text = cut(one_line(text), limit)
    if text.isascii() and "=?" not in text:
        return text
    words: list[str] = []
    chunk = ""
    for char in text:  # split between characters, never inside one's UTF-8 bytes
        if len((chunk + char).encode()) > _ENCODED_WORD_BYTES:
            words.append(chunk)
            chunk = ""
        chunk += char
    words.append(chunk)
    return " ".join(f"=?UTF-8?B?{base64.b64encode(w.encode()).decode('ascii')}?=" for w in words)


_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))


def token_header(text: str) -> str:
    """A header value compared as-is by the receiver (an id, a kind): ASCII, the rest %-escaped."""
    return urllib.parse.quote(one_line(text), safe=_PRINTABLE_ASCII.replace("%", ""))


def safe_link(url: str | None) -> str | None:
    """`url` if it is an http(s) link on one line with no spaces, else None (then it is left out)."""
    if not url or not url.isprintable() or any(c.isspace() for c in url):
        return None
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    # An IRI (non-ASCII path) becomes its URI form; escapes already in it (%20) stay as they are.
    return urllib.parse.quote(url, safe=_PRINTABLE_ASCII)


# ---------------------------------------------------------------------------------------------
# HTTP, shared by webhook, slack, discord and ntfy


def where(url: str) -> str:
    """`scheme://host[:port]` of `url`: enough to say which server, never the path or query,
    which may hold a token (Slack's and Discord's webhook URLs are credentials)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        host = f"[{host}]" if ":" in host else host  # IPv6
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "the configured url"
    return f"{parts.scheme}://{host}{port}"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # an HTTP date is GMT; a sloppy server may leave the zone out
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds or seconds == float("inf"):  # NaN, inf
        return None
    return max(seconds, 0.0)


async def post(
    client: httpx.AsyncClient,
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    timeout: float,
    check: str,
) -> None:
    """POST once and judge the answer; raises NotifierError.

    2xx is delivered. 429 and 5xx, timeouts and network errors are worth another try (with the
    receiver's Retry-After). A redirect or any other 4xx will answer the same next time: the
    message says so, and `check` says what the user should look at (their url, their token).
    """
    server = where(url)
    try:
        response = await client.post(url, content=content, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        raise NotifierError(f"no answer from {server} within {timeout:g}s", retryable=True) from None
    except (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.InvalidURL) as exc:
        # Our side of the request is unusable (a URL or header value): the same every time.
        raise NotifierError(f"cannot send to {server}: {_exception_text(exc)}; {check}", retryable=False) from None
    except httpx.TransportError as exc:  # refused, reset, DNS, TLS, a broken response
        raise NotifierError(f"cannot reach {server}: {_exception_text(exc)}", retryable=True) from None
    except httpx.HTTPError as exc:  # an answer httpx could not read (its encoding, say)
        raise NotifierError(f"bad answer from {server}: {_exception_text(exc)}", retryable=True) from None
    status = response.status_code
    if 200 <= status < 300:
        return
    said = _answer_text(response)
    prefix = f"HTTP {status} from {server}" + (f" ({said})" if said else "")
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise NotifierError(prefix, retryable=True, retry_after=retry_after)
    if 300 <= status < 400:
        raise NotifierError(f"{prefix}: a redirect, which aod does not follow; {check}", retryable=False)
    if status in (401, 403):
        raise NotifierError(f"{prefix}: not allowed; {check}", retryable=False)
    if status in (404, 410):
        raise NotifierError(f"{prefix}: no such endpoint; {check}", retryable=False)
    raise NotifierError(f"{prefix}: refused; {check}", retryable=False)


def _answer_text(response: httpx.Response) -> str:
    # Slack answers `invalid_token`, Discord a JSON message, ntfy a JSON error: worth a few words.
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return ""
    return cut(one_line(text), 160)


def _exception_text(exc: Exception) -> str:
    return cut(one_line(str(exc)), 200) or type(exc).__name__
