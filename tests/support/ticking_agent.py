#!/usr/bin/env python3
"""A stand-in agent whose screen never stops moving (stdlib only).

    python tests/support/ticking_agent.py --record FILE [--swallow N] [--tick S] [--witness FILE]

Raw-mode TUI, like fake_agent.py but smaller: its last line is the input, `> <typed text>`, and
above it a counter redrawn every `--tick` seconds (a spinner, a clock: a screen that changes
whatever the input holds). Bracketed pastes are taken as one piece; Enter submits the input
(appended to FILE as JSON {"message": ...}) except for the first `--swallow` Enters (-1: all).
With `--witness PATH`, each record also holds what PATH contained at the moment the message
was taken ({"witness": text or null}): a test can see what was on disk when the agent got it.
`{session}` in a path is the session id (AO_SESSION_ID).
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import termios
import time
import tty

PASTE_START, PASTE_END = b"\x1b[200~", b"\x1b[201~"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--swallow", type=int, default=0)
    parser.add_argument("--tick", type=float, default=0.3)
    parser.add_argument("--witness")
    args = parser.parse_args()
    session = os.environ.get("AO_SESSION_ID", "none")
    record_path = args.record.replace("{session}", session)
    witness = args.witness.replace("{session}", session) if args.witness else None
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    out = sys.stdout.buffer
    out.write(b"\x1b[?2004h")  # ask for bracketed paste, as agent TUIs do
    typed = b""
    swallow = args.swallow
    ticks = 0
    pending = b""

    def draw() -> None:
        out.write(b"\x1b[H\x1b[2J" + f"tick {ticks}\r\n".encode() + b"> " + typed.replace(b"\n", b" "))
        out.flush()

    try:
        draw()
        next_tick = time.monotonic() + args.tick
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, next_tick - time.monotonic()))
            if not ready:
                ticks += 1
                next_tick += args.tick
                draw()
                continue
            data = os.read(fd, 65536)
            if not data:
                return 0
            pending += data
            while pending:
                if pending.startswith(PASTE_START):
                    end = pending.find(PASTE_END)
                    if end < 0:
                        break  # the rest of the paste is still on its way
                    typed += pending[len(PASTE_START):end].replace(b"\r", b"\n")
                    pending = pending[end + len(PASTE_END):]
                elif pending[:1] in (b"\r", b"\n"):
                    pending = pending[1:]
                    if swallow != 0:
                        swallow -= 1
                    elif typed:
                        entry: dict[str, object] = {"message": typed.decode(errors="replace")}
                        if witness is not None:
                            try:
                                with open(witness, encoding="utf-8", errors="replace") as seen:
                                    entry["witness"] = seen.read()
                            except FileNotFoundError:
                                entry["witness"] = None
                        with open(record_path, "a", encoding="utf-8") as record:
                            record.write(json.dumps(entry) + "\n")
                            record.flush()
                            os.fsync(record.fileno())
                        typed = b""
                elif pending[:1] == b"\x03":
                    return 0
                elif pending.startswith(b"\x1b") and len(pending) < len(PASTE_START) and PASTE_START.startswith(pending):
                    break  # maybe the start of a paste: wait for more
                else:
                    typed += pending[:1]
                    pending = pending[1:]
            draw()
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


if __name__ == "__main__":
    sys.exit(main())
