"""aoctl as a real process against a real aod."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.support.aod_process import AodProcess, wait_for

HEAVY = ("trio", "pydantic", "yaml", "structlog", "hypercorn")


def test_not_running_is_exit_3_with_a_hint(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()  # never started
    result = aod.aoctl("ping")
    assert result.returncode == 3
    assert "aod is not running" in result.stderr
    assert "aoctl daemon start" in result.stderr
    assert "Traceback" not in result.stderr


def test_ping(aod: AodProcess) -> None:
    result = aod.aoctl("ping")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"pong from aod ")
    assert f"(pid {aod.proc.pid})" in result.stdout  # type: ignore[union-attr]


@pytest.mark.parametrize("args", [("--json", "daemon", "status"), ("daemon", "status", "--json")])
def test_json_flag_in_either_place(aod: AodProcess, args: tuple[str, ...]) -> None:
    result = aod.aoctl(*args)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["pid"] == aod.proc.pid  # type: ignore[union-attr]
    assert status["socket_path"] == str(aod.socket_path)


def test_status_for_humans(aod: AodProcess) -> None:
    result = aod.aoctl("daemon", "status")
    assert result.returncode == 0, result.stderr
    assert f"pid {aod.proc.pid}" in result.stdout  # type: ignore[union-attr]
    assert "defaults in force" in result.stdout
    assert str(aod.state_dir) in result.stdout


def test_reload_success_and_failure(aod: AodProcess) -> None:
    aod.write_config("poll_interval: 2s\n")
    ok = aod.aoctl("daemon", "reload")
    assert ok.returncode == 0, ok.stderr
    assert "changed: poll_interval" in ok.stdout
    aod.write_config("poll_interval: 2s\nwhat: 1\n")
    bad = aod.aoctl("daemon", "reload")
    assert bad.returncode == 1
    assert f"{aod.config_path}:2: what" in bad.stderr
    assert "running config is unchanged" in bad.stderr


def test_raw_rpc(aod: AodProcess) -> None:
    ok = aod.aoctl("rpc", "daemon.ping")
    assert json.loads(ok.stdout)["pid"] == aod.proc.pid  # type: ignore[union-attr]
    with_params = aod.aoctl("rpc", "events.subscribe", '{"kinds": ["x"]}')
    assert json.loads(with_params.stdout)["subscription"] >= 1
    from_stdin = aod.aoctl("rpc", "events.unsubscribe", "-", input=b'{"subscription": 99}')
    assert from_stdin.returncode == 1
    assert "no subscription" in from_stdin.stderr
    unknown = aod.aoctl("rpc", "nope.nope")
    assert unknown.returncode == 1 and "method not found" in unknown.stderr
    bad_json = aod.aoctl("rpc", "daemon.ping", "{not json")
    assert bad_json.returncode == 2 and "not valid JSON" in bad_json.stderr
    bad_params = aod.aoctl("rpc", "events.subscribe", '{"kinds": [1]}')
    assert bad_params.returncode == 1 and "params.kinds[0]" in bad_params.stderr


def test_daemon_start_and_stop(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    started = aod.aoctl("daemon", "start", "--json")
    assert started.returncode == 0, started.stderr + aod.log()
    info = json.loads(started.stdout)
    assert info["started"] is True
    try:
        status = aod.result("daemon.status")
        assert status["pid"] == info["pid"]
        assert status["state_dir"] == str(aod.state_dir)  # same locations as aoctl's
        again = aod.aoctl("daemon", "start")
        assert again.returncode == 0 and "already running" in again.stdout
        stopped = aod.aoctl("daemon", "stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"pid {info['pid']}" in stopped.stdout
        assert not aod.answers()
    finally:
        if aod.answers():
            aod.call("daemon.shutdown")


def test_daemon_start_reports_a_failing_aod(make_aod: Callable[..., AodProcess]) -> None:
    aod = make_aod()
    aod.write_config("nonsense: true\n")
    result = aod.aoctl("daemon", "start")
    assert result.returncode == 1
    assert "exited with code 1" in result.stderr
    assert ":1: nonsense" in result.stderr


def test_aoctl_never_imports_the_daemon_stack(aod: AodProcess) -> None:
    env = aod.env()
    mcp_session = (
        '{"jsonrpc":"2.0","id":1,"method":"tools/list"}\n'
        '{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"daemon_status","arguments":{}}}\n'
    )
    commands = (["ping"], ["daemon", "status"], ["--help"], ["rpc", "daemon.status"], ["dashboard"], ["mcp"])
    for args in commands:
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "aoctl", *args],
            env=env, capture_output=True, text=True, timeout=30, input=mcp_session if args == ["mcp"] else "",
        )
        assert result.returncode == 0, result.stderr[-2000:]
        imported = {
            line.split("|")[-1].strip().split(".")[0]
            for line in result.stderr.splitlines()
            if line.startswith("import time:") and "|" in line
        }
        assert "click" in imported and "msgspec" in imported  # the parser saw real data
        assert not imported & set(HEAVY), (args, imported & set(HEAVY))


def test_stop_when_not_running(make_aod: Callable[..., AodProcess]) -> None:
    assert make_aod().aoctl("daemon", "stop").returncode == 3
