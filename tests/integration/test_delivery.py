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
from aod.plugins.agent.claude_code import ClaudeCodeAgent
from aod.plugins.agent.custom import CustomAgent
from aod.plugins.runtime import LaunchSpec, Look
from aod.plugins.runtime.tmux import TmuxRuntime
from tests.support.tmux import fake_agent_argv, tmux_server


CLAUDE = ClaudeCodeAgent()
PLAIN = CustomAgent("plain")


def claude_is_ready(screen: str) -> bool:
    return CLAUDE.read_screen(screen).activity == "idle"


def claude_activity(look: Look, _quiet: float) -> str:
    return CLAUDE.read_screen(look.text).activity


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
        kwargs.setdefault("read_input", CLAUDE.read_input)
        return await deliver(self.runtime, self.handle, text, **kwargs)  # type: ignore[arg-type]

    async def screen(self) -> str:
        return await self.runtime.capture(self.handle, 200)


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
        reader = PLAIN if "plain" in args else CLAUDE
        ready_now = await wait_until_ready(
            runtime, handle, lambda look, _q: reader.read_screen(look.text).activity, timeout=10, stable_for=0.1
        )
        assert ready_now == "ready"
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
    result = await agent.send("first line\nlast line of the message", read_input=cannot_tell)
    assert result.submitted, result
    assert result.enter_presses >= 2  # the first Enter is always swallowed
    assert "our text left the input" in result.detail  # the cursor's row showed it there
    assert await agent.wait_messages(1) == ["first line\nlast line of the message"]


