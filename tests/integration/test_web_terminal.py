"""The dashboard's live terminal (aod/web/terminal.py) against real tmux, real PTYs and real
processes: only the WebSocket is replaced, by a `TerminalChannel` made of trio memory channels."""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from aod.events import EventBus
from aod.model import RuntimeHandle, Session
from aod.plugins.runtime import LaunchSpec
from aod.plugins.runtime.process import ProcessRuntime
from aod.plugins.runtime.tmux import TmuxRuntime
from aod.service import Plugins, SessionService
from aod.store import Store
from aod.web import terminal
from aod.web.pty import get_size, open_pty_process
from aod.web.terminal import forward_output, serve_terminal
from tests.support.tmux import tmux_server

LINE_AGENT = Path(__file__).resolve().parents[1] / "support" / "line_agent.py"
WIDTH, HEIGHT = 100, 30
STAMP = "2026-01-02T03:04:05Z"


async def eventually(probe: Callable[[], Awaitable[object]], what: str, timeout: float = 5.0) -> object:
    """Poll an async probe until it returns something truthy, failing after `timeout`."""
    with trio.move_on_after(timeout):
        while True:
            value = await probe()
            if value:
                return value
            await trio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# -- the pieces serve_terminal needs -------------------------------------------------------------


@dataclass
class Host:
    """The part of aod.app.App that serve_terminal uses: `sessions` (lookups, runtimes)."""

    sessions: SessionService
    tmux: TmuxRuntime
    process: ProcessRuntime
    cwd: Path

    async def start(self, session_id: str, argv: list[str], kind: str = "tmux") -> RuntimeHandle:
        runtime = self.tmux if kind == "tmux" else self.process
        handle = await runtime.create(LaunchSpec(name=session_id, argv=argv, cwd=self.cwd, width=WIDTH, height=HEIGHT))
        await self.record(session_id, handle)
        return handle

    async def record(self, session_id: str, handle: RuntimeHandle | None, state: str = "working") -> None:
        session = Session(id=session_id, project="demo", state=state, reason="test", created_at=STAMP, updated_at=STAMP, runtime=handle)
        await self.sessions.store.put_session(session, expected_rev=0)


@pytest.fixture
def tmux_socket() -> Iterator[str]:
    with tmux_server() as name:
        yield name


@pytest.fixture
def host(tmp_path: Path, tmux_socket: str) -> Iterator[Host]:
    store = Store(tmp_path / "state")
    store.acquire_lock()
    store.prepare()
    tmux = TmuxRuntime(tmux_socket, config_file="/dev/null")
    process = ProcessRuntime(tmp_path / "state", kill_grace=0.5)
    sessions = SessionService(
        store=store, bus=EventBus(), config=lambda: None,  # type: ignore[arg-type,return-value]
        plugins=Plugins(runtimes={"tmux": tmux, "process": process}, workspaces={}),
        data_dir=tmp_path / "data", socket_path=tmp_path / "aod.sock",
    )  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    yield Host(sessions, tmux, process, work)


def line_agent(record: Path) -> list[str]:
    return [sys.executable, str(LINE_AGENT), "--record", str(record)]


def recorded(record: Path) -> list[str]:
    try:
        return [json.loads(line)["message"] for line in record.read_text().splitlines()]
    except FileNotFoundError:
        return []


# -- a viewer made of memory channels ------------------------------------------------------------


