"""The dashboard's listener: `web` (docs/dashboard.md).

It listens on loopback unless `web.listen` names another address, as an IP address written out:
a host name could resolve to anything (and change what it resolves to), so only `localhost`
and IP literals are taken, and a non-loopback one is logged as a warning at every start.

One job: this section's model and the reading of a `HOST:PORT`. May import: pydantic and this
package's `fields`.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Final

from pydantic import AfterValidator, Field

from aod.config.fields import Integer, Section

DEFAULT_LISTEN: Final = "127.0.0.1:7433"
LISTEN_ENV: Final = "AOD_WEB_LISTEN"
"""Overrides `web.listen` (as `aod --web-listen` does): a second aod, or tests, on another port."""


def parse_listen(text: str) -> tuple[str, int]:
    """`127.0.0.1:7433`, `[::1]:7433`, `localhost:0`, `0.0.0.0:7433` -> (host, port), the host
    without brackets. Raises ValueError saying what to write instead."""
    if not isinstance(text, str):
        raise ValueError(f"expected HOST:PORT like {DEFAULT_LISTEN}, got {text!r}")
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdecimal() or int(port_text) > 65535:
        raise ValueError(f"expected HOST:PORT with a port from 0 to 65535, like {DEFAULT_LISTEN} (got {text!r})")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{text!r}: [{host}] is not an IPv6 address") from None
    elif host != "localhost":
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(
                f"{text!r}: the host must be localhost or an IP address (127.0.0.1, [::1], 0.0.0.0): "
                "a host name could resolve to an interface you did not mean to open"
            ) from None
        if address.version == 6:
            raise ValueError(f"{text!r}: write an IPv6 address in brackets, like [{host}]:{port_text}")
    return host, int(port_text)


def is_loopback(host: str) -> bool:
    """Whether `host` (as parse_listen returns it) reaches this machine only."""
    return host == "localhost" or ipaddress.ip_address(host).is_loopback


def _listen(value: str) -> str:
    parse_listen(value)
    return value.strip()


class WebConfig(Section):
    # The dashboard, served by aod itself; every route but the page's own files needs the token.
    enabled: bool = True
    listen: Annotated[str, AfterValidator(_listen)] = DEFAULT_LISTEN
    # Requests and WebSockets open at once; one more is answered 503.
    max_connections: Annotated[Integer, Field(ge=1, le=4096)] = 64
