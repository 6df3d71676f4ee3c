"""The cost ledger: `ledger/cost-YYYY-MM.jsonl`, append-only, one line per priced batch; it
outlives sessions. Read whole, a line torn by a crash skipped.

May import: aod.store.state, msgspec.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

import msgspec

from aod.store.state import StateDir, operation

LEDGER_DIR: Final = "ledger"


class CostLedger:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    def _path(self, month: str) -> Path:
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
            raise ValueError(f"invalid month {month!r}: use YYYY-MM")
        return self.state.root / LEDGER_DIR / f"cost-{month}.jsonl"

    @operation("append_cost")
    def append(self, month: str, entries: list[dict[str, Any]]) -> None:
        path = self._path(month)
        if entries:
            with self.state.lock_for(f"cost:{month}"):
                self.state.append(path, entries)

    @operation("read_cost")
    def read(self, month: str) -> list[dict[str, Any]]:
        """Every entry of the month's ledger, in order; a line torn by a crash is skipped."""
        try:
            data = self.state.read(self._path(month))
        except FileNotFoundError:
            return []
        entries = []
        for line in data.split(b"\n"):
            try:
                entry = msgspec.json.decode(line) if line.strip() else None
            except msgspec.DecodeError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries
