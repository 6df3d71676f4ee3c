"""The dashboard's access rules (aod/web/auth.py) and where it may listen (aod/config/web.py)."""

from __future__ import annotations

import pytest

from aod.config import Config, is_loopback, parse_config, parse_listen
from aod.web import auth

TOKEN = "ab" * 32


def test_the_cookie_is_derived_from_the_token_and_changes_with_it() -> None:
    cookie = auth.cookie_value(TOKEN)
    assert len(cookie) == 64 and cookie != TOKEN
    assert auth.cookie_value(TOKEN) == cookie
    assert auth.cookie_value("cd" * 32) != cookie
    header = auth.set_cookie_header(TOKEN)
    assert header.startswith(f"aod_session={cookie};")
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {part.strip() for part in header.split(";")}


def test_a_request_is_signed_in_by_the_cookie_or_the_bearer_token_only() -> None:
    cookie = f"aod_session={auth.cookie_value(TOKEN)}"
    assert auth.credential(TOKEN, cookie_headers=[cookie], authorization=None) == "cookie"
    assert auth.credential(TOKEN, cookie_headers=[f"theme=dark; {cookie}"], authorization=None) == "cookie"
    assert auth.credential(TOKEN, cookie_headers=[], authorization=f"Bearer {TOKEN}") == "bearer"
    assert auth.credential(TOKEN, cookie_headers=[], authorization=f"bearer  {TOKEN}") == "bearer"
    for cookies, authorization in [
        ([], None),
        ([f"aod_session={TOKEN}"], None),  # the token is not the cookie
        ([f"aod_session={auth.cookie_value('cd' * 32)}"], None),  # a cookie of an old token
        ([], f"Basic {TOKEN}"),
        ([], f"Bearer {TOKEN[:-1]}"),
        ([], "Bearer ünïcode"),
        ([f"aod_session={auth.cookie_value(TOKEN)}x"], None),
    ]:
        assert auth.credential(TOKEN, cookie_headers=cookies, authorization=authorization) is None, (cookies, authorization)
    assert auth.credential(None, cookie_headers=[cookie], authorization=f"Bearer {TOKEN}") is None  # never minted


def test_the_loopback_audience() -> None:
    audience = auth.audience("127.0.0.1", 7433)
    for host in ("127.0.0.1:7433", "localhost:7433", "[::1]:7433", "LOCALHOST:7433"):
        assert audience.host_allowed(host), host
    for host in ("evil.example:7433", "127.0.0.1:7434", "127.0.0.1", "127.0.0.2:7433", "0.0.0.0:7433", None, ""):
        assert not audience.host_allowed(host), host
    assert audience.origin_allowed("http://localhost:7433")
    for origin in ("https://127.0.0.1:7433", "http://evil.example", "null", "http://127.0.0.1:7433/x", None):
        assert not audience.origin_allowed(origin), origin
    assert audience.url_host == "127.0.0.1"
    assert auth.audience("::1", 7433).url_host == "[::1]"


def test_an_explicit_address_is_allowed_by_its_ip_never_by_a_name() -> None:
    lan = auth.audience("192.168.1.5", 7433)
    assert lan.host_allowed("192.168.1.5:7433") and lan.url_host == "192.168.1.5"
    assert not lan.host_allowed("my-laptop.lan:7433")
    anywhere = auth.audience("0.0.0.0", 7433)
    assert anywhere.hosts == auth.audience("127.0.0.1", 7433).hosts


def test_the_policy_allows_nothing_from_elsewhere() -> None:
    csp = auth.content_security_policy(auth.audience("127.0.0.1", 7433))
    directives = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "ws://127.0.0.1:7433" in directives["connect-src"]
    # Styles: the page's own files, plus the <style> elements xterm.js writes; no style attributes.
    assert directives["style-src"] == "'self'" and directives["style-src-elem"] == "'self' 'unsafe-inline'"
    names = {name.decode() for name, _ in auth.security_headers(auth.audience("127.0.0.1", 7433))}
    assert {"content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options"} <= names
    assert not [name for name in names if name.startswith("access-control-")]


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:7433", ("127.0.0.1", 7433)),
    ("[::1]:0", ("::1", 0)),
    ("localhost:8080", ("localhost", 8080)),
    ("0.0.0.0:7433", ("0.0.0.0", 7433)),
])
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("example.com:7433", "host must be localhost or an IP address"),
    ("::1:7433", "in brackets"),
    ("[nope]:7433", "not an IPv6 address"),
    ("127.0.0.1", "HOST:PORT"),
    ("127.0.0.1:70000", "0 to 65535"),
    ("127.0.0.1:-1", "HOST:PORT"),
])
def test_bad_listen_addresses_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_listen(text)


def test_the_default_is_loopback_and_only_loopback_is_called_so() -> None:
    web = Config().web
    assert (web.enabled, web.listen) == (True, "127.0.0.1:7433")
    assert is_loopback(parse_listen(web.listen)[0])
    assert is_loopback("localhost") and is_loopback("::1") and is_loopback("127.0.0.5")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("::")


def test_a_host_name_in_the_config_is_an_error_on_its_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from aod.config import ConfigError

    with pytest.raises(ConfigError) as error:
        parse_config("web:\n  listen: my-laptop.lan:7433\n", "c.yaml", Config)
    assert any(line.startswith("c.yaml:2: web.listen:") for line in error.value.errors), error.value.errors
