"""Shared pieces of the reliability tests (docs/reliability.md).

Normal mode keeps every test to seconds or tens of seconds; `AOD_SOAK=1` turns the knobs up
(more crash rounds, more requests, more fuzz examples). `AOD_SEED=<int>` replays a crash run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.support.aod_process import AodProcess
from tests.support.fleet import Fleet, config_text, make_repo
from tests.support.tmux import tmux_server

SOAK = os.environ.get("AOD_SOAK") == "1"


def soak(normal: int, long: int) -> int:
    return long if SOAK else normal


@pytest.fixture
def make_fleet(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Callable[..., Fleet]]:
    """make_fleet(extra_config="", poll_interval="200ms", ready_timeout="20s", **aod_kwargs): a
    running aod with its own tmux server, the scripted agent as `fake` (and as `claude-code`),
    and a git repo registered as `demo`."""
    with tmux_server() as tmux:
        made = 0

        def make(extra: str = "", poll_interval: str = "200ms", ready_timeout: str = "20s", **kwargs: Any) -> Fleet:
            nonlocal made
            made += 1
            aod = make_aod(**kwargs)
            records = aod.root / "records"
            records.mkdir()
            text = config_text(tmux, records, extra, ready_timeout=ready_timeout)
            aod.write_config(text.replace("poll_interval: 200ms\n", f"poll_interval: {poll_interval}\n"))
            aod.start()
            fleet = Fleet(aod, tmux, make_repo(tmp_path / f"demo{made}"))
            fleet.ok("project", "add", str(fleet.repo), "--name", "demo")
            return fleet

        yield make


def undecodable_json(state_dir: Path) -> list[str]:
    """Every *.json under the state dir that does not decode, with why; session records are
    also decoded as aod's own Session type. Quarantined files are not looked at."""
    from aod.model import Session

    bad = []
    for path in sorted(state_dir.rglob("*.json")):
        if "quarantine" in path.relative_to(state_dir).parts:
            continue
        data = path.read_bytes()
        try:
            if path.name == "session.json":
                msgspec.json.decode(data, type=Session)
            else:
                msgspec.json.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            bad.append(f"{path.relative_to(state_dir)}: {exc} ({len(data)} bytes)")
    return bad


def quarantined(state_dir: Path) -> list[str]:
    directory = state_dir / "quarantine"
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []
