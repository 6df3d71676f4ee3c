"""Codex CLI rollouts (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread>.jsonl`).

Measured on 0.169.0: each line is `{timestamp, ordinal, type, payload}`. Two kinds carry usage:

- `token_usage_record`: `{response_id, usage, turn_token_usage, thread_token_usage}`, one per
  model response (preferred: it has a key);
- `event_msg` with `payload.type == "token_count"`: `info.total_token_usage`, the thread's running
  total (the fallback: its growth is counted).

Each usage object has `input_tokens, cached_input_tokens, cache_write_input_tokens,
output_tokens, reasoning_output_tokens, total_tokens`. The model comes from `turn_context`
(and `session_meta`) lines and is remembered in the cursor.

OpenAI's convention is that `input_tokens` counts the whole prompt, cached part included, and
`output_tokens` includes reasoning. So here `Usage.input_tokens = input_tokens -
cached_input_tokens - cache_write_input_tokens` (never below 0), `cache_read_tokens =
cached_input_tokens`, `cache_write_tokens = cache_write_input_tokens`, `output_tokens =
output_tokens` and `reasoning_tokens = reasoning_output_tokens` (informational).

Both sources describe the same tokens, so they are reconciled through one running total
(`cursor.last_total`, the highest thread total counted): a `token_count` counts only what its
total grew past it, and a `token_usage_record` counts its own usage but no more than the thread
total grew past it (when the record carries `thread_token_usage`). Whichever line comes first,
nothing is counted twice. Within one call, records are taken before `token_count` events, so
usage is attributed to keyed records when both are there.
"""

from __future__ import annotations

import json
from typing import Any

from aod.usage import LineReader, Usage, count

FIELDS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)
_MARKERS = (b'"token_usage_record"', b'"token_count"', b'"turn_context"', b'"session_meta"')


class CodexReader(LineReader):
    def __init__(self, batch: Any) -> None:
        super().__init__(batch)
        self._totals: list[tuple[dict[str, int], str]] = []
        """token_count totals of this call with the model in effect, taken after the records."""

    @property
    def _model(self) -> str:
        return self.batch.cursor.context.get("model", "")

    def feed(self, line: bytes) -> None:
        if not any(marker in line for marker in _MARKERS):
            return
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, ValueError):
            return
        if not isinstance(record, dict):
            return
        kind = record.get("type")
        payload = record.get("payload")
        if not isinstance(payload, dict):
            payload = record
        if kind in ("turn_context", "session_meta"):
            model = payload.get("model")
            if isinstance(model, str) and model:
                self.batch.cursor.context["model"] = model
        elif kind == "token_usage_record":
            self._record(payload)
        elif kind == "event_msg" and payload.get("type") == "token_count":
            info = payload.get("info")
            total = info.get("total_token_usage") if isinstance(info, dict) else None
            if isinstance(total, dict):
                self._totals.append((_fields(total), self._model))

    def _record(self, payload: dict[str, Any]) -> None:
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            return
        response_id = payload.get("response_id")
        key = response_id if isinstance(response_id, str) else ""
        if self.batch.is_seen(key):
            return
        model = payload.get("model")
        model = model if isinstance(model, str) and model else self._model
        amount = _fields(usage)
        last = self.batch.cursor.last_total
        thread = payload.get("thread_token_usage")
        if isinstance(thread, dict):
            grown = _fields(thread)
            amount = {f: min(amount[f], max(0, grown[f] - last.get(f, 0))) for f in FIELDS}
            for f in FIELDS:
                last[f] = max(last.get(f, 0), grown[f])
        else:
            for f in FIELDS:
                last[f] = last.get(f, 0) + amount[f]
        self.batch.emit(_usage(amount, model, key))

    def close(self) -> None:
        last = self.batch.cursor.last_total
        for total, model in self._totals:
            delta = {f: max(0, total[f] - last.get(f, 0)) for f in FIELDS}
            for f in FIELDS:
                last[f] = max(last.get(f, 0), total[f])
            if any(delta.values()):
                key = "total:" + ":".join(str(total[f]) for f in FIELDS)
                self.batch.emit(_usage(delta, model, key))


def _fields(obj: dict[str, Any]) -> dict[str, int]:
    return {f: count(obj.get(f)) for f in FIELDS}


def _usage(amount: dict[str, int], model: str, key: str) -> Usage:
    cached = amount["cached_input_tokens"]
    written = amount["cache_write_input_tokens"]
    return Usage(
        model=model,
        input_tokens=max(0, amount["input_tokens"] - cached - written),
        output_tokens=amount["output_tokens"],
        cache_read_tokens=cached,
        cache_write_tokens=written,
        reasoning_tokens=amount["reasoning_output_tokens"],
        key=key,
    )
