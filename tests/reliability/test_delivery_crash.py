"""R9: aod SIGKILLed in the middle of deliveries, over and over: no reaction and no message is lost
or doubled (issue 12: "zero lost reactions over 100 random SIGKILLs").

Two sessions get messages all the time:
- `nudged` (the scripted agent drawing Claude Code's screens, told to `/fake hang`): the
  `agent-stuck` reaction nudges it with a send-to-agent message after every second without
  progress — each nudge a reaction with its own marker, so reactions are delivered constantly;
- `told` (a plain custom agent): multi-line `aoctl send` messages from a driver thread.

Each round the test waits until a delivery has started (its `delivery.started` is in a journal;
every other round a reaction's, the others a message's) and SIGKILLs aod a random 0-300 ms later — between paste and Enter, during the Enter presses, or
just after — then restarts it. At the end every send-to-agent intent's message reached its agent
exactly once (or was given up and told to a person: `delivery.failed`, never silently), and every
acknowledged `aoctl send` message exactly once.

Normal run: 4 kills. `AOD_SOAK=1`: 100.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.reliability.conftest import soak
from tests.support.aod_process import wait_for
from tests.support.fleet import Fleet

KILLS = soak(4, 100)
REACTIONS = """\
reactions:
  agent-stuck: {action: send-to-agent, threshold: 1s, retries: 100, message: "NUDGE: still there?\\nPlease say what blocks you."}
"""




def in_flight(fleet: Fleet, sessions: list[str]) -> bool:
    """A delivery started and not finished, in any of the sessions' journals."""
    for sid in sessions:
        started: set[int] = set()
        for entry in fleet.journal(sid):
            if entry.get("kind") == "delivery.started":
                started.add(entry["seq"])
            elif entry.get("kind") in ("delivery.done", "delivery.failed"):
                started.discard(entry["seq"])
        if started:
            return True
    return False


def drive(fleet: Fleet, sid: str, rng: random.Random, acked: dict[int, str], stop: threading.Event, round_no: int) -> None:
    n = 0
    while not stop.is_set():
        text = f"message {n} of round {round_no}\n" + "\n".join(f"  detail {k}: " + "x" * rng.randint(1, 80) for k in range(rng.randint(0, 6)))
        result = fleet.aod.aoctl("--json", "send", sid, text)
        if result.returncode == 0:
            acked[json.loads(result.stdout)["seq"]] = text
        n += 1
        stop.wait(rng.uniform(0.2, 1.0))


def marker_of(fingerprint: str) -> str:
    from aod.reactions import marker

    return marker(fingerprint)


def test_sigkill_during_deliveries_loses_and_doubles_nothing(make_fleet: Callable[..., Fleet], tmp_path: Path) -> None:
    seed = int(os.environ.get("AOD_SEED", "0")) or random.randrange(1, 1 << 30)
    rng = random.Random(seed)
    fleet = make_fleet(REACTIONS, ready_timeout="2s")
    nudged = fleet.ok("spawn", "--agent", "claude-code", "--task", "/fake hang")["id"]
    told = fleet.ok("spawn", "--task", "wait for my messages")["id"]
    wait_for(lambda: fleet.received(nudged) and fleet.received(told), 30, "both first prompts")
    acked: dict[int, str] = {}
    kills = 0
    while kills < KILLS:
        context = f"seed {seed} (AOD_SEED={seed} replays it), kill {kills + 1}"
        stop = threading.Event()
        driver = threading.Thread(target=drive, args=(fleet, told, random.Random(rng.random()), acked, stop, kills), daemon=True)
        driver.start()
        # Every other kill lands in a reaction's delivery, the others in the driver's messages.
        target = [nudged] if kills % 2 == 0 else [told]
        try:
            wait_for(lambda: in_flight(fleet, target), 60, "a delivery in flight")
        except AssertionError as exc:
            raise AssertionError(f"{context}: {exc}\n{fleet.aod.log()[-3000:]}") from None
        time.sleep(rng.uniform(0, 0.3))  # picks the moment of the crash; nothing is waited for
        assert fleet.aod.proc is not None
        fleet.aod.proc.kill()
        fleet.aod.proc.wait()
        kills += 1
        stop.set()
        driver.join(60)
        fleet.aod.start()

    # Let everything that was queued or half-done finish.
    def settled() -> bool:
        return not in_flight(fleet, [nudged, told]) and fleet.session(told)["pending_messages"] == 0

    wait_for(settled, 120, "the outboxes to drain")
    context = f"seed {seed} (AOD_SEED={seed} replays it), after {kills} kills"

    # Reactions: each send-to-agent intent reached the agent once, or a person was told.
    entries = fleet.journal(nudged)
    intents = {e["fingerprint"] for e in entries if e.get("kind") == "reaction.intent" and e.get("action") == "send-to-agent"}
    failed = {e.get("fingerprint") for e in entries if e.get("kind") == "delivery.failed"}
    received = fleet.received(nudged)
    assert intents, f"{context}: no reaction was decided; the test proved nothing"
    for fingerprint in intents:
        tag = marker_of(fingerprint)
        wait_for(lambda: any(tag in m for m in fleet.received(nudged)) or fingerprint in failed, 60, f"reaction {tag}")
        received = fleet.received(nudged)
        count = sum(tag in m for m in received)
        assert count == 1 or (count == 0 and fingerprint in failed), f"{context}: reaction {tag} arrived {count} times"
    # Messages: each acknowledged one exactly once.
    received = fleet.received(told)
    for seq, text in acked.items():
        assert received.count(text) == 1, f"{context}: message {seq} arrived {received.count(text)} times"
    lost = [e for s in (nudged, told) for e in fleet.journal(s) if e.get("kind") == "delivery.failed"]
    print(f"\nR9 {context}: {len(intents)} reactions, {len(acked)} messages, {len(lost)} given up and told")
