"""The Neovim plugin's pure parts, in Debian's `nvim --headless` (skipped without nvim): socket
discovery as aoctl does it, the attach-command shapes it runs (the same as aoctl accepts), the
notifications a session's transitions give, and the readiness view of a pr.show result."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aod.protocol import attach_argv_problem

pytestmark = pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim is not installed (apt-get install neovim)")

PLUGIN = Path(__file__).resolve().parents[2] / "aod" / "editors" / "nvim"


def run_lua(code: str, env: dict[str, str] | None = None, tmp: Path | None = None) -> object:
    """Run `code` (a chunk returning a value) with the plugin on the runtimepath; its value as JSON."""
    assert tmp is not None
    script = tmp / "t.lua"
    out = tmp / "out.json"
    script.write_text(
        "local ok, value = pcall(function()\n" + code + "\nend)\n"
        f"local f = io.open({json.dumps(str(out))}, 'w')\n"
        "f:write(vim.json.encode(ok and {value = value} or {error = tostring(value)})); f:close()\n"
    )
    subprocess.run(
        ["nvim", "--headless", "-u", "NONE", "-i", "NONE", "-n", "--cmd", f"set rtp^={PLUGIN}", "-c", f"luafile {script}", "-c", "qa!"],
        env=env or dict(os.environ), capture_output=True, timeout=60, check=False,
    )
    result = json.loads(out.read_text())
    assert "error" not in result, result["error"]
    return result.get("value")


def test_socket_discovery_matches_aoctl(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if k not in ("AOD_SOCKET", "XDG_RUNTIME_DIR", "TMPDIR", "TEMP", "TMP")}
    cases = [
        {"AOD_SOCKET": "/x/y.sock", "XDG_RUNTIME_DIR": "/run/user/1"},
        {"XDG_RUNTIME_DIR": "/run/user/1"},
        {"XDG_RUNTIME_DIR": "relative/dir"},
        {},
        {"TMPDIR": str(tmp_path)},
    ]
    for extra in cases:
        env = {**base, **extra}
        got = run_lua("return require('ao.rpc').default_path()", env, tmp_path)
        # In a process of its own: tempfile caches the temp dir it picked from the first environment.
        expected = subprocess.run([sys.executable, "-c", "from aod.wire import default_socket_path; print(default_socket_path())"],
                                  env=env, capture_output=True, text=True, check=True).stdout.strip()
        assert got == expected, extra


def test_attach_shapes_match_aoctl(tmp_path: Path) -> None:
    argvs = [
        ["tmux", "-L", "ao", "attach-session", "-t", "=demo-1"],
        ["/usr/bin/tmux", "-L", "ao", "attach-session", "-t", "=demo-1"],
        ["tail", "-n", "200", "-f", "/var/log/x.log"],
        ["tmux", "-L", "ao", "attach-session", "-t", "demo-1"],
        ["tmux", "-L", "a;b", "attach-session", "-t", "=x"],
        ["sh", "-c", "rm -rf ~"],
        ["tail", "-n", "200", "-f", "relative.log"],
        ["./tmux", "-L", "ao", "attach-session", "-t", "=x"],
        ["ssh", "-t", "-o", "BatchMode=yes", "box", "--", "tmux", "-L", "ao", "attach-session", "-t", "=demo-1"],
        ["ssh", "-t", "-o", "ProxyCommand=evil", "box", "--", "tmux", "-L", "ao", "attach-session", "-t", "=demo-1"],
        ["ssh", "-t", "box", "--", "tmux", "-L", "ao", "attach-session", "-t", "=demo-1;id"],
        [],
    ]
    got = run_lua(f"local out = {{}} for i, a in ipairs(vim.json.decode({json.dumps(json.dumps(argvs))})) do out[i] = require('ao').attach_problem(a) == nil end return out", tmp=tmp_path)
    assert got == [attach_argv_problem(a) is None for a in argvs]
    assert got[:3] == [True, True, True] and got[8] is True and not any(got[3:8]) and not any(got[9:])


def test_notifications_for_sessions_that_newly_need_you(tmp_path: Path) -> None:
    code = """