@dataclass(eq=False)
class Viewer:
    """The page's side of one terminal: what it sends, and everything it has received."""

    to_bridge: trio.MemorySendChannel[bytes | str]
    from_viewer: trio.MemoryReceiveChannel[bytes | str]
    to_viewer: trio.MemorySendChannel[bytes | str]
    from_bridge: trio.MemoryReceiveChannel[bytes | str]
    output: bytearray = field(default_factory=bytearray)
    frames: int = 0
    messages: list[dict[str, object]] = field(default_factory=list)
    done: trio.Event = field(default_factory=trio.Event)

    # TerminalChannel, as serve_terminal sees it
    async def receive(self) -> bytes | str | None:
        try:
            return await self.from_viewer.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return None

    async def send_bytes(self, data: bytes) -> None:
        await self.to_viewer.send(data)

    async def send_text(self, text: str) -> None:
        await self.to_viewer.send(text)

    # the page
    async def type(self, keys: bytes) -> None:
        await self.to_bridge.send(keys)

    async def send(self, message: dict[str, object] | str) -> None:
        await self.to_bridge.send(message if isinstance(message, str) else json.dumps(message))

    def leave(self) -> None:
        self.to_bridge.close()

    def screen(self) -> str:
        return self.output.decode("utf-8", "replace")

    async def until(self, condition: Callable[[], object], what: str, timeout: float = 5.0) -> None:
        """Take in frames until `condition()` holds."""
        with trio.move_on_after(timeout):
            while not condition():
                try:
                    frame = await self.from_bridge.receive()
                except trio.EndOfChannel:
                    break
                if isinstance(frame, bytes):
                    self.output += frame
                    self.frames += 1
                else:
                    self.messages.append(json.loads(frame))
            if condition():
                return
        raise AssertionError(f"timed out after {timeout}s waiting for {what}; messages {self.messages}, screen {self.screen()[-300:]!r}")

    async def rest(self) -> None:
        """Take in every frame left, up to the bridge's end (it closes the channel when it returns)."""
        with trio.fail_after(5):
            async for frame in self.from_bridge:
                if isinstance(frame, bytes):
                    self.output += frame
                else:
                    self.messages.append(json.loads(frame))

    def last(self, kind: str) -> dict[str, object] | None:
        found = [m for m in self.messages if m["type"] == kind]
        return found[-1] if found else None

    async def until_message(self, kind: str, count: int = 1) -> dict[str, object]:
        await self.until(lambda: len([m for m in self.messages if m["type"] == kind]) >= count, f"{count} {kind} message(s)")
        found = self.last(kind)
        assert found is not None
        return found


def make_viewer() -> Viewer:
    to_bridge, from_viewer = trio.open_memory_channel[bytes | str](100)
    to_viewer, from_bridge = trio.open_memory_channel[bytes | str](math.inf)
    return Viewer(to_bridge, from_viewer, to_viewer, from_bridge)


async def watch(nursery: trio.Nursery, host: Host, session_id: str, *, control: bool = False) -> Viewer:
    viewer = make_viewer()

    async def bridge() -> None:
        try:
            await serve_terminal(host, session_id, viewer, control=control)
        finally:
            viewer.done.set()
            viewer.to_viewer.close()

    nursery.start_soon(bridge)
    return viewer


@pytest.fixture
async def nursery() -> AsyncIterator[trio.Nursery]:
    async with trio.open_nursery() as n:
        yield n
        n.cancel_scope.cancel()


# -- tmux's view of its clients ----------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    pid: int
    session: str
    size: str
    readonly: bool


async def tmux(socket: str, *args: str) -> str:
    result = await trio.run_process(["tmux", "-L", socket, *args], capture_stdout=True, capture_stderr=True, check=False)
    return result.stdout.decode()


async def viewer_clients(socket: str) -> list[Client]:
    """The attached clients that are not control-mode ones (those are the size holders)."""
    out = await tmux(socket, "list-clients", "-F", "#{client_pid}\t#{client_session}\t#{client_width}x#{client_height}\t#{client_readonly}\t#{client_control_mode}")
    clients = []
    for line in out.splitlines():
        pid, session, size, readonly, control_mode = line.split("\t")
        if control_mode != "1":
            clients.append(Client(int(pid), session, size, readonly == "1"))
    return clients


async def all_clients(socket: str) -> list[str]:
    return (await tmux(socket, "list-clients", "-F", "#{client_name}")).split()


async def window_size(socket: str, name: str) -> str:
    return (await tmux(socket, "display-message", "-p", "-t", f"={name}:", "#{window_width}x#{window_height}")).strip()


def gone(pid: int) -> bool:
    """No process and no zombie: a zombie still has its /proc entry."""
    return not os.path.exists(f"/proc/{pid}")


# -- the tests -------------------------------------------------------------------------------------


