"""Claude Code transcripts (`~/.claude/projects/<folder>/<sessionId>.jsonl`).

Measured on 2.1.197: an `assistant` line carries `message{id, model, usage}` and `requestId`.
One API response is written as one line per content block (text, then tool_use), and every one
of those lines repeats the same `message.id`, `requestId` and full `message.usage`, so each
response is counted once, by `message.id` (falling back to `requestId`). `usage` holds
`input_tokens` (not including the cache), `output_tokens`, `cache_creation_input_tokens`,
`cache_read_input_tokens` and `cache_creation{ephemeral_5m_input_tokens,
ephemeral_1h_input_tokens}`. The transcript carries no cost.
"""

from __future__ import annotations

import json
from typing import Any

from aod.usage import LineReader, Usage, count


class ClaudeReader(LineReader):
    """Repeats of one message within a call are merged (largest count of each field, in case a
    line was written before the response's final usage); a key counted in an earlier call is
    not counted again."""

    def __init__(self, batch: Any) -> None:
        super().__init__(batch)
        self._pending: dict[str, Usage] = {}
        self._order: list[Usage | str] = []

    def feed(self, line: bytes) -> None:
        if b'"assistant"' not in line or b'"usage"' not in line:
            return
        usage = parse_line(line)
        if usage is None:
            return
        if not usage.key:
            self._order.append(usage)
            return
        if self.batch.is_seen(usage.key):
            return
        known = self._pending.get(usage.key)
        if known is None:
            self._pending[usage.key] = usage
            self._order.append(usage.key)
        else:
            self._pending[usage.key] = _merge(known, usage)

    def close(self) -> None:
        for item in self._order:
            self.batch.emit(self._pending[item] if isinstance(item, str) else item)


def parse_line(line: bytes) -> Usage | None:
    """The usage of one transcript line, or None when it is not an assistant line with usage."""
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("type") != "assistant":
        return None
    message = record.get("message")
    if not isinstance(message, dict):
        return None
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return None
    model = message.get("model")
    key = _first_str(message.get("id"), record.get("requestId"))
    creation = usage.get("cache_creation")
    one_hour = count(creation.get("ephemeral_1h_input_tokens")) if isinstance(creation, dict) else 0
    write = count(usage.get("cache_creation_input_tokens"))
    return Usage(
        model=model if isinstance(model, str) else "",
        input_tokens=count(usage.get("input_tokens")),
        output_tokens=count(usage.get("output_tokens")),
        cache_read_tokens=count(usage.get("cache_read_input_tokens")),
        cache_write_tokens=write,
        cache_write_1h_tokens=min(one_hour, write),
        key=key,
    )


def _first_str(*values: object) -> str:
    for value in values:
        if isinstance(value, str) and value:
            return value
    return ""


def _merge(a: Usage, b: Usage) -> Usage:
    return Usage(
        model=a.model or b.model,
        input_tokens=max(a.input_tokens, b.input_tokens),
        output_tokens=max(a.output_tokens, b.output_tokens),
        cache_read_tokens=max(a.cache_read_tokens, b.cache_read_tokens),
        cache_write_tokens=max(a.cache_write_tokens, b.cache_write_tokens),
        cache_write_1h_tokens=max(a.cache_write_1h_tokens, b.cache_write_1h_tokens),
        key=a.key,
    )
