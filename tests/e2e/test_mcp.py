"""`aoctl mcp` end to end: a real aod with the scripted agent in real tmux, `aoctl mcp` as a
real process spoken to on its stdio, checked against the message shapes of the MCP
specification (legacy revisions with `initialize`, and the stateless 2026-07-28 one).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aod_process import AodProcess
from tests.support.fleet import Fleet, start_fleet
from tests.support.mcp_peer import MODERN, McpPeer
from tests.support.tmux import tmux_server

TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Fleet]:
    with tmux_server() as tmux:
        yield start_fleet(make_aod, tmp_path, tmux)


@pytest.fixture
def peer(fleet: Fleet) -> Iterator[McpPeer]:
    with McpPeer(fleet.aod.env(), cwd=fleet.repo) as peer:
        yield peer


def _payload(result: dict) -> dict:
    """A successful tool result's data: the structured content, and the same as its text."""
    assert result["isError"] is False, result
    [block] = result["content"]
    assert block["type"] == "text"
    assert json.loads(block["text"]) == result["structuredContent"]
    return result["structuredContent"]


def test_the_legacy_handshake_then_tools_with_schemas_from_the_protocol(peer: McpPeer) -> None:
    reply = peer.initialize("2025-06-18")
    init = reply["result"]
    assert init["protocolVersion"] == "2025-06-18"
    assert init["capabilities"] == {"tools": {"listChanged": False}}
    assert init["serverInfo"]["name"] == "aod" and init["serverInfo"]["version"]
    assert "session_spawn" in init["instructions"]
    assert peer.request("ping")["result"] == {}

    tools = peer.request("tools/list")["result"]["tools"]
    names = [t["name"] for t in tools]
    assert {"sessions_list", "session_get", "session_spawn", "session_send", "issues_list"} <= set(names)
    assert len(names) == len(set(names))
    for tool in tools:
        assert TOOL_NAME.fullmatch(tool["name"]), tool["name"]
        schema = tool["inputSchema"]
        assert schema["type"] == "object" and "cwd" not in schema["properties"], tool["name"]
        assert tool["description"] and tool["annotations"]["title"] == tool["title"]
    spawn = next(t for t in tools if t["name"] == "session_spawn")
    assert {"issue", "task", "idempotency_key", "reuse_live"} <= set(spawn["inputSchema"]["properties"])
    assert spawn["inputSchema"]["additionalProperties"] is False
    get = next(t for t in tools if t["name"] == "session_get")
    assert get["inputSchema"]["required"] == ["id"] and get["outputSchema"]["type"] == "object"
    assert next(t for t in tools if t["name"] == "session_kill")["annotations"]["destructiveHint"] is True

    listed = _payload(peer.call_tool("sessions_list"))
    assert listed == {"sessions": []}


def test_an_unknown_version_is_answered_with_the_newest_legacy_one(peer: McpPeer) -> None:
    assert peer.initialize("2099-01-01")["result"]["protocolVersion"] == "2025-11-25"


def test_the_stateless_revision_discover_and_per_request_versions(peer: McpPeer) -> None:
    discovered = peer.request("server/discover", modern=True)["result"]
    assert discovered["resultType"] == "complete"
    assert discovered["supportedVersions"][0] == MODERN and "2025-11-25" in discovered["supportedVersions"]
    assert discovered["capabilities"] == {"tools": {}} and discovered["serverInfo"]["name"] == "aod"
    listed = peer.request("tools/list", modern=True)["result"]
    assert listed["resultType"] == "complete" and listed["ttlMs"] > 0 and listed["tools"]
    called = peer.call_tool("daemon_status", modern=True)
    assert called["resultType"] == "complete" and _payload(called)["version"]

    peer.send({"jsonrpc": "2.0", "id": 9, "method": "tools/list",
               "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": "2031-01-01"}}})
    refused = peer.receive()
    assert refused["id"] == 9 and refused["error"]["code"] == -32022
    assert refused["error"]["data"]["requested"] == "2031-01-01"
    assert MODERN in refused["error"]["data"]["supported"]


