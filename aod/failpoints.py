"""Fault injection for the crash tests: `AOD_FAILPOINTS=name[,name...]` makes aod die (SIGKILL
itself, as a power cut would) the first time it reaches a named point.

The points: `after-intent` (intents written, nothing done yet), `before-intent-closed` (an
action done, its intent still pending), `reaction-pasted` (a reaction's message pasted into the
agent, the delivery not yet recorded), `intake-noted` (an issue written in the intake ledger,
its spawn not started), `intake-spawned` (the worker started, the ledger not yet told),
`review-started` (a reviewer session started, its `start-review` intent still pending).

Each point fires once: a marker file `$AOD_FAILPOINTS_DIR/<name>` is written first, so the
restarted aod passes the point. Off, and free, unless both variables are set.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

_ENABLED = frozenset(filter(None, os.environ.get("AOD_FAILPOINTS", "").split(",")))
_DIR = os.environ.get("AOD_FAILPOINTS_DIR")


async def failpoint(name: str) -> None:
    if name not in _ENABLED or not _DIR:
        return
    marker = Path(_DIR) / name
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text("fired\n")
    os.kill(os.getpid(), signal.SIGKILL)
