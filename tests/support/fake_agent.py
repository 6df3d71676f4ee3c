#!/usr/bin/env python3
"""The scripted agent: a stand-in for an AI coding agent CLI in aod's tests (stdlib only).

    python tests/support/fake_agent.py [--style claude|plain] [--startup-delay S]
        [--work-seconds S] [--record FILE] [--ignore-first-enter] [PROMPT]

Like a real agent TUI it puts its terminal in raw mode, asks for bracketed paste
(ESC[?2004h) and redraws its whole screen in place on every change. `--style claude` draws the screens
AGENT-CLIS.md §1 measured for Claude Code:

    idle                    working                   asking permission
    ❯ <input>               ✻ Working…                Do you want to create FILE?
    ─────────────           ❯ <input>                 ❯ 1. Yes
      ? for shortcuts       ─────────────               2. No
                              esc to interrupt        Esc to cancel · Tab to amend

`--style plain` draws `> <input>` with `working...` / `Allow creating FILE? [Enter]`. `codex`,
`aider`, `goose` and `opencode` draw those CLIs' screens as AGENT-CLIS.md measured them (the input
line or box, the working line, the approval question), so every agent plugin can be driven.

Hooks, as the real CLIs run them: `--settings JSON` (Claude Code: the `hooks` table; each command
runs through `sh -c` with the event's JSON on stdin: UserPromptSubmit on a submit, Stop at the end
of a turn, Notification for a question, PostToolUse once it is answered) and `-c notify=[ARGV]`
(Codex: ARGV plus the event's JSON as the last argument, `agent-turn-complete` at the end of a
turn). `/fake nostop` ends the next turn without its Stop hook (a turn that died).

Input: a bracketed paste (ESC[200~ ... ESC[201~) is added to the input as one piece (CR inside
it reads as a line break, as in real TUIs); CR or LF outside a paste is Enter and submits a
non-empty input (an empty one is ignored); Backspace deletes; Ctrl-C clears the input; Esc
interrupts work or cancels a question. Input that arrives while starting up is discarded, like
keys typed at a TUI that is not listening yet. With `--ignore-first-enter` the first Enter
that would submit is swallowed (to test Enter retries); with `--deaf` every one is. With
`--choice-on-paste` the first paste makes a choice appear over the input (as Codex's
model-upgrade screen does on start-up); Enter makes the choice.

Every submitted message (PROMPT first, if given) is appended to `--record FILE` as one JSON
line {"message": ..., "time": ...} and fsync'd: tests read it to prove byte-exact delivery.
Messages submitted while working are queued, and shown as queued (first line) until started. Working on a message takes `--work-seconds`, and
lines of the message starting with `/fake ` are obeyed:

    /fake write PATH TEXT   write TEXT and a newline to PATH (relative to the cwd)
    /fake commit MSG        git add -A; git commit -m MSG
    /fake hang              keep working forever (Esc interrupts)
    /fake exit N            exit with status N
    /fake ask [FILE]        show the permission question until Enter (accept) or Esc
    /fake slow-ready S      stay busy S seconds before showing the prompt again
    /fake usage MODEL IN OUT   append an assistant record with that token usage to the
                            Claude Code transcript of the cwd (~/.claude/projects/<cwd>/)
    /fake limit TEXT        show TEXT (a plan usage-limit message) on screen
    /fake nostop            finish this turn without running the Stop hook
    /fake run ARGV...       run ARGV (split like a shell line, run WITHOUT a shell), e.g. aoctl

SIGHUP/SIGTERM restore the terminal and exit with 128+signal.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from dataclasses import dataclass

PASTE_START = b"\x1b[200~"
PASTE_END = b"\x1b[201~"
BIG_PASTE_LINES = 10
BIG_PASTE_CHARS = 2000


class Stop(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _caret(text: str) -> str:
    """Control characters drawn as ^X so the input never drives our own terminal."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 and ch != "\n":
            out.append("^" + chr(code + 64))
        elif code == 0x7F:
            out.append("^?")
        else:
            out.append(ch)
    return "".join(out)


