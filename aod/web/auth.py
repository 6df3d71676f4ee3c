"""PURE: who may talk to the dashboard, and the headers every answer carries.

- The token (256 bits, minted over the Unix socket by `web.token`) is posted once to `/auth`
  and exchanged for the cookie `aod_session`, whose value is an HMAC of the token: the cookie is
  not the token (a leaked cookie does not reveal it) and a new token makes every old cookie
  worthless. Scripts may send `Authorization: Bearer <token>` instead. Both are compared in
  constant time.
- `Host` must name this listener by a loopback name (`127.0.0.1`, `localhost`, `[::1]`, with the
  port), or the IP address it was explicitly bound to: a page on another site that got its
  domain to resolve to 127.0.0.1 (DNS rebinding) sends its own name and is refused.
- `Origin` must be this listener (`http://` + an allowed host) on every WebSocket upgrade and
  every POST. A browser always sends it there, so a cross-site page is refused before anything
  runs; only a script authenticating with the Bearer token (which no other site can have) may
  leave it out.

No I/O. May import: the standard library.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

COOKIE_NAME: Final = "aod_session"
_COOKIE_PURPOSE: Final = b"aod dashboard session cookie, v1"
LOOPBACK_NAMES: Final = ("127.0.0.1", "localhost", "[::1]")

Credential = Literal["cookie", "bearer"]


def cookie_value(token: str) -> str:
    """The cookie a browser gets for `token`: HMAC-SHA256 keyed by the token, hex."""
    return hmac.new(token.encode("ascii"), _COOKIE_PURPOSE, hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    try:
        return hmac.compare_digest(given.encode("ascii"), expected.encode("ascii"))
    except UnicodeEncodeError:
        return False


def token_matches(given: object, token: str | None) -> bool:
    return isinstance(given, str) and token is not None and _same(given, token)


def set_cookie_header(token: str) -> str:
    # No Max-Age: it lasts as long as the browser session. No `Secure`: plain HTTP on loopback.
    return f"{COOKIE_NAME}={cookie_value(token)}; HttpOnly; SameSite=Strict; Path=/"


def cookies(header_values: Iterable[str]) -> dict[str, str]:
    """`Cookie:` headers as name -> value (the first of a repeated name wins)."""
    found: dict[str, str] = {}
    for header in header_values:
        for part in header.split(";"):
            name, sep, value = part.strip().partition("=")
            if sep and name and name not in found:
                found[name] = value.strip().strip('"')
    return found


def credential(
    token: str | None, *, cookie_headers: Iterable[str], authorization: str | None
) -> Credential | None:
    """How the request proves it has the token, or None (then it is refused with 401)."""
    if token is None:
        return None  # never minted: nobody can be signed in yet
    if authorization is not None:
        scheme, _, given = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token_matches(given.strip(), token):
            return "bearer"
    given_cookie = cookies(cookie_headers).get(COOKIE_NAME)
    if given_cookie is not None and _same(given_cookie, cookie_value(token)):
        return "cookie"
    return None


@dataclass(frozen=True)
class Audience:
    """The hosts and origins this listener answers to."""

    hosts: frozenset[str]
    origins: frozenset[str]
    url_host: str
    """The host the dashboard's URL names."""

    def host_allowed(self, host: str | None) -> bool:
        return host is not None and host.strip().lower() in self.hosts

    def origin_allowed(self, origin: str | None) -> bool:
        return origin is not None and origin.strip().lower() in self.origins


def audience(listen_host: str, port: int) -> Audience:
    """For a listener bound to `listen_host` (as aod.config.parse_listen gives it) on `port`."""
    names = list(LOOPBACK_NAMES)
    url_host = "127.0.0.1"
    if listen_host not in ("localhost",):
        address = ipaddress.ip_address(listen_host)
        literal = f"[{address.compressed}]" if address.version == 6 else address.compressed
        if address.is_loopback:
            url_host = literal if address.version == 6 else "127.0.0.1"
        elif not address.is_unspecified:
            # Bound to one non-loopback address on purpose: browsers there name it by its IP.
            names.append(literal)
            url_host = literal
    hosts = {f"{name}:{port}" for name in names}
    if port == 80:  # a browser leaves the default port out of Host and Origin
        hosts |= set(names)
    return Audience(
        hosts=frozenset(hosts),
        origins=frozenset(f"http://{host}" for host in hosts),
        url_host=url_host,
    )


def content_security_policy(audience: Audience) -> str:
    """Only this listener's own files and connections; no inline script, no framing.

    One allowance: `<style>` elements written by script (`style-src-elem 'unsafe-inline'`).
    xterm.js's renderer sizes its rows and colours its text through `<style>` elements it fills
    at run time, so without it the terminal cannot be drawn. Style attributes in markup stay
    refused (`style-src`), and nothing inline may run."""
    # An IPv6 literal is not a valid CSP source (browsers ignore it, noisily); 'self' covers
    # the page's own WebSockets in today's browsers anyway, the names are for older ones.
    sockets = " ".join(sorted(f"ws://{host}" for host in audience.hosts if not host.startswith("[")))
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "style-src-elem 'self' 'unsafe-inline'; img-src 'self' data:; "
        f"font-src 'self'; connect-src 'self' {sockets}; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )


def security_headers(audience: Audience) -> list[tuple[bytes, bytes]]:
    """On every answer, refusals included. Never an Access-Control-* header: no CORS."""
    return [
        (b"content-security-policy", content_security_policy(audience).encode("ascii")),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"x-frame-options", b"DENY"),
        (b"cross-origin-opener-policy", b"same-origin"),
        (b"cross-origin-resource-policy", b"same-origin"),
    ]
