#!/usr/bin/env python3
"""A line-mode stand-in for an agent CLI that draws no prompt glyph (stdlib only).

    python tests/support/line_agent.py --record FILE

It reads its terminal a line at a time in the terminal's own (cooked) mode, like a simple REPL
wrapped around a model: no `>` at the end of its last line, so only generic signals (its process
reading the terminal, a quiet screen) say it is ready. Each line is appended to FILE as JSON
{"message": ...}. A line containing `ask` makes it ask `Overwrite notes.txt? (y/n)` and wait for
the answer; `work` makes it print `thinking` lines for a second.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    args, _unknown = parser.parse_known_args()
    record = args.record.replace("{session}", os.environ.get("AO_SESSION_ID", "none"))
    print("linebot 1.0 - tell me what to do, one line at a time", flush=True)
    while True:
        line = sys.stdin.readline()
        if not line:
            return 0
        message = line.rstrip("\n")
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"message": message, "time": time.time()}) + "\n")
        if "ask" in message:
            print("Overwrite notes.txt? (y/n)", flush=True)
            answer = sys.stdin.readline().strip()
            print(f"answered {answer!r}", flush=True)
        elif "work" in message:
            for n in range(5):
                print(f"thinking {n}", flush=True)
                time.sleep(0.2)
        print(f"done: {message[:60]}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
