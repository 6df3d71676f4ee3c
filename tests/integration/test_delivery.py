"""deliver() and wait_until_ready() with real tmux and the scripted agent."""

from __future__ import annotations

import json
import random
import string
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from aod.delivery import DeliveryResult, deliver, wait_until_ready
from aod.model import RuntimeHandle
from aod.plugins.runtime import LaunchSpec
from aod.plugins.runtime.tmux import TmuxRuntime
from tests.support.tmux import fake_agent_argv, tmux_server


def claude_input_is_empty(screen: str) -> bool | None:
    """The input line is the last line starting with the prompt glyph."""
    for line in reversed(screen.split("\n")):
        if line.startswith("❯"):
            return line.strip() == "❯"
    return None


def claude_is_ready(screen: str) -> bool:
    return claude_input_is_empty(screen) is True and "? for shortcuts" in screen


def cannot_tell(screen: str) -> None:
    return None


@pytest.fixture
def runtime() -> Iterator[TmuxRuntime]:
    with tmux_server() as name:
        yield TmuxRuntime(name, config_file="/dev/null")


class Agent:
    def __init__(self, runtime: TmuxRuntime, handle: RuntimeHandle, record: Path) -> None:
        self.runtime = runtime
        self.handle = handle
        self.record = record

    def messages(self) -> list[str]:
        if not self.record.exists():
            return []
        return [json.loads(line)["message"] for line in self.record.read_text().splitlines()]

    async def wait_messages(self, count: int, timeout: float = 5.0) -> list[str]:
        with trio.move_on_after(timeout):
            while len(self.messages()) < count:
                await trio.sleep(0.02)
        return self.messages()

    async def send(self, text: str, **kwargs: object) -> DeliveryResult:
        kwargs.setdefault("input_is_empty", claude_input_is_empty)
        return await deliver(self.runtime, self.handle, text, **kwargs)  # type: ignore[arg-type]


async def start_agent(
    runtime: TmuxRuntime, tmp_path: Path, *args: str, name: str = "ao-1", ready: bool = True
) -> Agent:
    record = tmp_path / f"{name}.jsonl"
    handle = await runtime.create(
        LaunchSpec(
            name=name,
            argv=fake_agent_argv("--record", str(record), *args),
            cwd=tmp_path,
            width=120,
            height=40,
        )
    )
    agent = Agent(runtime, handle, record)
    if ready:
        is_ready = claude_is_ready if "plain" not in args else (lambda s: s.endswith(">"))
        assert await wait_until_ready(runtime, handle, is_ready, timeout=10, stable_for=0.1)
    return agent


async def test_multi_line_text_is_one_byte_exact_message(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    agent = await start_agent(runtime, tmp_path)
    text = "Fix the failing test.\n\nDetails:\n  - step one\n  - step two\n"
    result = await agent.send(text, verify_window=1.0)
    assert result.submitted, result
    assert result.enter_presses == 1
    assert await agent.wait_messages(1) == [text]


HOSTILE = [
    "$(rm -rf /)",
    "`rm -rf /` and $HOME and ${PATH}",
    "it's \"quoted\" 'twice'",
    "\x1b[31mred\x1b[0m \x1b]0;title\x07",
    "tab\tseparated\tvalues",
    "unicode: héllo ✓ 日本語 🎉 \u200b",
    "one line\n;\nafter a lone semicolon",
    ";",
    "ends with a backslash \\",
    "controls: " + "".join(chr(c) for c in range(1, 32) if c not in (10, 13)) + "\x7f",
    "  leading and trailing spaces  ",
    "-t =ao-10 kill-session",
    "#{session_name} %1 ~",
]


async def test_hostile_text_arrives_byte_exact(runtime: TmuxRuntime, tmp_path: Path) -> None:
    # Three agents, each getting its share in order (one message in flight per agent).
    shares = [HOSTILE[i::3] for i in range(3)]
    received: dict[int, list[str]] = {}

    async def send_all(i: int) -> None:
        agent = await start_agent(runtime, tmp_path, "--work-seconds", "0", name=f"ao-{i}")
        for text in shares[i]:
            result = await agent.send(text)
            assert result.submitted, (text, result)
        received[i] = await agent.wait_messages(len(shares[i]))

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(send_all, i)
    assert [received[i] for i in range(3)] == shares


async def test_paste_delimiters_nul_and_cr_cannot_break_out(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    agent = await start_agent(runtime, tmp_path)
    text = "before\x1b[201~\r/fake exit 9\rafter\x00\r\nend"
    result = await agent.send(text)
    assert result.submitted, result
    # The delimiter and NUL are dropped, CR/CRLF read as line breaks: still one message.
    assert await agent.wait_messages(1) == ["before\n/fake exit 9\nafter\nend"]


async def test_a_100_kb_message_arrives_whole(runtime: TmuxRuntime, tmp_path: Path) -> None:
    agent = await start_agent(runtime, tmp_path)
    rng = random.Random(7)
    alphabet = string.ascii_letters + string.digits + string.punctuation + " \t" + "é✓日"
    lines = []
    size = 0
    while size < 100 * 1024:
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 150)))
        lines.append(line)
        size += len(line.encode()) + 1
    text = "\n".join(lines)
    result = await agent.send(text, verify_window=1.0)
    assert result.submitted, result
    assert result.enter_presses == 1
    [received] = await agent.wait_messages(1)
    assert len(received) == len(text)
    assert received == text


async def test_a_swallowed_enter_is_pressed_again(runtime: TmuxRuntime, tmp_path: Path) -> None:
    agent = await start_agent(runtime, tmp_path, "--ignore-first-enter")
    result = await agent.send("please submit me")
    assert result.submitted, result
    assert result.enter_presses >= 2  # the first Enter is always swallowed
    assert await agent.wait_messages(1) == ["please submit me"]