async def test_the_screen_arrives_and_keys_reach_the_agent_only_with_control(host: Host, tmp_path: Path, nursery: trio.Nursery) -> None:
    record = tmp_path / "typed.jsonl"
    await host.start("demo-1", line_agent(record))
    await host.start("other-1", line_agent(tmp_path / "other.jsonl"))
    viewer = await watch(nursery, host, "demo-1")

    assert await viewer.until_message("mode") == {"type": "mode", "control": False, "readonly_reason": None}
    await viewer.until(lambda: "linebot 1.0" in viewer.screen(), "the pane's text")
    [client] = await viewer_clients(host.tmux.socket_name)
    assert client.readonly and client.session == "demo-1"

    # Read-only: dropped by aod. The prefix key then `)` is tmux's `switch-client -n`, which a
    # read-only tmux client still obeys; had the keys reached tmux, the viewer would now be on
    # the other agent's session. The resize after them is the mark: once tmux has it, it has
    # read every key written to the terminal before it.
    # (tmux takes keys that come faster than assume-paste-time for a paste and binds nothing.)
    await tmux(host.tmux.socket_name, "set-option", "-g", "assume-paste-time", "0")
    await viewer.type(b"secret\r")
    await viewer.type(b"\x02)")
    await viewer.send({"type": "resize", "cols": 81, "rows": 24})

    async def resized() -> list[Client]:
        clients = await viewer_clients(host.tmux.socket_name)
        return clients if [c.size for c in clients] == ["81x24"] else []

    [client] = await eventually(resized, "the viewer's client resized")  # type: ignore[misc]
    assert client.session == "demo-1"
    await viewer.send({"type": "control", "on": True})
    assert await viewer.until_message("mode", 2) == {"type": "mode", "control": True, "readonly_reason": None}
    await viewer.type(b"hello\r")

    async def delivered() -> bool:
        return "hello" in recorded(record)

    await eventually(delivered, "the typed line in the agent's record")
    assert recorded(record) == ["hello"]
    [client] = await viewer_clients(host.tmux.socket_name)
    assert client.session == "demo-1" and not client.readonly
    await viewer.until(lambda: "done: hello" in viewer.screen(), "the agent's answer on the viewer's screen")

    # And back: keys are dropped again.
    await viewer.send({"type": "control", "on": False})
    assert await viewer.until_message("mode", 3) == {"type": "mode", "control": False, "readonly_reason": None}
    [client] = await viewer_clients(host.tmux.socket_name)
    assert client.readonly
    await viewer.type(b"again\r")
    await viewer.send({"type": "control", "on": True})
    await viewer.until_message("mode", 4)
    await viewer.type(b"last\r")

    async def last_delivered() -> bool:
        return "last" in recorded(record)

    await eventually(last_delivered, "the second typed line")
    assert recorded(record) == ["hello", "last"]


async def test_a_read_only_viewer_resizes_its_client_but_never_the_agent_s_window(host: Host, tmp_path: Path, nursery: trio.Nursery) -> None:
    socket = host.tmux.socket_name
    await host.start("demo-1", line_agent(tmp_path / "typed.jsonl"))
    viewer = await watch(nursery, host, "demo-1")
    await viewer.until_message("mode")
    await viewer.until(lambda: "linebot" in viewer.screen(), "the pane's text")
    # Alone on the session, at 80x24: tmux would size the window by an ignore-size client.
    assert await window_size(socket, "demo-1") == f"{WIDTH}x{HEIGHT}"

    await viewer.send({"type": "resize", "cols": 120, "rows": 40})

    async def client_resized() -> bool:
        return [c.size for c in await viewer_clients(socket)] == ["120x40"]

    await eventually(client_resized, "the viewer's client at 120x40")
    assert await window_size(socket, "demo-1") == f"{WIDTH}x{HEIGHT}"

    # With control the viewer sizes the window (one status line below it) ...
    await viewer.send({"type": "control", "on": True})
    await viewer.until_message("mode", 2)
    await viewer.send({"type": "resize", "cols": 90, "rows": 25})

    async def window_follows() -> bool:
        return await window_size(socket, "demo-1") == "90x24"

    await eventually(window_follows, "the window at the controlling viewer's size")

    # ... and handing control back gives the agent its window's size back.
    await viewer.send({"type": "control", "on": False})
    await viewer.until_message("mode", 3)

    async def window_restored() -> bool:
        return await window_size(socket, "demo-1") == f"{WIDTH}x{HEIGHT}"

    await eventually(window_restored, "the window back at its own size")


