"""aoctl daemon status|stop|start|reload

  status  ↔  daemon.status    stop  ↔  daemon.shutdown    reload  ↔  daemon.reload
  start launches `aod` in the background when it is not answering (no RPC: it is not running).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click

from aoctl import exitcodes
from aoctl.client import DaemonNotRunning, ProtocolError
from aoctl.context import Context, json_option
from aod.protocol import PingResult, ReloadResult, StatusResult

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


@click.group("daemon")
def command() -> None:
    """Start, stop, inspect and reload aod."""


@command.command("status")
@json_option
@click.pass_obj
def status(ctx: Context) -> None:
    """Version, uptime, sessions, the last tick, and where aod keeps things."""
    with ctx.client() as client:
        result = client.call_as(StatusResult, "daemon.status")
    ctx.emit(result, _render_status)


def _render_status(s: StatusResult) -> str:
    tick = (
        f"#{s.last_tick.count} at {s.last_tick.started_at} took {s.last_tick.duration_ms:.1f} ms"
        f" ({s.last_tick.skipped} skipped)"
        if s.last_tick
        else "none yet"
    )
    config = s.config_path if s.config_loaded else f"{s.config_path} (absent: defaults in force)"
    rows = [
        ("aod", f"{s.version}, pid {s.pid}, up {_duration(s.uptime_s)} (since {s.started_at})"),
        ("sessions", str(s.sessions)),
        ("tick", f"every {s.poll_interval_s:g}s; last {tick}"),
        ("subscribers", str(s.subscribers)),
        ("config", config),
        ("state", s.state_dir),
        ("socket", s.socket_path + (" (socket-activated)" if s.socket_activated else "")),
    ]
    if s.web is not None:
        rows.append(("dashboard", s.web.url if s.web.state == "listening" and s.web.url else f"{s.web.state}: {s.web.reason}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n] or ["0s"]
    return "".join(shown[:2])


@command.command("reload")
@json_option
@click.pass_obj
def reload(ctx: Context) -> None:
    """Re-read the config file (like SIGHUP); on errors the running config stays."""
    with ctx.client() as client:
        result = client.call_as(ReloadResult, "daemon.reload")
    ctx.emit(
        result,
        lambda r: f"reloaded {r.config_path}"
        + (f"; changed: {', '.join(r.changed)}" if r.changed else "; nothing changed"),
    )


@command.command("stop")
@json_option
@click.pass_obj
def stop(ctx: Context) -> None:
    """Stop aod gracefully and wait until it is gone. Agents keep running."""
    with ctx.client() as client:
        pid = client.call_as(PingResult, "daemon.ping").pid
        client.call("daemon.shutdown")
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not answers(ctx):
            ctx.emit({"stopped": True, "pid": pid}, lambda r: f"aod (pid {r['pid']}) stopped")
            return
        time.sleep(0.05)
    click.echo(f"aoctl: aod (pid {pid}) did not stop within {STOP_TIMEOUT:g}s", err=True)
    sys.exit(exitcodes.FAILED)


@command.command("start")
@click.option(
    "--log-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where aod's output goes (default: aod.log beside the socket).",
)
@json_option
@click.pass_obj
def start(ctx: Context, log_file: Path | None) -> None:
    """Start aod in the background (same socket, state and config locations), unless running."""
    try:
        started = start_in_background(ctx, log_file)
    except StartFailed as exc:
        click.echo(f"aoctl: {exc}", err=True)
        sys.exit(exitcodes.FAILED)
    if not started.started:
        ctx.emit({"started": False, "pid": started.pid}, lambda r: f"aod is already running (pid {r['pid']})")
    else:
        ctx.emit(
            {"started": True, "pid": started.pid, "log": started.log},
            lambda r: f"aod started (pid {r['pid']}); log: {r['log']}",
        )


class StartFailed(Exception):
    """aod exited or did not answer while starting; the message says where its output is."""


class Started:
    __slots__ = ("started", "pid", "log")

    def __init__(self, started: bool, pid: int, log: str | None) -> None:
        self.started, self.pid, self.log = started, pid, log


def start_in_background(ctx: Context, log_file: Path | None = None) -> Started:
    """aod running: the one that answers, or a new one started in the background (also used by
    `aoctl start`)."""
    try:
        with ctx.client(timeout=5) as client:
            return Started(False, client.call_as(PingResult, "daemon.ping").pid, None)
    except (DaemonNotRunning, ProtocolError):
        pass
    log_path = log_file or Path(ctx.socket_path).parent / "aod.log"
    log_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    aod = [sys.executable, "-m", "aod", "--socket", str(ctx.socket_path)]
    with open(log_path, "ab") as log_out, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(
            aod,
            stdin=devnull,
            stdout=log_out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not in our terminal's process group: Ctrl-C here won't stop it
            close_fds=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartFailed(
                f"aod exited with code {process.returncode} while starting; its output ({log_path}):\n{_tail(log_path)}"
            )
        if answers(ctx):
            return Started(True, process.pid, str(log_path))
        time.sleep(0.05)
    raise StartFailed(f"aod did not answer within {START_TIMEOUT:g}s; see {log_path}")


def answers(ctx: Context) -> bool:
    try:
        with ctx.client(timeout=2) as client:
            client.call("daemon.ping")
        return True
    except (DaemonNotRunning, ProtocolError):
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])
