"""The composition root: lock, listener (bound or inherited from systemd), one nursery with the
signal handler, the RPC server, the dashboard's listener, the tick and the watchdog; then an
orderly stop."""

from __future__ import annotations

import signal
import socket as stdsocket
import sys
from collections.abc import AsyncIterator

import structlog
import trio

from aod.app import App, LogOverrides
from aod.config import LISTEN_ENV, ConfigError, load_config, parse_listen
from aod.dispatch import Dispatcher
from aod.events import EventBus
from aod.handlers import Call, all_handlers
from aod.logs import configure_logging
from aod.paths import Locations, UnsafeDirectory
from aod.poller import Ticker
from aod.server import RpcServer, bind_unix_socket
from aod.store import AlreadyRunning, Store
from aod.systemd import SystemdEnv, activated_socket
from aod.web.server import WebServer

log = structlog.get_logger()

EXIT_OK = 0
EXIT_FAILED = 1


def run(
    locations: Locations,
    *,
    log_level: str | None = None,
    log_format: str | None = None,
    web_listen: str | None = None,
) -> int:
    """Run aod in the foreground until it is told to stop. Returns the process exit code.
    `web_listen` (`aod --web-listen`, `$AOD_WEB_LISTEN`) overrides `web.listen`."""
    systemd = SystemdEnv.take()
    configure_logging(log_level or "info", log_format or "auto")
    if web_listen:
        try:
            parse_listen(web_listen)
        except ValueError as exc:
            print(f"aod: not starting: --web-listen / ${LISTEN_ENV}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    try:
        loaded = load_config(locations.config_file)
    except ConfigError as exc:
        for line in exc.errors:
            print(line, file=sys.stderr)
        print(
            f"aod: not starting: {len(exc.errors)} error(s) in {locations.config_file}; "
            "fix them (`aod check-config` lists them) and start again",
            file=sys.stderr,
        )
        return EXIT_FAILED

    store = Store(locations.state_dir)
    try:
        store.acquire_lock()
        store.prepare()  # sweeps temp files, so only while holding the lock
    except AlreadyRunning as exc:
        who = f"pid {exc.pid}" if exc.pid else "another process"
        print(
            f"aod: already running ({who}, lock {exc.lock_path}); "
            "`aoctl daemon status` talks to it, `aoctl daemon stop` stops it",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except OSError as exc:
        print(f"aod: cannot use state dir {locations.state_dir}: {exc}", file=sys.stderr)
        return EXIT_FAILED

    try:
        if systemd.listen_fds:
            listen_sock = activated_socket(systemd.listen_fds[0])
        else:
            listen_sock = bind_unix_socket(locations.socket_path)
    except (OSError, UnsafeDirectory, ValueError) as exc:
        print(f"aod: cannot listen on {locations.socket_path}: {exc}", file=sys.stderr)
        store.release_lock()
        return EXIT_FAILED

    app = App(
        locations=locations,
        loaded=loaded,
        store=store,
        bus=EventBus(loaded.config.api.subscriber_queue),
        socket_activated=bool(systemd.listen_fds),
        log_overrides=LogOverrides(level=log_level, format=log_format),
    )
    app.apply_logging()
    store.on_quarantine = lambda original, moved, reason: app.bus.publish(
        "store.quarantined", path=str(original), moved_to=str(moved), reason=reason
    )
    try:
        trio.run(_serve, app, listen_sock, systemd, web_listen or None)
    finally:
        if not app.socket_activated:
            _unlink_socket(locations)
        listen_sock.close()
        store.release_lock()
    log.info("aod stopped")
    return EXIT_OK


async def _serve(app: App, listen_sock: stdsocket.socket, systemd: SystemdEnv, web_listen: str | None) -> None:
    dispatcher = Dispatcher(all_handlers())
    server = RpcServer(
        dispatcher, app.bus, app.server_limits, make_call=lambda conn: Call(app, conn)
    )
    # The dashboard: the same dispatcher over HTTP and WebSockets; it failing to listen (a port
    # taken) leaves aod running, and daemon.status says why.
    app.web = WebServer(app, dispatcher, lambda peer: Call(app, peer), listen_override=web_listen)
    app.ticker = Ticker(lambda: app.config.poll_interval, lambda: _tick(app))
    # Signals are caught before anything else starts, so a SIGTERM during start-up is orderly.
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_handle_signals, app, signals, nursery.cancel_scope)
            await nursery.start(server.serve, listen_sock)
            await nursery.start(app.web.run)
            app.sessions.nursery = nursery
            app.forges.local.nursery = nursery  # CI jobs run beside the tick
            nursery.start_soon(app.ticker.run)
            nursery.start_soon(app.intake.run)
            nursery.start_soon(app.dependents.run)
            nursery.start_soon(app.hosts.run)  # issue 21: remote hosts' links (none: idle)
            if systemd.watchdog_interval:
                nursery.start_soon(_watchdog, systemd)
            systemd.notify("READY=1\nSTATUS=serving")
            log.info(
                "aod ready",
                pid=app.pid,
                socket=str(app.locations.socket_path),
                state_dir=str(app.locations.state_dir),
                config=str(app.loaded.path),
                socket_activated=app.socket_activated,
                web=app.web.status().address or app.web.status().state,
            )
            await app.shutdown_requested.wait()
            systemd.notify("STOPPING=1\nSTATUS=stopping")
            server.stop_accepting()
            app.bus.publish("daemon.stopping")
            async with trio.open_nursery() as draining:  # both transports at once, each in order
                draining.start_soon(server.drain, app.config.api.shutdown_grace)
                draining.start_soon(app.web.stop)
            nursery.cancel_scope.cancel()
        with trio.move_on_after(2):
            await app.notifications.aclose()
            for plugin in app.forges.started():
                if hasattr(plugin, "aclose"):
                    await plugin.aclose()


async def _handle_signals(
    app: App, signals: AsyncIterator[int], everything: trio.CancelScope
) -> None:
    async for signum in signals:
        if signum == signal.SIGHUP:
            try:
                await app.reload()
            except Exception as exc:  # already logged by reload(); a signal has no one to tell
                log.debug("reload on SIGHUP failed", error=str(exc))
        elif app.shutdown_requested.is_set():
            log.warning("second stop signal: not waiting for in-flight requests", signal=signum)
            everything.cancel()
        else:
            app.request_shutdown(signal.Signals(signum).name)


async def _watchdog(systemd: SystemdEnv) -> None:
    assert systemd.watchdog_interval
    while True:
        systemd.notify("WATCHDOG=1")
        await trio.sleep(systemd.watchdog_interval)


async def _tick(app: App) -> None:
    stats = await app.observer.tick()
    app.last_observed = stats
    app.session_count = stats.recorded  # the tick listed every record already
    app.dependents.poke()  # queued sessions whose dependencies merged this tick start now
    app.hosts.on_tick()  # issue 21: each host's one request of the tick, in the background
    if stats.sessions:
        log.debug("observed", sessions=stats.sessions, probes=stats.probes, captures=stats.captures)


def _unlink_socket(locations: Locations) -> None:
    # Called while we still hold the instance lock, so no newer aod can own this path yet.
    try:
        if locations.socket_path.is_socket():
            locations.socket_path.unlink()
    except OSError:
        pass