local ao = require('ao')
local notes = {}
vim.notify = function(m) table.insert(notes, m) end
package.loaded['ao.list'] = { render_all = function() end }
local function s(id, state, lane, reason) return { id = id, state = state, lane = lane, reason = reason or vim.NIL } end
local apply = ao._apply
apply({ s('a-1', 'needs_input', 'needs_you', 'asked before') })   -- the first load tells nothing
apply({ s('a-1', 'needs_input', 'needs_you', 'asked before'), s('a-2', 'working', 'working') })
apply({ s('a-1', 'working', 'working'), s('a-2', 'ci_failed', 'working', 'CI failing: test') })  -- the agent's to fix
apply({ s('a-1', 'needs_input', 'needs_you', 'Which DB?'), s('a-2', 'ci_failed', 'needs_you', 'CI failing: test') })
apply({ s('a-1', 'needs_input', 'needs_you', 'Which DB?'), s('a-2', 'merge_failed', 'needs_you', 'conflicts') })
return { notes = notes, count = ao.needs_you() }
"""
    got = run_lua(code, tmp=tmp_path)
    assert got == {
        "notes": [
            "ao: a-1 needs input: Which DB?",
            "ao: a-2: CI still failing after the agent's retries: CI failing: test",
            "ao: a-2: merge failed: conflicts",
        ],
        "count": 2,
    }


def test_readiness_view(tmp_path: Path) -> None:
    result = {
        "session": "demo-3",
        "pr": {
            "number": "7", "state": "open", "draft": False, "url": "local:demo#7", "checks": "failing", "review": "changes_requested",
            "mergeable": "mergeable", "failing": [{"name": "ci", "conclusion": "failure", "url": "", "summary": "", "log_excerpt": "step\nFAILED test_x"}],
            "review_comments": [{"author": "rev", "body": "rename\nplease", "path": "app.py", "line": 3, "resolved": False}],
            "blockers": ["CI failing: ci", "changes requested"],
        },
    }
    got = run_lua(f"return require('ao.list').readiness_lines(vim.json.decode({json.dumps(json.dumps(result))}))", tmp=tmp_path)
    assert got == [
        "PR #7 of demo-3 [open] local:demo#7",
        "checks failing   review changes_requested   mergeable mergeable",
        "",
        "failing: ci (failure)",
        "    step",
        "    FAILED test_x",
        "",
        "unresolved review comments (1):",
        "  rev on app.py:3",
        "    rename",
        "    please",
        "",
        "not ready to merge: CI failing: ci; changes requested",
    ]
    ready = {"session": "demo-3", "pr": {**result["pr"], "failing": [], "review_comments": [], "blockers": [], "checks": "passing", "review": "approved"}}
    got = run_lua(f"return require('ao.list').readiness_lines(vim.json.decode({json.dumps(json.dumps(ready))}))", tmp=tmp_path)
    assert got[-1] == "ready to merge"
    assert run_lua("return require('ao.list').readiness_lines({session = 'demo-4', pr = vim.NIL})", tmp=tmp_path) == ["demo-4 has no PR yet"]


def test_refuses_a_socket_in_a_directory_others_can_write(tmp_path: Path) -> None:
    import socket as socketlib

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    path = shared / "aod.sock"
    listener = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)
    listener.setblocking(False)
    try:
        env = {**os.environ, "AOD_SOCKET": str(path)}
        code = """
local notes = {}
vim.notify = function(m) table.insert(notes, m) end
local err, _ = require('ao.rpc').request_sync('daemon.ping', nil, 2000)
vim.cmd('checkhealth ao')
local health = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')
return { err = err and err.message, notes = notes, health = health }
"""
        got = run_lua(code, env, tmp_path)
        assert isinstance(got, dict)
        assert "refusing to talk to" in got["err"] and "writable by others (mode 777)" in got["err"]
        assert any("It may not be your aod" in n for n in got["notes"])
        assert "ERROR" in got["health"] and "writable by others" in got["health"]
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()


def test_health_says_how_to_start_aod_when_it_is_not_running(tmp_path: Path) -> None:
    env = {**os.environ, "AOD_SOCKET": str(tmp_path / "run" / "aod.sock")}
    health = run_lua("vim.cmd('checkhealth ao') return table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n')", env, tmp_path)
    assert "ERROR" in health and "aod is not running" in health and "aoctl daemon start" in health