def _partial_suffix(buf: bytearray, marker: bytes) -> int:
    """Length of the longest end of `buf` that could be the start of `marker`."""
    for k in range(min(len(marker) - 1, len(buf)), 0, -1):
        if buf.endswith(marker[:k]):
            return k
    return 0


@dataclass(frozen=True)
class Style:
    """How one agent CLI draws its screens (see AGENT-CLIS.md)."""

    prompt: str
    more: str = "  "
    said: str = "> "
    bullet: str = "●"
    starting: str = "starting..."
    working: str = "working..."
    queued: str = "queued: "
    interrupted: str = "interrupted"
    asking: tuple[str, ...] = ("Allow creating {file}? [Enter]",)
    placeholder: str = ""
    """Shown in the empty input: always (Codex), or before the first message only (opencode)."""
    placeholder_always: bool = False
    collapses_pastes: bool = False
    """A big paste shows as `[Pasted text #N +M lines]` (Claude Code)."""
    top: str = ""
    footer: str = ""
    busy_footer: str = ""

    def box_top(self, cols: int) -> list[str]:
        return [""] if not self.top else ["", self.top * (cols - 1)]

    closing: tuple[str, ...] = ()
    """Lines that close the input box (opencode: its agent/model line and its lower edge)."""

    def box_bottom(self, cols: int, working: bool) -> list[str]:
        footer = self.busy_footer if working and self.busy_footer else self.footer
        lines = [self.top * (cols - 1)] if self.top else []
        lines += [line.replace("▀", "▀" * (cols - 2)) for line in self.closing]
        return lines + ([footer] if footer else [])


STYLES = {
    "claude": Style(
        prompt="❯ ", said="> ", starting=" Starting fake agent…", working="✻ Working…", queued="  ⎿ queued: ",
        interrupted="  ⎿ Interrupted",
        asking=(" Do you want to create {file}?", " ❯ 1. Yes", "   2. No", "", " Esc to cancel · Tab to amend"),
        top="─", footer="  ? for shortcuts", busy_footer="  esc to interrupt", collapses_pastes=True,
    ),
    "plain": Style(prompt="> ", said="you: ", bullet="*"),
    "codex": Style(
        prompt="› ", said="› ", bullet="•", working="• Working (2s • esc to interrupt)",
        asking=("  Would you like to make the following edits?", "  Destination: {file}", "› 1. Yes, proceed (y)",
                "  2. No, and tell Codex what to do differently (esc)", "  Press enter to confirm or esc to cancel"),
        placeholder="Ask Codex to do anything", placeholder_always=True, footer="  ← for agents · ? for shortcuts",
    ),
    "aider": Style(prompt="> ", said="> ", bullet="", working="Thinking about it",
                   asking=("Create new file {file}? (Y)es/(N)o [Yes]: ",)),
    "goose": Style(prompt="( O)> ", said="( O)> ", bullet="-", working="◓ thinking..."),
    "opencode": Style(
        prompt="┃  ", more="┃  ", said="┃  ", bullet="▣ ", working="",
        asking=("△ Permission required", "  → Edit {file}", "  Allow once   Allow always   Reject"),
        placeholder='Ask anything… "Fix broken tests"', footer="   ~/fake:main          tab agents  ctrl+p commands",
        busy_footer="   ⬝⬝■■■■■■  esc interrupt          tab agents  ctrl+p commands",
        closing=("┃", "┃  Build · Fake Fake", "╹▀"),
    ),
}


def _claude_hooks(settings: str | None) -> dict[str, list[tuple[str, float]]]:
    """event -> [(shell command, timeout)] from Claude Code's `--settings` JSON."""
    if not settings:
        return {}
    try:
        table = json.loads(settings).get("hooks", {})
    except (ValueError, AttributeError):
        return {}
    found: dict[str, list[tuple[str, float]]] = {}
    for event, groups in table.items():
        for group in groups:
            for hook in group.get("hooks", []):
                if hook.get("type") == "command":
                    found.setdefault(event, []).append((hook["command"], float(hook.get("timeout", 60))))
    return found


def _codex_notify(overrides: list[str]) -> list[str]:
    for override in overrides:
        key, _, value = override.partition("=")
        if key.strip() == "notify":
            try:
                argv = json.loads(value)
            except ValueError:
                return []
            return [str(a) for a in argv] if isinstance(argv, list) else []
    return []