async def test_unverified_submission_reports_failure_after_the_attempts(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    agent = await start_agent(runtime, tmp_path)

    def always_holds_it(screen: str) -> str:
        return "hello"

    result = await agent.send(
        "hello", read_input=always_holds_it, attempts=3, verify_window=0.05, settle_timeout=2
    )
    assert not result.submitted
    assert result.in_input  # a retry must press Enter, not paste a second copy
    assert result.enter_presses == 3
    assert "still in the input after 3 Enter presses" in result.detail
    # The extra Enter presses landed on an empty input and submitted nothing twice.
    assert await agent.wait_messages(1) == ["hello"]


async def test_wait_until_ready_waits_for_a_slow_start(
    runtime: TmuxRuntime, tmp_path: Path
) -> None:
    agent = await start_agent(runtime, tmp_path, "--startup-delay", "0.5", ready=False)
    started = trio.current_time()
    assert await wait_until_ready(runtime, agent.handle, claude_activity, timeout=10, stable_for=0.2) == "ready"
    assert trio.current_time() - started >= 0.5 - 0.2  # not before the prompt could exist
    assert claude_is_ready(await runtime.capture(agent.handle))
    result = await agent.send("first prompt")
    assert result.submitted, result
    assert await agent.wait_messages(1) == ["first prompt"]


async def test_wait_until_ready_times_out(runtime: TmuxRuntime, tmp_path: Path) -> None:
    agent = await start_agent(runtime, tmp_path, "--startup-delay", "30", ready=False)
    started = trio.current_time()
    assert await wait_until_ready(runtime, agent.handle, claude_activity, timeout=0.4) == "unknown"
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
    assert await wait_until_ready(runtime, agent.handle, claude_activity, timeout=5, stable_for=0.1) == "ready"
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
    assert await wait_until_ready(runtime, handle, claude_activity, timeout=10, stable_for=0.1) == "ready"

    text = "/fake write a.txt alpha\n/fake commit add a.txt; $(not run)"
    assert (await agent.send(text)).submitted
    assert await wait_until_ready(runtime, handle, claude_activity, timeout=10, stable_for=0.1) == "ready"
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
    assert await wait_until_ready(runtime, handle, claude_activity, timeout=10, stable_for=0.1) == "ready"

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


# -- Enter is pressed again only while our text is still in the input (issue 12, items 2, 21) --


@pytest.mark.parametrize("style", ["claude", "plain"])
async def test_a_question_right_after_the_message_is_not_answered_by_a_retry_enter(
    runtime: TmuxRuntime, tmp_path: Path, style: str
) -> None:
    reader = PLAIN if style == "plain" else CLAUDE
    agent = await start_agent(runtime, tmp_path, "--style", style)
    # The shortest window: a verifier that pressed Enter whenever it saw no proof in time would
    # press it while the question is up, and the question would be "Allowed".
    result = await agent.send("/fake ask hello.py", read_input=reader.read_input, verify_window=0.01)
    assert result.submitted, result
    assert result.enter_presses == 1, result
    screen = await agent.screen()
    assert "hello.py?" in screen and "Allowed" not in screen
    assert reader.read_screen(screen).activity == "waiting_input"


@pytest.mark.parametrize("text", ["run the tests", "line one of two\nline two of two"])
async def test_a_plain_custom_agent_gets_one_enter_per_message(
    runtime: TmuxRuntime, tmp_path: Path, text: str
) -> None:
    agent = await start_agent(runtime, tmp_path, "--style", "plain", "--work-seconds", "1")
    result = await agent.send(text, read_input=PLAIN.read_input)
    assert result.submitted, result
    assert result.enter_presses == 1, result
    assert await agent.wait_messages(1) == [text]


# -- a delivery a crash interrupted (issue 12, item 1) -------------------------------------------

TALL = "\n".join(f"[ao:5eed5eed] line {n} of a long CI log excerpt" for n in range(1, 26))


@pytest.mark.parametrize("style", ["claude", "plain"])
@pytest.mark.parametrize("text", ["please rebase onto main", TALL])
async def test_text_left_in_the_input_by_a_crash_is_submitted_not_pasted_again(
    runtime: TmuxRuntime, tmp_path: Path, style: str, text: str
) -> None:
    reader = PLAIN if style == "plain" else CLAUDE
    agent = await start_agent(runtime, tmp_path, "--style", style)
    await runtime.paste(agent.handle, text)  # what the crashed aod did before its Enter
    with trio.fail_after(5):
        while "please rebase" not in await agent.screen() and "line 25" not in await agent.screen() and "Pasted" not in await agent.screen():
            await trio.sleep(0.02)
    marker = "[ao:5eed5eed]" if text == TALL else ""
    result = await agent.send(text, read_input=reader.read_input, marker=marker, resuming=True)
    assert result.submitted, result
    assert "still in the input" in result.detail
    assert await agent.wait_messages(1) == [text]


@pytest.mark.parametrize("style", ["claude", "plain"])
async def test_text_a_crash_left_submitted_is_not_sent_again(
    runtime: TmuxRuntime, tmp_path: Path, style: str
) -> None:
    reader = PLAIN if style == "plain" else CLAUDE
    agent = await start_agent(runtime, tmp_path, "--style", style, "--work-seconds", "0")
    text = "[ao:0badc0de] CI failed on PR #2: please look"
    await runtime.paste(agent.handle, text)
    await runtime.press_enter(agent.handle)
    assert await agent.wait_messages(1) == [text]
    with trio.fail_after(5):  # the agent records a message before it redraws its screen
        while reader.read_input(await agent.screen()) != "":
            await trio.sleep(0.02)
    result = await agent.send(text, read_input=reader.read_input, marker="[ao:0badc0de]", resuming=True)
    assert result.submitted and result.enter_presses == 0, result
    assert "found in the conversation" in result.detail
    assert agent.messages() == [text]


async def test_text_a_crash_never_pasted_is_pasted(runtime: TmuxRuntime, tmp_path: Path) -> None:
    agent = await start_agent(runtime, tmp_path)
    result = await agent.send("[ao:12345678] never got here", marker="[ao:12345678]", resuming=True)
    assert result.submitted and result.enter_presses == 1, result
    assert await agent.wait_messages(1) == ["[ao:12345678] never got here"]


async def test_enter_is_never_pressed_on_a_choice_drawn_over_the_input(runtime: TmuxRuntime, tmp_path: Path) -> None:
    from aod.plugins.agent.codex import CodexAgent

    codex = CodexAgent(environ={})
    agent = await start_agent(runtime, tmp_path, "--style", "codex", "--choice-on-paste", ready=False)
    with trio.fail_after(10):
        while codex.read_screen(await agent.screen()).activity != "idle":
            await trio.sleep(0.02)

    def asks(screen: str) -> bool:
        return codex.read_screen(screen).activity in ("waiting_input", "blocked")

    result = await agent.send("please start", read_input=codex.read_input, asks=asks)
    assert not result.submitted and result.enter_presses == 0, result
    assert "Enter not pressed" in result.detail
    screen = await agent.screen()
    assert "Meet GPT-6 Sol" in screen and "Switched to the new model" not in screen