async def test_screen_change_rule_when_the_input_line_is_unknown(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    agent = await start_agent(runtime, tmp_path, "--style", "plain", "--ignore-first-enter")
    result = await agent.send("first line\nlast line of the message", input_is_empty=cannot_tell)
    assert result.submitted, result
    assert result.enter_presses >= 2  # the first Enter is always swallowed
    assert await agent.wait_messages(1) == ["first line\nlast line of the message"]


async def test_unverified_submission_reports_failure_after_the_attempts(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    agent = await start_agent(runtime, tmp_path)

    def never_empty(screen: str) -> bool:
        return False

    result = await agent.send(
        "hello", input_is_empty=never_empty, attempts=3, verify_window=0.05, settle_timeout=2
    )
    assert not result.submitted
    assert result.enter_presses == 3
    assert "not verified" in result.detail
    # The extra Enter presses landed on an empty input and submitted nothing twice.
    assert await agent.wait_messages(1) == ["hello"]


async def test_wait_until_ready_waits_for_a_slow_start(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    agent = await start_agent(runtime, tmp_path, "--startup-delay", "0.5", ready=False)
    started = trio.current_time()
    assert await wait_until_ready(
        runtime, agent.handle, claude_is_ready, timeout=10, stable_for=0.2
    )
    assert trio.current_time() - started >= 0.5 - 0.2  # not before the prompt could exist
    assert claude_is_ready(await runtime.capture(agent.handle))
    result = await agent.send("first prompt")
    assert result.submitted, result
    assert await agent.wait_messages(1) == ["first prompt"]


async def test_wait_until_ready_times_out(runtime: TmuxRuntime, tmp_path: Path) -> None:
    agent = await start_agent(runtime, tmp_path, "--startup-delay", "30", ready=False)
    started = trio.current_time()
    assert not await wait_until_ready(runtime, agent.handle, claude_is_ready, timeout=0.4)
    assert trio.current_time() - started < 2


async def test_messages_sent_while_working_queue_up_in_order(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    agent = await start_agent(runtime, tmp_path, "--work-seconds", "0.2")
    texts = ["one", "two\nlines", "three"]
    for text in texts:
        result = await agent.send(text)
        assert result.submitted, result
    assert await agent.wait_messages(3) == texts


async def test_agent_commands_write_and_ask(runtime: TmuxRuntime, tmp_path: Path) -> None:
    agent = await start_agent(runtime, tmp_path)
    # A long first window: a second Enter would answer the question this message asks.
    result = await agent.send(
        "/fake write out/hello.txt hi there\n/fake ask hello.py", verify_window=2.0
    )
    assert result.submitted, result

    async def asking() -> bool:
        return "Do you want to create hello.py?" in await runtime.capture(agent.handle)

    with trio.fail_after(5):
        while not await asking():
            await trio.sleep(0.02)
    assert (tmp_path / "out" / "hello.txt").read_text() == "hi there\n"
    await runtime.press_enter(agent.handle)
    assert await wait_until_ready(
        runtime, agent.handle, claude_is_ready, timeout=5, stable_for=0.1
    )
    assert "Allowed: create hello.py" in await runtime.capture(agent.handle)


async def test_agent_commands_commit_hang_and_exit(runtime: TmuxRuntime, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    quiet = {"cwd": repo, "check": True, "capture_output": True, "timeout": 30}
    subprocess.run(["git", "init", "-q", "-b", "main"], **quiet)  # type: ignore[call-overload]
    for key, value in (("user.name", "Fake Agent"), ("user.email", "fake@example.invalid")):
        subprocess.run(["git", "config", key, value], **quiet)  # type: ignore[call-overload]
    record = tmp_path / "repo.jsonl"
    handle = await runtime.create(
        LaunchSpec(name="ao-1", argv=fake_agent_argv("--record", str(record)), cwd=repo)
    )
    agent = Agent(runtime, handle, record)
    assert await wait_until_ready(runtime, handle, claude_is_ready, timeout=10, stable_for=0.1)

    text = "/fake write a.txt alpha\n/fake commit add a.txt; $(not run)"
    assert (await agent.send(text)).submitted
    assert await wait_until_ready(runtime, handle, claude_is_ready, timeout=10, stable_for=0.1)
    log = subprocess.run(["git", "log", "--format=%s"], **quiet)  # type: ignore[call-overload]
    assert log.stdout.decode() == "add a.txt; $(not run)\n"

    assert (await agent.send("/fake hang")).submitted
    with trio.fail_after(5):
        while "esc to interrupt" not in await runtime.capture(handle):
            await trio.sleep(0.02)
    assert not claude_is_ready(await runtime.capture(handle))

    # A message sent while it works is taken (queued); Esc interrupts the work.
    assert (await agent.send("queued while hanging")).submitted
    subprocess.run(
        ["tmux", "-L", runtime.socket_name, "send-keys", "-t", handle.pane_id or "", "Escape"],
        check=True, capture_output=True, timeout=10,
    )  # fmt: skip
    assert await wait_until_ready(runtime, handle, claude_is_ready, timeout=10, stable_for=0.1)

    assert (await agent.send("/fake exit 4")).submitted
    with trio.fail_after(5):
        while True:
            snap = await runtime.snapshot()
            assert snap is not None
            if snap["ao-1"].dead and snap["ao-1"].exit_status is not None:
                break
            await trio.sleep(0.02)
    assert snap["ao-1"].exit_status == 4
    assert agent.messages() == [text, "/fake hang", "queued while hanging", "/fake exit 4"]