async def test_leaving_ends_the_viewer_s_client_and_nothing_else(host: Host, tmp_path: Path, nursery: trio.Nursery) -> None:
    socket = host.tmux.socket_name
    handle = await host.start("demo-1", line_agent(tmp_path / "typed.jsonl"))
    first = await watch(nursery, host, "demo-1")
    second = await watch(nursery, host, "demo-1")
    for viewer in (first, second):
        await viewer.until(lambda v=viewer: "linebot" in v.screen(), "the pane's text")
    clients = await viewer_clients(socket)
    assert len(clients) == 2 and clients[0].pid != clients[1].pid  # a client each

    first.leave()
    await first.rest()
    assert first.messages == [{"type": "mode", "control": False, "readonly_reason": None}]  # no exit: the session goes on
    [left] = await viewer_clients(socket)
    assert {c.pid for c in clients} - {left.pid} and all(gone(c.pid) for c in clients if c.pid != left.pid)

    # The other viewer still sees the agent, and the agent still runs.
    await host.tmux.paste(handle, "still here")
    await host.tmux.press_enter(handle)
    await second.until(lambda: "done: still here" in second.screen(), "the agent's answer on the other viewer")
    assert host.tmux.liveness(handle, await host.tmux.snapshot()) == "alive"

    second.leave()
    with trio.fail_after(5):
        await second.done.wait()
    assert gone(left.pid)
    assert await all_clients(socket) == []  # the size holders are gone too
    assert host.tmux.liveness(handle, await host.tmux.snapshot()) == "alive"


async def test_cancelling_the_bridge_ends_its_client_and_leaves_the_session(host: Host, tmp_path: Path) -> None:
    socket = host.tmux.socket_name
    handle = await host.start("demo-1", line_agent(tmp_path / "typed.jsonl"))
    async with trio.open_nursery() as nursery:
        viewer = await watch(nursery, host, "demo-1")
        await viewer.until(lambda: "linebot" in viewer.screen(), "the pane's text")
        [client] = await viewer_clients(socket)
        nursery.cancel_scope.cancel()  # as aod stopping does
    assert viewer.done.is_set()
    assert gone(client.pid)
    assert await all_clients(socket) == []
    assert host.tmux.liveness(handle, await host.tmux.snapshot()) == "alive"


async def test_the_session_ending_sends_exit(host: Host, tmp_path: Path, nursery: trio.Nursery) -> None:
    handle = await host.start("demo-1", line_agent(tmp_path / "typed.jsonl"))
    viewer = await watch(nursery, host, "demo-1")
    await viewer.until(lambda: "linebot" in viewer.screen(), "the pane's text")
    [client] = await viewer_clients(host.tmux.socket_name)

    await host.tmux.kill(handle)
    assert await viewer.until_message("exit") == {"type": "exit", "reason": "the session ended"}
    with trio.fail_after(5):
        await viewer.done.wait()
    assert gone(client.pid)


async def test_a_detached_client_says_so(host: Host, tmp_path: Path, nursery: trio.Nursery) -> None:
    handle = await host.start("demo-1", line_agent(tmp_path / "typed.jsonl"))
    viewer = await watch(nursery, host, "demo-1")
    await viewer.until(lambda: "linebot" in viewer.screen(), "the pane's text")
    [client] = await viewer_clients(host.tmux.socket_name)
    await tmux(host.tmux.socket_name, "detach-client", "-t", os.readlink(f"/proc/{client.pid}/fd/0"))
    exit_message = await viewer.until_message("exit")
    assert "detached" in str(exit_message["reason"])
    assert host.tmux.liveness(handle, await host.tmux.snapshot()) == "alive"


async def test_what_cannot_be_watched_gets_an_error(host: Host, tmp_path: Path, tmux_socket: str) -> None:
    dead = await host.tmux.create(LaunchSpec(name="dead-1", argv=[sys.executable, "-c", "pass"], cwd=host.cwd, width=WIDTH, height=HEIGHT))

    async def pane_dead() -> bool:
        return host.tmux.liveness(dead, await host.tmux.snapshot()) == "dead"

    await eventually(pane_dead, "the agent's pane to be dead")
    await host.record("dead-1", dead, state="errored")
    await host.record("new-1", None, state="spawning")
    host.sessions.plugins.runtimes["broken"] = TmuxRuntime(tmux_socket, tmux=str(tmp_path / "no-such-tmux"))
    await host.record("broken-1", RuntimeHandle(kind="broken", name="broken-1", socket=tmux_socket))
    cases = {
        "nope-1": "no session 'nope-1'",
        "../../etc/passwd": "no session",
        "new-1": "session new-1 has no terminal",
        "dead-1": "session dead-1 is not running",
        "broken-1": "is not installed or not on PATH",
    }
    for session_id, expected in cases.items():
        viewer = make_viewer()
        with trio.fail_after(5):
            await serve_terminal(host, session_id, viewer)
        viewer.to_viewer.close()
        await viewer.until(lambda v=viewer: v.messages, f"the answer for {session_id}")
        [message] = viewer.messages
        assert message["type"] == "error" and expected in str(message["message"]), (session_id, message)
    assert await viewer_clients(tmux_socket) == []


