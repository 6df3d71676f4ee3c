"""The dashboard's transport end to end: a real aod process, real HTTP over loopback (httpx) and
real WebSockets (wsproto over a socket, tests/support/ws_client.py).

Every refusal is checked twice: the status it gets, and that nothing ran (an `issue.add` that was
refused leaves no issue behind).
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from aod.protocol import METHODS, ErrorCode
from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import make_repo
from tests.support.ws_client import Refused, WsClient


@dataclass
class Dashboard:
    aod: AodProcess
    port: int
    token: str
    project: str = "demo"

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.origin, timeout=10)

    def sign_in(self, client: httpx.Client, token: str | None = None) -> str:
        """POST /auth as the page does; the cookie (`aod_session=...`) it set."""
        reply = client.post("/auth", json={"token": token or self.token}, headers={"Origin": self.origin})
        assert reply.status_code == 204, reply.text
        return f"aod_session={client.cookies['aod_session']}"

    def rpc(self, client: httpx.Client, method: str, params: Any = None, **headers: str) -> httpx.Response:
        body: dict[str, Any] = {"jsonrpc": "2.0", "id": 1, "method": method}
        if params is not None:
            body["params"] = params
        return client.post("/rpc", content=json.dumps(body), headers={"Origin": self.origin, **headers})

    def issues(self) -> list[Any]:
        return self.aod.result("issue.list", {"project": self.project})["issues"]


@pytest.fixture
def dashboard(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Dashboard]:
    aod = make_aod().start()
    aod.result("project.add", {"path": str(make_repo(tmp_path / "demo"))})
    port = aod.result("daemon.status")["web"]["port"]
    yield Dashboard(aod, port, aod.result("web.token")["token"])


ADD_ISSUE = {"title": "must not exist", "project": "demo"}


def test_it_listens_on_the_port_it_reports_with_strict_headers_and_no_cors(dashboard: Dashboard) -> None:
    status = dashboard.aod.result("daemon.status")["web"]
    assert status["state"] == "listening" and status["listen"] == "127.0.0.1:0"
    assert status["address"] == f"127.0.0.1:{dashboard.port}" and dashboard.port > 0
    assert status["url"] == f"http://127.0.0.1:{dashboard.port}/"
    with dashboard.http() as client:
        page = client.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        script = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
        assert "unsafe-inline" not in script and "unsafe-eval" not in script
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["x-frame-options"] == "DENY"
        preflight = client.options("/rpc", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
        cookie = dashboard.sign_in(client)
        api = dashboard.rpc(client, "daemon.ping")
        assert api.status_code == 200 and api.headers["cache-control"] == "no-store"
        refused = client.post("/rpc", content=b"{}", headers={"Origin": "http://evil.example", "Cookie": cookie})
        for answer in (page, preflight, api, refused):
            assert "content-security-policy" in answer.headers
            assert not [h for h in answer.headers if h.lower().startswith("access-control-")], answer.headers
        assert preflight.status_code == 405 and refused.status_code == 403


def test_every_method_is_reachable_over_post_rpc_through_the_one_dispatcher(dashboard: Dashboard) -> None:
    with dashboard.http() as client:
        dashboard.sign_in(client)
        listed = dashboard.rpc(client, "rpc.discover").json()["result"]
        assert {m["name"] for m in listed["methods"]} == set(METHODS)
        # Each method reaches its handler's params check (-32602), none is unknown (-32601):
        # unknown params are refused before anything runs, so daemon.shutdown stops nothing.
        batch = [{"jsonrpc": "2.0", "id": name, "method": name, "params": {"no_such_param": 1}} for name in METHODS]
        replies = client.post("/rpc", content=json.dumps(batch), headers={"Origin": dashboard.origin}).json()
        assert {r["id"]: r["error"]["code"] for r in replies} == {name: ErrorCode.INVALID_PARAMS for name in METHODS}
        assert dashboard.aod.answers()
        # A batch is answered as one array, without its notification's entry; notifications alone: 204.
        mixed = [{"jsonrpc": "2.0", "id": 1, "method": "daemon.ping"}, {"jsonrpc": "2.0", "method": "daemon.ping"},
                 {"jsonrpc": "2.0", "id": 2, "method": "no.such"}]
        answered = client.post("/rpc", content=json.dumps(mixed), headers={"Origin": dashboard.origin}).json()
        assert sorted(r["id"] for r in answered) == [1, 2]
        assert next(r for r in answered if r["id"] == 2)["error"]["code"] == ErrorCode.METHOD_NOT_FOUND
        quiet = client.post("/rpc", content=json.dumps({"jsonrpc": "2.0", "method": "daemon.ping"}), headers={"Origin": dashboard.origin})
        assert quiet.status_code == 204 and quiet.content == b""
        # A real call, as the page makes them: the same answer the socket gives.
        added = dashboard.rpc(client, "issue.add", {"title": "from the page", "project": "demo"}).json()["result"]
        assert [i["id"] for i in dashboard.issues()] == [added["id"]]
        subscribe = dashboard.rpc(client, "events.subscribe").json()["error"]
        assert subscribe["code"] == ErrorCode.INVALID_REQUEST and "WebSocket" in subscribe["message"]


def test_events_subscribe_over_the_websocket_pushes_as_the_socket_does(dashboard: Dashboard, tmp_path: Path) -> None:
    with dashboard.http() as client:
        cookie = dashboard.sign_in(client)
    with WsClient(dashboard.port, "/rpc", origin=dashboard.origin, cookie=cookie) as ws:
        ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {"kinds": ["project"]}})
        subscribed = ws.receive_json()
        assert subscribed["id"] == 1 and set(subscribed["result"]) == {"subscription", "seq"}
        ws.send_json([{"jsonrpc": "2.0", "id": 2, "method": "daemon.ping"}, {"jsonrpc": "2.0", "id": 3, "method": "session.list"}])
        assert sorted(r["id"] for r in ws.receive_json()) == [2, 3]
        # A change made elsewhere (over the Unix socket) reaches the page.
        dashboard.aod.result("project.add", {"path": str(make_repo(tmp_path / "other"))})
        event = ws.receive_json()
        assert event["method"] == "event" and event["params"]["kind"] == "project.added"
        assert event["params"]["seq"] > subscribed["result"]["seq"]
        assert dashboard.aod.result("daemon.status")["subscribers"] == 1
        ws.send_json({"jsonrpc": "2.0", "id": 4, "method": "web.token"})
        assert ws.receive_json()["error"]["code"] == ErrorCode.PERMISSION_DENIED
    wait_for(lambda: dashboard.aod.result("daemon.status")["subscribers"] == 0, 10, "the subscription to end with the page")


def test_a_foreign_origin_is_refused_and_nothing_runs(dashboard: Dashboard) -> None:
    with dashboard.http() as client:
        dashboard.sign_in(client)
        for origin in ("http://evil.example", f"http://127.0.0.1:{dashboard.port + 1}", "null", f"https://127.0.0.1:{dashboard.port}"):
            refused = dashboard.rpc(client, "issue.add", ADD_ISSUE, Origin=origin)
            assert refused.status_code == 403, (origin, refused.text)
        no_origin = client.post("/rpc", content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "issue.add", "params": ADD_ISSUE}))
        assert no_origin.status_code == 403  # a cookie alone is not enough: browsers always send Origin
        assert client.post("/auth", json={"token": dashboard.token}, headers={"Origin": "http://evil.example"}).status_code == 403
    assert dashboard.issues() == []


def test_a_foreign_host_is_refused_on_every_route(dashboard: Dashboard) -> None:
    """DNS rebinding: a page at evil.example whose name now resolves to 127.0.0.1."""
    evil = f"evil.example:{dashboard.port}"
    with dashboard.http() as client:
        cookie = dashboard.sign_in(client)
        for path in ("/", "/static/index.html", "/vendor/xterm.js"):
            assert client.get(path, headers={"Host": evil}).status_code == 421
        refused = dashboard.rpc(client, "issue.add", ADD_ISSUE, Host=evil, Origin=f"http://{evil}")
        assert refused.status_code == 421
        assert dashboard.rpc(client, "issue.add", ADD_ISSUE, Host=f"127.0.0.1:{dashboard.port + 1}").status_code == 421
    with pytest.raises(Refused) as ws:
        WsClient(dashboard.port, "/rpc", host=evil, origin=f"http://{evil}", cookie=cookie)
    assert ws.value.status == 421
    assert dashboard.issues() == []


def test_no_token_and_wrong_tokens_are_refused_and_nothing_runs(dashboard: Dashboard) -> None:
    wrong = "0" * 64
    with dashboard.http() as client:
        assert dashboard.rpc(client, "issue.add", ADD_ISSUE).status_code == 401
        assert client.post("/auth", json={"token": wrong}, headers={"Origin": dashboard.origin}).status_code == 401
        assert client.post("/auth", json={"token": dashboard.token[:-1]}, headers={"Origin": dashboard.origin}).status_code == 401
        assert client.post("/auth", content=b"not json", headers={"Origin": dashboard.origin}).status_code == 400
        assert "aod_session" not in client.cookies
        assert dashboard.rpc(client, "issue.add", ADD_ISSUE, Cookie=f"aod_session={wrong}").status_code == 401
        # The cookie is not the token: the token itself is not accepted as a cookie.
        assert dashboard.rpc(client, "issue.add", ADD_ISSUE, Cookie=f"aod_session={dashboard.token}").status_code == 401
        assert dashboard.rpc(client, "issue.add", ADD_ISSUE, Authorization=f"Bearer {wrong}").status_code == 401
        # A script with the token itself may use it as a Bearer token, and need not send Origin.
        scripted = client.post(
            "/rpc", content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "daemon.ping"}),
            headers={"Authorization": f"Bearer {dashboard.token}"},
        )
        assert scripted.status_code == 200 and scripted.json()["result"]["pid"]
    for headers in ({}, {"cookie": f"aod_session={wrong}"}):
        with pytest.raises(Refused) as ws:
            WsClient(dashboard.port, "/rpc", origin=dashboard.origin, **headers)
        assert ws.value.status == 401
    assert dashboard.issues() == []


def test_a_cross_site_websocket_upgrade_is_refused(dashboard: Dashboard) -> None:
    with dashboard.http() as client:
        cookie = dashboard.sign_in(client)
    for path in ("/rpc", "/term/demo-1"):
        for origin in ("http://evil.example", None):
            with pytest.raises(Refused) as ws:
                WsClient(dashboard.port, path, origin=origin, cookie=cookie)
            assert ws.value.status == 403, (path, origin)
            assert "content-security-policy" in ws.value.headers
    with pytest.raises(Refused) as unknown:
        WsClient(dashboard.port, "/term/Not_An_Id", origin=dashboard.origin, cookie=cookie)
    assert unknown.value.status == 404
    assert dashboard.aod.result("daemon.status")["subscribers"] == 0


def test_rotating_signs_out_old_cookies_tokens_and_open_pages(dashboard: Dashboard) -> None:
    with dashboard.http() as client:
        old_cookie = dashboard.sign_in(client)
        ws = WsClient(dashboard.port, "/rpc", origin=dashboard.origin, cookie=old_cookie)
        ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe"})
        assert "result" in ws.receive_json()
        rotated = dashboard.aod.aoctl("dashboard", "--rotate", "--json")
        assert rotated.returncode == 0, rotated.stderr
        new = json.loads(rotated.stdout)
        assert new["rotated"] is True and new["token"] != dashboard.token and len(new["token"]) == 64
        while (message := ws.receive()) is not None:
            pass  # events up to the close
        assert ws.closed is not None and ws.closed.code == 4401
        ws.close()
        assert dashboard.rpc(client, "issue.add", ADD_ISSUE).status_code == 401  # the old cookie, still sent
        client.cookies.clear()
        assert client.post("/auth", json={"token": dashboard.token}, headers={"Origin": dashboard.origin}).status_code == 401
        with pytest.raises(Refused) as stale_ws:
            WsClient(dashboard.port, "/rpc", origin=dashboard.origin, cookie=old_cookie)
        assert stale_ws.value.status == 401
        assert dashboard.issues() == []
        dashboard.sign_in(client, new["token"])
        assert dashboard.rpc(client, "daemon.ping").status_code == 200


def test_the_token_comes_over_the_socket_only(dashboard: Dashboard) -> None:
    shown = dashboard.aod.aoctl("dashboard")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"http://127.0.0.1:{dashboard.port}/#token={dashboard.token}"
    again = json.loads(dashboard.aod.aoctl("dashboard", "--json").stdout)
    assert again["token"] == dashboard.token and again["rotated"] is False and again["listening"] is True
    state_file = dashboard.aod.state_dir / "web-token.json"
    assert state_file.stat().st_mode & 0o777 == 0o600
    bodies = []
    with dashboard.http() as client:
        dashboard.sign_in(client)
        refused = dashboard.rpc(client, "web.token", {"rotate": True}).json()
        assert refused["error"]["code"] == ErrorCode.PERMISSION_DENIED
        bodies.append(json.dumps(refused))
        for method in ("daemon.status", "rpc.discover", "events.recent", "daemon.doctor"):
            bodies.append(dashboard.rpc(client, method).text)
        for path in ("/", "/static/index.html", "/vendor/xterm.js", "/nope", "/rpc", "/auth"):
            bodies.append(client.get(path).text)
        assert set(client.cookies.values()).isdisjoint({dashboard.token})
    assert all(dashboard.token not in body for body in bodies)
    assert json.loads(dashboard.aod.aoctl("dashboard", "--json").stdout)["token"] == dashboard.token  # not rotated
    assert dashboard.token not in dashboard.aod.log()


def test_dashboard_open_hands_the_address_to_the_browser(dashboard: Dashboard, tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import sys, pathlib\npathlib.Path({str(opened)!r}).write_text(sys.argv[1])\n")
    dashboard.aod.extra_env["BROWSER"] = f"{sys.executable} {browser} %s"  # webbrowser's own hook
    shown = dashboard.aod.aoctl("dashboard", "--open")
    assert shown.returncode == 0, shown.stderr
    url = f"http://127.0.0.1:{dashboard.port}/#token={dashboard.token}"
    assert shown.stdout.strip() == url
    wait_for(lambda: opened.exists() and opened.read_text() == url, 10, "the browser to be given the address")


def test_static_files_stay_inside_their_folder(dashboard: Dashboard) -> None:
    with dashboard.http() as client:
        assert client.get("/static/index.html").status_code == 200
        for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/.hidden", "/static/", "/static//etc/passwd",
                     "/static/../../state/web-token.json", "/vendor/../app.py", "/static/nope.js"):
            assert client.get(path).status_code == 404, path
        assert client.post("/", headers={"Origin": dashboard.origin}).status_code == 405


def test_a_file_the_browser_has_is_revalidated_without_its_body(dashboard: Dashboard) -> None:
    with dashboard.http() as client:
        first = client.get("/static/js/main.js")
        etag = first.headers["etag"]
        assert first.status_code == 200 and first.headers["cache-control"] == "no-cache" and first.content
        again = client.get("/static/js/main.js", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert "content-security-policy" in again.headers  # the security headers on every answer
        assert client.get("/static/js/main.js", headers={"If-None-Match": f'W/{etag}, "other"'}).status_code == 304
        changed = client.get("/static/js/main.js", headers={"If-None-Match": '"not-this-one"'})
        assert changed.status_code == 200 and changed.content == first.content
        assert client.get("/static/app.css").headers["etag"] != etag


def test_limits_on_bodies_and_connections(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    aod = make_aod()
    aod.write_config("api: {max_message_bytes: 1024, first_frame_timeout: 1s}\nweb: {max_connections: 2}\n")
    aod.start()
    aod.result("project.add", {"path": str(make_repo(tmp_path / "demo"))})
    dashboard = Dashboard(aod, aod.result("daemon.status")["web"]["port"], aod.result("web.token")["token"])
    with dashboard.http() as client:
        cookie = dashboard.sign_in(client)
        big = dashboard.rpc(client, "issue.add", {**ADD_ISSUE, "body": "x" * 2000})
        assert big.status_code == 413
        with socket.create_connection(("127.0.0.1", dashboard.port), timeout=10) as slow:  # a body that never comes
            slow.sendall(f"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1:{dashboard.port}\r\nOrigin: {dashboard.origin}\r\n"
                         f"Cookie: {cookie}\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\"".encode())
            assert slow.recv(100).startswith(b"HTTP/1.1 408")
        with WsClient(dashboard.port, "/rpc", origin=dashboard.origin, cookie=cookie) as one:
            one.send_json({"jsonrpc": "2.0", "id": 1, "method": "issue.add", "params": {**ADD_ISSUE, "body": "x" * 2000}})
            assert one.receive_json()["error"]["code"] == ErrorCode.MESSAGE_TOO_LARGE
            assert one.receive() is None  # and it is closed, as the socket does
        with WsClient(dashboard.port, "/rpc", origin=dashboard.origin, cookie=cookie), \
             WsClient(dashboard.port, "/rpc", origin=dashboard.origin, cookie=cookie):
            wait_for(lambda: aod.result("daemon.status")["web"]["connections"] == 2, 10, "two open WebSockets")
            assert dashboard.rpc(client, "daemon.ping").status_code == 503
        wait_for(lambda: dashboard.rpc(client, "daemon.ping").status_code == 200, 10, "the slots to come back")
    assert dashboard.issues() == []


def test_a_taken_port_leaves_aod_serving_its_socket(make_aod: Callable[..., AodProcess]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        aod = make_aod(web_listen=f"127.0.0.1:{port}").start()
        web = aod.result("daemon.status")["web"]
        assert web["state"] == "failed" and web["port"] is None
        assert f"port {port} is taken" in web["reason"] and "web.listen" in web["reason"]
        assert aod.result("session.list") == {"sessions": []}
        shown = aod.aoctl("dashboard")
        assert shown.returncode == 1 and "not listening" in shown.stderr and f"port {port} is taken" in shown.stderr
        assert "Traceback" not in shown.stderr + aod.log()
    # Freed: the next reload listens, though the config did not change.
    assert aod.result("daemon.reload")["changed"] == []
    web = wait_for(lambda: (w := aod.result("daemon.status")["web"])["state"] == "listening" and w, 10, "the listener")
    assert web["port"] == port


def test_a_host_name_is_no_address_to_listen_on(make_aod: Callable[..., AodProcess]) -> None:
    """Only loopback unless an address is written out: a name could resolve to any interface."""
    aod = make_aod(web_listen="example.com:7433")
    proc = aod.spawn()
    assert proc.wait(20) == 1
    assert "--web-listen" in aod.log() and "host must be localhost or an IP address" in aod.log()
    configured = make_aod(web_listen=None)
    configured.write_config("web:\n  listen: my-laptop.lan:7433\n")
    proc = configured.spawn()
    assert proc.wait(20) == 1
    assert "config.yaml:2: web.listen" in configured.log()


def _can_unshare_the_network() -> bool:
    return shutil.which("unshare") is not None and subprocess.run(
        ["unshare", "--net", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare_the_network(), reason="needs `unshare --net` (root)")
def test_a_non_loopback_address_is_the_user_s_explicit_choice_and_logged_loudly(make_aod: Callable[..., AodProcess]) -> None:
    # In a network namespace of its own, 0.0.0.0 reaches no interface of this machine.
    aod = make_aod(web_listen="0.0.0.0:0")
    with open(aod.log_path, "ab") as log:
        aod.proc = subprocess.Popen(
            ["unshare", "--net", sys.executable, "-m", "aod", "--log-format", "json"],
            env=aod.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        )
    aod.wait_ready()
    web = aod.result("daemon.status")["web"]
    assert web["state"] == "listening" and web["address"].startswith("0.0.0.0:")
    warnings = [json.loads(line) for line in aod.log().splitlines() if "BEYOND THIS MACHINE" in line]
    assert len(warnings) == 1 and warnings[0]["level"] == "warning" and "0.0.0.0:0" in warnings[0]["detail"]


def test_disabled_then_enabled_by_a_reload(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod(web_listen=None)
    aod.write_config("web: {enabled: false}\n")
    aod.start()
    web = aod.result("daemon.status")["web"]
    assert web["state"] == "disabled" and "web: {enabled: true}" in web["reason"]
    shown = aod.aoctl("dashboard")
    assert shown.returncode == 1 and "web: {enabled: true}" in shown.stderr and "aoctl daemon reload" in shown.stderr
    aod.write_config("web: {listen: '127.0.0.1:0'}\n")
    assert "web" in aod.result("daemon.reload")["changed"]
    web = wait_for(lambda: (w := aod.result("daemon.status")["web"])["state"] == "listening" and w, 10, "the listener")
    token = aod.result("web.token")
    assert token["url"] == f"http://127.0.0.1:{web['port']}/#token={token['token']}"
    with httpx.Client(base_url=f"http://127.0.0.1:{web['port']}", timeout=10) as client:
        assert client.get("/").status_code == 200
    # web.max_connections is read on every request: the listener stays where it is.
    aod.write_config("web: {listen: '127.0.0.1:0', max_connections: 5}\n")
    assert "web" in aod.result("daemon.reload")["changed"]
    assert aod.result("daemon.status")["web"]["port"] == web["port"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    aod.write_config(f"web: {{listen: '127.0.0.1:{free}'}}\n")
    aod.result("daemon.reload")
    wait_for(lambda: aod.result("daemon.status")["web"]["port"] == free, 10, "the listener to move")
    with httpx.Client(base_url=f"http://127.0.0.1:{free}", timeout=10) as client:
        assert client.get("/").status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{web['port']}/", timeout=5)


def test_stopping_closes_open_pages_in_order(dashboard: Dashboard) -> None:
    with dashboard.http() as client:
        cookie = dashboard.sign_in(client)
    ws = WsClient(dashboard.port, "/rpc", origin=dashboard.origin, cookie=cookie)
    ws.send_json({"jsonrpc": "2.0", "id": 1, "method": "events.subscribe", "params": {"kinds": ["daemon"]}})
    assert "result" in ws.receive_json()
    dashboard.aod.signal(signal.SIGTERM)
    assert ws.receive_json()["params"]["kind"] == "daemon.stopping"
    assert ws.receive() is None and ws.closed is not None and ws.closed.code == 1001
    assert dashboard.aod.wait_exit(20) == 0
    ws.close()


def test_a_page_that_stops_reading_is_dropped_and_cannot_hold_aod_s_stop(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    aod = make_aod()
    aod.write_config("api: {write_timeout: 1s, shutdown_grace: 1s}\n")
    aod.start()
    aod.result("project.add", {"path": str(make_repo(tmp_path / "demo"))})
    big = aod.result("issue.add", {"title": "big", "body": "x" * 900_000, "project": "demo"})
    dashboard = Dashboard(aod, aod.result("daemon.status")["web"]["port"], aod.result("web.token")["token"])
    with dashboard.http() as client:
        cookie = dashboard.sign_in(client)

    def flood() -> WsClient:
        """A page that asks for ~20 MB of answers and reads none of them."""
        ws = WsClient(dashboard.port, "/rpc", origin=dashboard.origin, cookie=cookie, receive_buffer=4096)
        ws.send_json({"jsonrpc": "2.0", "id": 0, "method": "events.subscribe"})
        for n in range(1, 24):
            ws.send_json({"jsonrpc": "2.0", "id": n, "method": "issue.show", "params": {"id": big["id"], "project": "demo"}})
        return ws

    stuck = flood()
    wait_for(lambda: "stopped reading" in aod.log(), 20, "the page that does not read to be dropped")
    wait_for(lambda: aod.result("daemon.status")["subscribers"] == 0, 10, "its subscription to end")
    stuck.close()
    second = flood()
    wait_for(lambda: aod.result("daemon.status")["web"]["connections"] == 1, 10, "the second page")
    aod.signal(signal.SIGTERM)
    assert aod.wait_exit(15) == 0
    second.close()


@pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import aod.web.terminal"], capture_output=True).returncode == 0,
    reason="the terminal bridge is installed: its own tests cover /term",
)
def test_without_the_terminal_bridge_the_page_is_told_why(dashboard: Dashboard) -> None:
    with dashboard.http() as client:
        cookie = dashboard.sign_in(client)
    with WsClient(dashboard.port, "/term/demo-1", origin=dashboard.origin, cookie=cookie) as ws:
        error = ws.receive_json()
        assert error["type"] == "error" and "terminal" in error["message"]
        assert ws.receive() is None
