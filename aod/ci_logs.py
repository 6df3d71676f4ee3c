"""A bounded excerpt of a failing CI job's log: what an agent needs to fix the build, and no more.

Pure: text in, text out, the one implementation for every forge. The GitHub forge feeds it the
raw log of a GitHub Actions job, the local forge the output of the project's CI command; the
result goes into `CheckFact.log_excerpt`, and from there (`shorten`ed to its share of the
message) into the message sent to the agent. Agents that get only a check's name and URL spend
their own API budget fetching logs (and usually the whole log, into their context); a few
kilobytes chosen well serve them better. A log's tail alone is not enough either: a CI that
prints its error first and then hundreds of lines of teardown would send only the teardown.

A raw Actions job log looks like this (one timestamp per line, steps opened by `##[group]`):

    2024-05-01T10:00:05.1234567Z ##[group]Run pytest -q
    2024-05-01T10:00:05.1234567Z pytest -q
    2024-05-01T10:00:05.1234567Z shell: /usr/bin/bash -e {0}
    2024-05-01T10:00:05.1234567Z ##[endgroup]
    2024-05-01T10:00:09.0000000Z FAILED tests/test_cart.py::test_total - assert 3 == 4
    2024-05-01T10:00:09.1000000Z ##[error]Process completed with exit code 1.

The excerpt names the failing step (the step holding the first `##[error]`), then shows that
step's error lines with a little context, then the step's last lines, with `…` where lines
were left out. It never exceeds `max_chars`. A log with no steps (any CI but Actions) is one
step with no name; one with no error lines gives its last lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# `2024-05-01T10:00:05.1234567Z ` at the start of every line of a raw Actions log.
_TIMESTAMP = re.compile(r"^\ufeff?\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_STEP_START = re.compile(r"^##\[group\]\s*(?P<name>Run .*|Post Run .*)$")
_GROUP = re.compile(r"^##\[group\]\s*(?P<name>.*)$")
# The runner's own clean-up after the steps: a step of its own, not the failing step's output.
_CLEANUP = re.compile(r"^(?:Post job cleanup\.|Cleaning up orphan processes)$")
_NOISE = re.compile(r"^##\[(?:endgroup|debug|command)\]|^##\[group\]\s*$")
# What error lines look like across the usual tools: Actions' own annotations, Python, pytest,
# JavaScript test runners, compilers, make, Go, Rust, npm.
_ERROR_LINE = re.compile(
    r"##\[error\]"
    r"|\b(?:Error|ERROR|FAILED|FAIL|FAILURE|Failed|Traceback|Exception|panic(?:ked)?|fatal)\b[:!\s]"
    r"|\berror(?:\[\w+\])?:"
    r"|^\s*E\s{2,}"  # pytest's assertion detail lines
    r"|npm ERR!"
    r"|\bAssertionError\b"
    r"|^make(?:\[\d+\])?: \*\*\*"
)
# Failure reports whose detail comes in the lines after: a Python traceback's frames, a Jest
# failure's expected/received block.
_BLOCK_START = re.compile(r"^\s*(?:Traceback \(most recent call last\)|● )")

CONTEXT_BEFORE = 2
CONTEXT_AFTER = 3
BLOCK_AFTER = 12
TAIL_LINES = 25
MAX_LINE_CHARS = 400
MAX_ERROR_WINDOWS = 200  # a log where every line says "error" still costs little to excerpt
GAP = "…"
STEP_HEADER = "Failing step: "


@dataclass(frozen=True)
class _Step:
    name: str
    lines: list[str]


def clean(log_text: str) -> list[str]:
    """The log's lines without Actions timestamps, terminal escapes or control characters."""
    text = log_text.replace("\r\n", "\n").replace("\r", "\n")
    lines = []
    for raw in text.split("\n"):
        line = _TIMESTAMP.sub("", raw, count=1)
        line = _CONTROL.sub("", _ANSI.sub("", line)).rstrip()
        lines.append(line)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def failing_step(lines: list[str]) -> _Step:
    """The step that holds the first `##[error]` line (or the last step, or the whole log).

    A step runs from its `##[group]Run ...` line to the next one; the group's own lines (the
    command and its environment) are kept out of the step's output.
    """
    steps: list[_Step] = []
    current = _Step("", [])
    in_header = False
    header: list[str] = []

    def unclosed_header() -> None:
        # A group that never closed (a log cut short, a runner that logs oddly): what followed
        # its opening line was the step's output after all.
        if in_header:
            current.lines.extend(header)

    for line in lines:
        start = _STEP_START.match(line)
        if start:
            unclosed_header()
            header = []
            current = _Step(start["name"], [])
            steps.append(current)
            in_header = True
            continue
        if _CLEANUP.match(line) and not in_header:
            current = _Step(line.rstrip("."), [line])
            steps.append(current)
            continue
        if in_header:
            if line.startswith("##[endgroup]"):
                in_header = False
            else:
                header.append(line)
            continue
        if not steps:
            steps.append(current)  # lines before any step: the job's set-up
        current.lines.append(line)
    unclosed_header()
    if not steps:
        return _Step("", [])
    for step in steps:
        if any(line.startswith("##[error]") for line in step.lines):
            return step
    real = [step for step in steps if not (step.lines and _CLEANUP.match(step.lines[0]))]
    return (real or steps)[-1]