async def test_hostile_input_is_ignored(host: Host, tmp_path: Path, nursery: trio.Nursery) -> None:
    socket = host.tmux.socket_name
    record = tmp_path / "typed.jsonl"
    await host.start("demo-1", line_agent(record))
    viewer = await watch(nursery, host, "demo-1", control=True)
    assert await viewer.until_message("mode") == {"type": "mode", "control": True, "readonly_reason": None}
    await viewer.until(lambda: "linebot" in viewer.screen(), "the pane's text")
    for junk in (
        "not json", "[]", "null", '{"type": "resize"}', '{"type": "resize", "cols": "wide", "rows": 3}',
        '{"type": "resize", "cols": true, "rows": 3}', '{"type": "control", "on": "yes"}', '{"type": "explode"}',
        json.dumps({"type": "resize", "cols": 80, "rows": 24, "pad": "x" * 100_000}), "\ud800", "",
    ):  # fmt: skip
        await viewer.send(junk)
    await viewer.type(b"k" * (terminal.MAX_KEYS_BYTES + 1))  # too big for one frame: dropped whole
    await viewer.send({"type": "resize", "cols": 10**30, "rows": -5})

    async def clamped() -> bool:
        return [c.size for c in await viewer_clients(socket)] == [f"{terminal.COLS[1]}x{terminal.ROWS[0]}"]

    await eventually(clamped, "the absurd size clamped")
    await viewer.send({"type": "resize", "cols": 100, "rows": 31})
    await viewer.type(b"fine\r")

    async def delivered() -> bool:
        return "fine" in recorded(record)

    await eventually(delivered, "typing to still work")
    assert recorded(record) == ["fine"]
    assert not viewer.done.is_set() and viewer.last("error") is None


async def test_the_process_runtime_streams_its_log_read_only(host: Host, tmp_path: Path, nursery: trio.Nursery, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal, "LIVENESS_SECONDS", 0.05)
    echo = "import sys\nprint('process agent up', flush=True)\nfor line in sys.stdin:\n    print('heard', line.strip(), flush=True)\n"
    handle = await host.start("proc-1", [sys.executable, "-c", echo], kind="process")
    viewer = await watch(nursery, host, "proc-1", control=True)
    mode = await viewer.until_message("mode")
    assert mode["control"] is False and "no terminal to type into" in str(mode["readonly_reason"])
    await viewer.until(lambda: "process agent up" in viewer.screen(), "the log's first line")

    await host.process.paste(handle, "one\n")
    await viewer.until(lambda: "heard one" in viewer.screen(), "a line the agent wrote later")
    await viewer.send({"type": "control", "on": True})
    assert (await viewer.until_message("mode", 2))["control"] is False
    await viewer.type(b"ignored\n")  # goes nowhere: there is no terminal behind the log
    await viewer.send({"type": "resize", "cols": 50, "rows": 10})

    await host.process.kill(handle)
    assert await viewer.until_message("exit") == {"type": "exit", "reason": "the agent's process has ended"}
    with trio.fail_after(5):
        await viewer.done.wait()
    assert "ignored" not in viewer.screen()


async def test_small_writes_are_gathered_into_few_frames() -> None:
    writer = "import os, time\nfor i in range(1000):\n    os.write(1, b'x')\n    time.sleep(0.0002)\n"
    frames: list[bytes] = []

    async def send(data: bytes) -> None:
        frames.append(data)

    async with open_pty_process([sys.executable, "-c", writer], dict(os.environ)) as term:
        with trio.fail_after(10):
            await forward_output(term, send)
    assert b"".join(frames) == b"x" * 1000
    assert len(frames) < 100, len(frames)


async def test_a_pty_program_that_ignores_sigterm_is_killed_and_reaped() -> None:
    stubborn = "import signal, sys, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('ready', flush=True)\ntime.sleep(60)\n"
    async with open_pty_process([sys.executable, "-c", stubborn], dict(os.environ), cols=132, rows=43) as term:
        with trio.fail_after(5):
            assert b"ready" in await term.read()
        assert get_size(term.stream.fileno()) == (132, 43)
        term.resize(90, 20)
        assert get_size(term.stream.fileno()) == (90, 20)
        pid = term.pid
    assert term.process.returncode is not None
    assert gone(pid)
