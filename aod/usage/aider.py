"""aider chat histories (`<workspace>/.aider.chat.history.md`).

aider appends its tool output to the history as Markdown quote lines. After each reply it writes
a line such as

    > Tokens: 16k sent, 516 received. Cost: $0.05 message, $0.05 session.
    > Tokens: 12k sent, 1.1k cache write, 9.8k cache hit, 320 received. Cost: $0.02 message, ...
    > Tokens: 730 sent, 895 received.

(the cost is left out when aider knows no price for the model). Counts are rounded the way aider
prints them ("2.3k", "16k"; "M" is accepted too), so the tokens here are approximate; the cost
is aider's own per-message figure (itself rounded to two decimals from $0.01 up) and is used as
is. `sent` is taken as printed for `input_tokens`: whether aider's figure includes the cache
counts depends on the provider, which only matters when aider printed no cost.

Each run starts with `# aider chat started at <time>` and announces its model on a line
`> Main model: <name> with ...` (`> Model: <name> ...` / `> Models: <name> ...` in some
versions). A usage's key is that start time plus the reply's ordinal within the run.
"""

from __future__ import annotations

import re

import msgspec

from aod.usage import LineReader, Usage

_STARTED = re.compile(r"^#\s+aider chat started at\s+(?P<at>.+?)\s*$")
_MODEL = re.compile(r"^>\s*(?:Main model|Models?):\s*(?P<model>\S+)")
_TOKENS = re.compile(r"^>\s*Tokens:\s*(?P<rest>.*)$")
_ITEM = re.compile(
    r"(?P<num>\d[\d,]*(?:\.\d+)?)\s*(?P<unit>[kKmM])?\s+"
    r"(?P<what>sent|received|cache write|cache hit)\b"
)
_MESSAGE_COST = re.compile(r"Cost:\s*\$\s*(?P<cost>\d[\d,]*(?:\.\d+)?)\s+message")
_ORDINAL = "aider.replies"


class AiderReader(LineReader):
    def feed(self, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace").rstrip()
        if not text:
            return
        cursor = self.batch.cursor
        if text.startswith("#"):
            started = _STARTED.match(text)
            if started:
                cursor.context["session"] = started.group("at")
                cursor.last_total[_ORDINAL] = 0
            return
        if not text.startswith(">"):
            return
        model = _MODEL.match(text)
        if model:
            cursor.context["model"] = model.group("model")
            return
        tokens = _TOKENS.match(text)
        if tokens is None:
            return
        usage = parse_tokens_line(tokens.group("rest"), cursor.context.get("model", ""))
        if usage is None:
            return
        ordinal = cursor.last_total.get(_ORDINAL, 0) + 1
        cursor.last_total[_ORDINAL] = ordinal
        session = cursor.context.get("session", "")
        self.batch.emit(msgspec.structs.replace(usage, key=f"{session}#{ordinal}"))


def parse_tokens_line(rest: str, model: str) -> Usage | None:
    """The usage in the text after `Tokens:`; None when it names no sent/received counts."""
    head, _, cost_part = rest.partition("Cost:")
    found: dict[str, int] = {}
    for item in _ITEM.finditer(head):
        found[item.group("what")] = parse_count(item.group("num"), item.group("unit"))
    if "sent" not in found and "received" not in found:
        return None
    cost = _MESSAGE_COST.search("Cost:" + cost_part) if cost_part else None
    return Usage(
        model=model,
        input_tokens=found.get("sent", 0),
        output_tokens=found.get("received", 0),
        cache_read_tokens=found.get("cache hit", 0),
        cache_write_tokens=found.get("cache write", 0),
        reported_cost_usd=float(cost.group("cost").replace(",", "")) if cost else None,
    )


def parse_count(number: str, unit: str | None) -> int:
    """`2.3` + `k` → 2300; `1,134` → 1134; `1.2` + `M` → 1200000."""
    value = float(number.replace(",", ""))
    scale = {"k": 1_000, "m": 1_000_000}.get((unit or "").lower(), 1)
    return int(round(value * scale))

