"""`projects.NAME.overlap` and `projects.NAME.checkpoints` (issue 19): overlap warnings between
live sessions, and the per-turn checkpoints of each session's worktree.

One job: these sections' models. May import: pydantic and this package's `fields`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from aod.config.fields import Integer, Section


class OverlapConfig(Section):
    """`projects.NAME.overlap`: what aod does when two live sessions change the same files (it
    always shows it in status and notifies once per pair)."""

    # Also tell the later session (the one spawned later), once per overlap, which files the
    # other session is changing (a message through its outbox).
    tell_agent: bool = False


class CheckpointConfig(Section):
    """`projects.NAME.checkpoints`: a snapshot of the worktree at each finished agent turn
    (`refs/ao/checkpoints/<id>/<n>`)."""

    # Checkpoints kept per session, oldest pruned first; 0: no checkpoints at finished turns
    # (`aoctl rollback` still makes the one it needs).
    keep: Annotated[Integer, Field(ge=0, le=1000)] = 50