class Agent:
    def __init__(self, args: argparse.Namespace) -> None:
        self.style: str = args.style
        self.record = os.path.abspath(args.record) if args.record else None
        self.work_seconds: float = args.work_seconds
        self.swallow_enter: bool = args.ignore_first_enter
        self.deaf: bool = args.deaf
        self.choice_on_paste: bool = args.choice_on_paste
        self.choosing = False
        self.fd_in = sys.stdin.fileno()
        self.fd_out = sys.stdout.fileno()
        self.state = "starting"
        self.input = bytearray()
        self.pending = bytearray()
        self.in_paste = False
        self.paste_buf = bytearray()
        self.pastes = 0
        self.big_paste: int | None = None  # the paste number the input shows collapsed
        self.transcript: list[str] = []
        self.queue: list[str] = []
        self.busy_until: float | None = None
        self.ask_file = ""
        self.dirty = True
        self.hooks = _claude_hooks(args.settings)
        self.notify = _codex_notify(args.config)
        self.skip_stop = False

    # -- output -----------------------------------------------------------------------------

    def write(self, data: str) -> None:
        raw = data.encode("utf-8", "replace")
        while raw:
            try:
                n = os.write(self.fd_out, raw)
            except BlockingIOError:
                select.select([], [self.fd_out], [], 1.0)
                continue
            raw = raw[n:]

    def size(self) -> tuple[int, int]:
        try:
            cols, rows = os.get_terminal_size(self.fd_out)
        except OSError:
            cols, rows = 200, 50
        return max(cols, 20), max(rows, 5)

    def input_lines(self) -> list[str]:
        text = self.input.decode("utf-8", "replace")
        if self.in_paste:
            count = self.paste_buf.count(b"\n") + self.paste_buf.count(b"\r")
            return [f"[Pasting text #{self.pastes} +{count} lines]"]
        if self.big_paste is not None:
            return [f"[Pasted text #{self.big_paste} +{text.count(chr(10))} lines]"]
        return _caret(text).split("\n")

    def screen(self, cols: int) -> list[str]:
        style = STYLES[self.style]
        lines = list(self.transcript)
        if self.state == "starting":
            return lines + ["", style.starting]
        if self.state == "working":
            # Like real TUIs, input submitted while busy is shown as queued (first line of each).
            lines += [style.queued + _caret(q.split("\n", 1)[0][:80]) for q in self.queue]
            lines += ["", style.working]
        if self.state == "asking":
            return lines + ["", *(line.format(file=self.ask_file) for line in style.asking)]
        if self.choosing:
            # A choice drawn over the input, as Codex's model-upgrade screen is.
            return lines + ["", "  Meet GPT-6 Sol", "› 1. Try new model", "  2. Use existing model", "  enter/esc confirm"]
        shown = self.input_lines()
        if not self.input and not self.in_paste and style.placeholder and (style.placeholder_always or not self.transcript):
            shown = [style.placeholder]
        lines += style.box_top(cols)
        lines.append(style.prompt + shown[0])
        lines += [style.more + more for more in shown[1:]]
        lines += style.box_bottom(cols, self.state == "working")
        return lines

    def draw(self) -> None:
        cols, rows = self.size()
        lines = self.screen(cols)
        # Keep the bottom of the screen: drop whole lines from the top until everything fits.
        used = 0
        keep: list[str] = []
        for line in reversed(lines):
            height = max(1, -(-len(line) // cols))
            if used + height > rows - 1:
                break
            keep.append(line)
            used += height
        keep.reverse()
        # Redraw in place (home, each line then erase-to-end, erase below), as TUIs do: the
        # screen shows the current state and nothing is pushed into the scrollback.
        self.write("\x1b[H" + "\x1b[K\r\n".join(keep) + "\x1b[K\x1b[J")
        self.dirty = False

    # -- messages -----------------------------------------------------------------------------

    def record_message(self, message: str) -> None:
        if self.record is None:
            return
        line = json.dumps({"message": message, "time": time.time()}) + "\n"
        fd = os.open(self.record, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def submit(self, message: str) -> None:
        self.record_message(message)
        self.hook("UserPromptSubmit", prompt=message)
        self.queue.append(message)
        if self.state == "idle":
            self.start_next()
        self.dirty = True

    def start_next(self) -> None:
        self.dirty = True
        if not self.queue:
            self.state = "idle"
            self.busy_until = None
            return
        message = self.queue.pop(0)
        first = message.split("\n", 1)[0]
        self.transcript.append(STYLES[self.style].said + _caret(first[:80]))
        self.state = "working"
        self.busy_until = time.monotonic() + self.work_seconds
        for line in message.split("\n"):
            if line.startswith("/fake "):
                self.command(line[len("/fake ") :])
            if self.state == "asking":
                break

    def command(self, line: str) -> None:
        verb, _, rest = line.strip().partition(" ")
        bullet = STYLES[self.style].bullet
        if verb == "write":
            path, _, text = rest.partition(" ")
            parent = os.path.dirname(path)
            if parent:
                os.makedirs(parent, exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            self.transcript.append(f"{bullet} Wrote {path}")
        elif verb == "commit":
            quiet = {"stdin": subprocess.DEVNULL, "capture_output": True, "timeout": 30}
            subprocess.run(["git", "add", "-A"], check=False, **quiet)  # type: ignore[call-overload]
            done = subprocess.run(["git", "commit", "-q", "-m", rest], check=False, **quiet)  # type: ignore[call-overload]
            status = "Committed" if done.returncode == 0 else "Commit failed"
            self.transcript.append(f"{bullet} {status}: {rest}")
        elif verb == "hang":
            self.busy_until = None
        elif verb == "exit":
            self.draw()
            raise Stop(int(rest or "0"))
        elif verb == "ask":
            self.ask_file = rest or "hello.py"
            self.state = "asking"
            self.busy_until = None
            self.hook("Notification", notification_type="permission_prompt",
                      message=f"Claude needs your permission to use Write ({self.ask_file})")
        elif verb == "nostop":
            self.skip_stop = True
        elif verb == "usage":
            # A Claude Code transcript line with token usage, where Claude Code keeps them.
            model, _, counts = rest.partition(" ")
            tokens = [int(n) for n in counts.split()] + [0, 0]
            self.write_usage(model, tokens[0], tokens[1])
            self.transcript.append(f"{bullet} Used {tokens[0]} + {tokens[1]} tokens")
        elif verb == "limit":
            self.transcript.append(rest)  # a plan's usage-limit message, as an agent shows it
        elif verb == "run":
            import shlex

            argv = shlex.split(rest)
            try:
                done = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
                status = f"exit {done.returncode}"
            except (OSError, subprocess.TimeoutExpired) as exc:
                status = f"failed: {exc}"
            self.transcript.append(f"{bullet} Ran {argv[0] if argv else '?'}: {status}")
        elif verb == "slow-ready":
            self.busy_until = time.monotonic() + float(rest or "1")

    def write_usage(self, model: str, input_tokens: int, output_tokens: int) -> None:
        home = os.environ.get("HOME", "/nonexistent")
        folder = os.path.join(home, ".claude", "projects", re.sub(r"[^A-Za-z0-9]", "-", os.getcwd()))
        os.makedirs(folder, exist_ok=True)
        self.usage_n = getattr(self, "usage_n", 0) + 1
        session = f"fake-{os.getpid()}"
        record = {
            "type": "assistant", "sessionId": session, "requestId": f"req_{self.usage_n}",
            "message": {
                "id": f"msg_{os.getpid()}_{self.usage_n}", "model": model, "role": "assistant", "content": [],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
            },
        }
        with open(os.path.join(folder, f"{session}.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def finish(self) -> None:
        self.transcript.append(f"{STYLES[self.style].bullet} Done.")
        if self.skip_stop:
            self.skip_stop = False
        else:
            self.hook("Stop", stop_hook_active=False)
            self.notify_turn_complete()
        self.start_next()

    # -- hooks --------------------------------------------------------------------------------

    def hook(self, event: str, **fields: object) -> None:
        """Run the Claude Code hooks configured for `event`, as Claude does: through a shell,
        the event's JSON on stdin, waiting for each (bounded by its timeout)."""
        payload = json.dumps({"hook_event_name": event, "session_id": f"fake-{os.getpid()}", "cwd": os.getcwd(), **fields})
        for command, timeout in self.hooks.get(event, []):
            try:
                subprocess.run(["sh", "-c", command], input=payload.encode(), capture_output=True, timeout=timeout, check=False)
            except (OSError, subprocess.TimeoutExpired):
                pass

    def notify_turn_complete(self) -> None:
        """Codex's `notify`: the program with the event's JSON as its last argument."""
        if not self.notify:
            return
        payload = json.dumps({"type": "agent-turn-complete", "thread-id": f"fake-{os.getpid()}", "cwd": os.getcwd(),
                              "input-messages": [], "last-assistant-message": "Done."})
        try:
            subprocess.run([*self.notify, payload], capture_output=True, stdin=subprocess.DEVNULL, timeout=10, check=False)
        except (OSError, subprocess.TimeoutExpired):
            pass

    # -- keys -----------------------------------------------------------------------------------

    def on_enter(self) -> None:
        if self.choosing:
            self.choosing = False
            self.transcript.append(f"{STYLES[self.style].bullet} Switched to the new model")
            return
        if self.state == "asking":
            self.transcript.append(f"{STYLES[self.style].bullet} Allowed: create {self.ask_file}")
            self.state = "working"
            self.busy_until = time.monotonic() + self.work_seconds
            self.hook("PostToolUse", tool_name="Write")
            return
        if not self.input or self.deaf:
            return
        if self.swallow_enter:
            self.swallow_enter = False
            return
        message = bytes(self.input).decode("utf-8", "surrogateescape")
        self.input.clear()
        self.big_paste = None
        self.submit(message)

    def on_escape(self) -> None:
        if self.state in ("working", "asking"):
            self.transcript.append(STYLES[self.style].interrupted)
            self.queue.clear()
            self.start_next()

    def end_paste(self) -> None:
        data = bytes(self.paste_buf).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        self.paste_buf.clear()
        self.in_paste = False
        self.input += data
        if self.choice_on_paste:
            self.choice_on_paste, self.choosing = False, True
        lines = self.input.count(b"\n") + 1
        if STYLES[self.style].collapses_pastes and (lines > BIG_PASTE_LINES or len(self.input) > BIG_PASTE_CHARS):
            self.big_paste = self.pastes

    def feed(self) -> None:
        buf = self.pending
        i = 0
        while i < len(buf):
            if self.in_paste:
                end = buf.find(PASTE_END, i)
                if end < 0:
                    keep = _partial_suffix(buf, PASTE_END)
                    self.paste_buf += buf[i : len(buf) - keep]
                    i = len(buf) - keep
                    break
                self.paste_buf += buf[i:end]
                i = end + len(PASTE_END)
                self.end_paste()
                continue
            byte = buf[i]
            if byte == 0x1B:
                rest = bytes(buf[i:])
                if rest.startswith(PASTE_START):
                    self.in_paste = True
                    self.pastes += 1
                    i += len(PASTE_START)
                    continue
                if len(rest) < 2 or (PASTE_START.startswith(rest)):
                    break  # wait for the rest (a lone Esc is resolved by the main loop)
                if rest[1:2] == b"[":
                    final = next((j for j in range(2, len(rest)) if 0x40 <= rest[j] <= 0x7E), None)
                    if final is None:
                        break
                    i += final + 1  # arrow keys and the like: ignored
                    continue
                if rest[1:2] == b"O":
                    if len(rest) < 3:
                        break
                    i += 3
                    continue
                self.on_escape()
                i += 1
            elif byte in (0x0D, 0x0A):
                self.on_enter()
                i += 1
            elif byte in (0x7F, 0x08):
                if self.input:
                    del self.input[-1]
                    while self.input and (self.input[-1] & 0xC0) == 0x80:
                        del self.input[-1]
                i += 1
            elif byte == 0x03:
                self.input.clear()
                self.big_paste = None
                i += 1
            else:
                self.input.append(byte)
                i += 1
        del buf[:i]
        self.dirty = True

    def read_available(self) -> bytes | None:
        """Everything readable now (a big paste arrives in many pieces); None at end of input."""
        chunks = []
        total = 0
        while total < (1 << 20):
            try:
                data = os.read(self.fd_in, 65536)
            except BlockingIOError:
                break
            except OSError:  # EIO: the terminal is gone
                return None if not chunks else b"".join(chunks)
            if not data:
                return None if not chunks else b"".join(chunks)
            chunks.append(data)
            total += len(data)
            if not select.select([self.fd_in], [], [], 0)[0]:
                break
        return b"".join(chunks)

    # -- main loop --------------------------------------------------------------------------------

    def run(self, prompt: str | None, startup_delay: float) -> None:
        self.write("\x1b[?2004h")
        self.draw()
        deadline = time.monotonic() + startup_delay
        while (left := deadline - time.monotonic()) > 0:
            if select.select([self.fd_in], [], [], left)[0] and self.read_available() is None:
                return
        self.state = "idle"
        self.dirty = True
        if prompt:
            self.submit(prompt)
        while True:
            if self.dirty:
                self.draw()
            timeout: float | None = None
            if self.state == "working" and self.busy_until is not None:
                timeout = max(0.0, self.busy_until - time.monotonic())
            lone_escape = bytes(self.pending) == b"\x1b"
            if lone_escape:
                timeout = 0.05 if timeout is None else min(timeout, 0.05)
            if select.select([self.fd_in], [], [], timeout)[0]:
                data = self.read_available()
                if data is None:
                    return
                self.pending += data
                self.feed()
            elif lone_escape:
                self.pending.clear()
                self.on_escape()
            if (
                self.state == "working"
                and self.busy_until is not None
                and time.monotonic() >= self.busy_until
            ):
                self.finish()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a scripted stand-in for an agent CLI")
    parser.add_argument("--style", choices=tuple(STYLES), default="claude")
    parser.add_argument("--startup-delay", type=float, default=0.0)
    parser.add_argument("--work-seconds", type=float, default=0.2)
    parser.add_argument(
        "--record", help="append each message here; {session} becomes $AO_SESSION_ID"
    )
    parser.add_argument("--ignore-first-enter", action="store_true")
    parser.add_argument("--deaf", action="store_true", help="never submit on Enter (the input keeps its text)")
    parser.add_argument("--choice-on-paste", action="store_true", help="draw a model-upgrade choice over the input after the first paste (Enter picks it)")
    parser.add_argument("--settings", help="Claude Code's flag settings (JSON): its hooks are run")
    # Claude Code's `--mcp-config` takes several values, as the real one does (aod puts it first).
    parser.add_argument("--mcp-config", nargs="+", default=[], help="Claude Code's MCP servers (ignored here)")
    parser.add_argument("-c", dest="config", action="append", default=[], help="Codex's config overrides: notify=[...]")
    parser.add_argument("prompt", nargs="?")
    # Flags meant for the real CLI this stands in for (--dangerously-skip-permissions, ...)
    # are accepted and ignored, so a built-in agent plugin can launch it unchanged.
    args, _ignored = parser.parse_known_args(argv)
    if args.record:
        args.record = args.record.replace("{session}", os.environ.get("AO_SESSION_ID", "none"))

    def stop(signum: int, _frame: object) -> None:
        raise Stop(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    agent = Agent(args)
    saved = None
    if os.isatty(agent.fd_in):
        saved = termios.tcgetattr(agent.fd_in)
        tty.setraw(agent.fd_in)
    os.set_blocking(agent.fd_in, False)
    code = 0
    try:
        agent.run(args.prompt, args.startup_delay)
    except Stop as stopped:
        code = stopped.code
    finally:
        os.set_blocking(agent.fd_in, True)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            agent.write("\x1b[?2004l\r\n")
        except OSError:
            pass
        if saved is not None:
            try:
                termios.tcsetattr(agent.fd_in, termios.TCSADRAIN, saved)
            except termios.error:
                pass
    return code


if __name__ == "__main__":
    sys.exit(main())