def excerpt(log_text: str, max_chars: int = 4000, redact: Callable[[str], str] | None = None) -> str:
    """At most `max_chars` characters saying where and how the job failed.

    `redact` takes secrets out of the whole log first: cut by the excerpt, a secret would no
    longer match its shape and half of it would get through."""
    if max_chars <= 0:
        return ""
    if redact is not None:
        log_text = redact(log_text)
    step = failing_step(clean(log_text))
    lines = [_cut(_show(line), MAX_LINE_CHARS) for line in step.lines if not _NOISE.match(line)]
    header = f"{STEP_HEADER}{step.name}\n" if step.name else ""
    if not lines:
        return _cut(header.rstrip("\n"), max_chars)
    budget = max_chars - len(header)
    chosen = _choose(lines, budget)
    return _cut(header + _render(lines, chosen), max_chars)


def shorten(text: str, max_chars: int) -> str:
    """An excerpt made to fit a smaller budget (its share of a message about several checks):
    the failing step's line kept, and the same choice over the rest — errors with their
    context first, earliest first, then the last lines."""
    if len(text) <= max_chars:
        return text
    if max_chars <= 0:
        return ""
    lines = text.split("\n")
    header = ""
    if lines[0].startswith(STEP_HEADER):
        header, lines = _cut(lines[0], max_chars) + "\n", lines[1:]
    budget = max_chars - len(header)
    if budget <= 0:
        return _cut(header.rstrip("\n"), max_chars)
    shown = _render(lines, _choose(lines, budget))
    # A gap next to a gap the excerpt already had is one gap.
    shown = re.sub(rf"(?:^|(?<=\n)){GAP}(?:\n{GAP})+(?=\n|$)", GAP, shown)
    return _cut(header + shown, max_chars)


def _choose(lines: list[str], budget: int) -> set[int]:
    """Indices of the lines to show: the tail first, then error lines with context, earliest
    first (the first error is usually the cause, the later ones its consequences)."""
    chosen: set[int] = set()
    tail = list(range(max(0, len(lines) - TAIL_LINES), len(lines)))
    # The tail must leave room for errors: it may use at most half the budget.
    for index in reversed(tail):
        if _size(lines, chosen | {index}) > budget // 2 and chosen:
            break
        chosen.add(index)
    for window in _error_windows(lines)[:MAX_ERROR_WINDOWS]:
        if budget - _size(lines, chosen) < 2 * len(GAP) + 20:
            break  # full: the rest could not show anything useful
        candidate = chosen | window
        if _size(lines, candidate) <= budget:
            chosen = candidate
            continue
        # Not the whole window: at least the error line itself, if it fits.
        core = min(window, key=lambda i: (not _ERROR_LINE.search(lines[i]), i))
        if _size(lines, chosen | {core}) <= budget:
            chosen.add(core)
    # Room left over: give the tail back what it gave up.
    for index in reversed(tail):
        if index not in chosen and _size(lines, chosen | {index}) <= budget:
            chosen.add(index)
    return chosen


def _error_windows(lines: list[str]) -> list[set[int]]:
    windows: list[set[int]] = []
    for index, line in enumerate(lines):
        block = _BLOCK_START.match(line)
        if not (block or _ERROR_LINE.search(line)):
            continue
        after = BLOCK_AFTER if block else CONTEXT_AFTER
        start, stop = max(0, index - CONTEXT_BEFORE), min(len(lines), index + after + 1)
        windows.append(set(range(start, stop)))
    return windows


def _render(lines: list[str], chosen: set[int]) -> str:
    out: list[str] = []
    previous = -1
    for index in sorted(chosen):
        if index != previous + 1:
            out.append(GAP)
        out.append(lines[index])
        previous = index
    return "\n".join(out)


def _size(lines: list[str], chosen: set[int]) -> int:
    return len(_render(lines, chosen))


def _show(line: str) -> str:
    # A nested group inside the step (`##[group]Collecting ...`) reads as its title.
    group = _GROUP.match(line)
    return group["name"] if group else line


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + GAP