def test_protocol_mistakes_are_json_rpc_errors_and_the_server_goes_on(peer: McpPeer) -> None:
    peer.initialize()
    peer.send_raw(b"{not json")
    assert peer.receive()["error"]["code"] == -32700
    peer.send({"jsonrpc": "1.0", "id": 1, "method": "tools/list"})
    assert peer.receive()["error"]["code"] == -32600
    assert peer.request("resources/read", {"uri": "x"})["error"]["code"] == -32601
    unknown = peer.request("tools/call", {"name": "rm_rf", "arguments": {}})
    assert unknown["error"]["code"] == -32602 and "rm_rf" in unknown["error"]["message"]
    assert peer.request("tools/call", {"name": "session_get", "arguments": [1]})["error"]["code"] == -32602
    # A notification gets no answer: the next reply is the next request's.
    peer.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}})
    assert peer.request("ping")["result"] == {}


def test_what_aod_refuses_comes_back_as_a_tool_error_the_model_can_read(fleet: Fleet, peer: McpPeer) -> None:
    peer.initialize()
    missing = peer.call_tool("session_get", {"id": "demo-404"})
    assert missing["isError"] is True and "structuredContent" not in missing
    assert "demo-404" in missing["content"][0]["text"]
    typo = peer.call_tool("session_spawn", {"tsak": "x"})
    assert typo["isError"] is True and "tsak" in typo["content"][0]["text"]
    filled = peer.call_tool("session_spawn", {"task": "x", "cwd": "/"})
    assert filled["isError"] is True and "cwd is filled in by aoctl mcp" in filled["content"][0]["text"]
    no_issue = peer.call_tool("session_spawn", {"issue": "77"})
    assert no_issue["isError"] is True and "77" in no_issue["content"][0]["text"]
    assert fleet.ok("status") == []  # nothing was started by any of them


def test_spawn_with_an_idempotency_key_starts_one_session_however_often_it_is_asked(
    fleet: Fleet, peer: McpPeer
) -> None:
    peer.initialize()
    first = _payload(peer.call_tool("session_spawn", {"task": "write the README", "idempotency_key": "plan-1/readme"}))
    again = _payload(peer.call_tool("session_spawn", {"task": "write the README", "idempotency_key": "plan-1/readme"}))
    assert first["id"] == again["id"] == "demo-1" and first["project"] == "demo"  # the project from its cwd
    # Two clients at once with one key (a retry racing the original): still one session.
    racing = [
        subprocess.Popen(
            [sys.executable, "-m", "aoctl", "--json", "spawn", "--task", "t", "--key", "race"],
            env=fleet.aod.env(), cwd=fleet.repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(3)
    ]
    outcomes = [p.communicate(timeout=120) for p in racing]
    assert all(p.returncode == 0 for p in racing), outcomes
    assert len({json.loads(out)["id"] for out, _ in outcomes}) == 1
    assert sorted(s["id"] for s in fleet.ok("status")) == ["demo-1", "demo-2"]


def test_reuse_live_returns_the_issue_s_live_session_and_not_another(fleet: Fleet, peer: McpPeer) -> None:
    fleet.ok("issue", "add", "--title", "Fix the login")
    peer.initialize()
    first = _payload(peer.call_tool("session_spawn", {"issue": "1", "reuse_live": True}))
    second = _payload(peer.call_tool("session_spawn", {"issue": "1", "reuse_live": True}))
    assert first["id"] == second["id"]
    fleet.ok("kill", first["id"])
    third = _payload(peer.call_tool("session_spawn", {"issue": "1", "reuse_live": True}))
    assert third["id"] != first["id"]  # the killed one is not live: a new worker
    issues = _payload(peer.call_tool("issues_list", {}))
    assert [i["title"] for i in issues["issues"]] == ["Fix the login"]


def test_a_tool_call_while_aod_is_down_says_so_and_works_again_once_it_is_back(fleet: Fleet, peer: McpPeer) -> None:
    peer.initialize()
    assert _payload(peer.call_tool("sessions_list")) == {"sessions": []}
    fleet.aod.stop()
    down = peer.call_tool("sessions_list")
    assert down["isError"] is True
    assert re.search(r"aod is not running|lost aod", down["content"][0]["text"]), down
    fleet.aod.start()
    assert _payload(peer.call_tool("sessions_list")) == {"sessions": []}
