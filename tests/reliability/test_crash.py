"""R1: aod SIGKILLed at random moments while sessions are spawned, messaged and killed.

A driver thread runs a seeded random stream of `aoctl spawn`, `aoctl send` and `aoctl kill`;
the test SIGKILLs aod at a random moment of each round (the driver's call in flight fails),
restarts it on the same state dir, and checks after every restart:

- every JSON file in the state dir decodes (session records as aod's Session) and nothing was
  quarantined: no write was torn;
- every session whose spawn was answered is still there, and the ones not killed still work;
- every message whose `aoctl send` was answered reaches its agent exactly once, also when the
  SIGKILL cut its delivery in half (the journal shows `delivery.started` without
  `delivery.done`: aod finds the message on the agent's screen and does not paste it again),
  and no message that was tried reaches an agent twice.

`AOD_SOAK=1` runs 25 rounds instead of 4; `AOD_SEED=N` replays a run's choices (thread timing
still varies).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.reliability.conftest import quarantined, soak, undecodable_json
from tests.support.aod_process import wait_for
from tests.support.fleet import Fleet

ROUNDS = soak(4, 25)
MAX_LIVE = 3
POLL_INTERVAL = "200ms"  # ticks all the time: each restart's re-adoption races the driver


@dataclass
class Ledger:
    """What aod acknowledged (its reply arrived), and what the test merely tried."""

    spawned: list[str] = field(default_factory=list)
    kill_tried: set[str] = field(default_factory=set)
    acked: dict[tuple[str, int], str] = field(default_factory=dict)
    """(session, outbox seq) -> text, for every `aoctl send` that was answered."""
    tried: set[str] = field(default_factory=set)
    interrupted: set[tuple[str, int]] = field(default_factory=set)
    """Deliveries a SIGKILL cut in half (started, not done): said in a failure's message."""
    ops: int = 0

    def live(self) -> list[str]:
        return [s for s in self.spawned if s not in self.kill_tried]


def drive(fleet: Fleet, rng: random.Random, ledger: Ledger, round_no: int, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        live = ledger.live()
        roll = rng.random()
        if len(live) < 1 or (len(live) < MAX_LIVE and roll < 0.2):
            result = fleet.aod.aoctl("--json", "spawn", "--task", f"task of round {round_no} op {n}")
            if result.returncode == 0:
                ledger.spawned.append(json.loads(result.stdout)["id"])
        elif len(live) >= 2 and roll < 0.35:
            victim = rng.choice(live)
            ledger.kill_tried.add(victim)
            fleet.aod.aoctl("--json", "kill", victim)
        else:
            target = rng.choice(live)
            text = f"r{round_no}-m{n} " + ("multi\nline " if rng.random() < 0.3 else "") + "x" * rng.randint(3, 300)
            ledger.tried.add(text)
            result = fleet.aod.aoctl("--json", "send", target, text)
            if result.returncode == 0:
                ledger.acked[(target, json.loads(result.stdout)["seq"])] = text
        n += 1
        ledger.ops += 1


def half_done_deliveries(fleet: Fleet, session_id: str) -> set[int]:
    """Outbox seqs whose delivery the journal shows started and not done (aod is down)."""
    path = fleet.aod.state_dir / "sessions" / session_id / "journal.jsonl"
    if not path.exists():
        return set()
    started, done = set(), set()
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line torn by the SIGKILL; aod's readers skip it too
        if entry.get("kind") == "delivery.started":
            started.add(entry.get("seq"))
        elif entry.get("kind") == "delivery.done":
            done.add(entry.get("seq"))
    return started - done


def check_after_restart(fleet: Fleet, ledger: Ledger, context: str) -> None:
    sessions = {s["id"]: s for s in fleet.aod.result("session.list")["sessions"]}
    lost = [sid for sid in ledger.spawned if sid not in sessions]
    assert not lost, f"{context}: sessions lost: {lost}"
    for sid in ledger.live():
        assert sessions[sid]["state"] == "working", f"{context}: {sid} is {sessions[sid]['state']}: {sessions[sid]['reason']}"
    expected = {(sid, seq): text for (sid, seq), text in ledger.acked.items() if sid not in ledger.kill_tried}

    def arrived(sid: str, text: str) -> bool:
        return any(text in message for message in fleet.received(sid))

    try:
        wait_for(lambda: all(arrived(sid, text) for (sid, _), text in expected.items()), 60, "every acknowledged message")
    except AssertionError as exc:
        missing = [(sid, text[:20]) for (sid, _), text in expected.items() if not arrived(sid, text)]
        raise AssertionError(f"{context}: {exc}: missing {missing}\n{fleet.aod.log()[-3000:]}") from None
    for (sid, seq), text in expected.items():
        received = fleet.received(sid)
        cut = " (its delivery was cut short by the SIGKILL)" if (sid, seq) in ledger.interrupted else ""
        assert received.count(text) == 1, f"{context}: {sid} got {text[:30]!r} {received.count(text)} times{cut}: {received}"
    for sid in ledger.spawned:
        received = fleet.received(sid)
        for text in ledger.tried:
            assert received.count(text) <= 1, f"{context}: {sid} got {text[:30]!r} {received.count(text)} times"


def test_sigkill_at_random_moments_loses_no_session_and_no_message(make_fleet: Callable[..., Fleet]) -> None:
    seed = int(os.environ.get("AOD_SEED", "0")) or random.randrange(1, 1 << 30)
    rng = random.Random(seed)
    # A message a crash left half-pasted in the agent's input keeps the agent off its prompt;
    # aod goes on after ready_timeout, and a short one keeps the test short.
    fleet = make_fleet(poll_interval=POLL_INTERVAL, ready_timeout="3s")
    ledger = Ledger()
    for round_no in range(ROUNDS):
        context = f"seed {seed} (AOD_SEED={seed} replays it), round {round_no}"
        stop = threading.Event()
        driver = threading.Thread(
            target=drive, args=(fleet, random.Random(rng.random()), ledger, round_no, stop), daemon=True
        )
        ops_before = ledger.ops
        ops = rng.randint(1, 4)
        driver.start()
        # The moment of the crash: after a random number of operations, plus a random part of
        # the next one (this picks the moment; nothing is being waited for).
        wait_for(lambda: ledger.ops >= ops_before + ops or not driver.is_alive(), 120, "the driver's operations")
        time.sleep(rng.uniform(0, 0.5))
        assert fleet.aod.proc is not None
        fleet.aod.proc.kill()
        fleet.aod.proc.wait()
        stop.set()
        driver.join(120)
        assert not driver.is_alive(), context
        torn = undecodable_json(fleet.aod.state_dir)
        assert not torn, f"{context}: {torn}"
        for sid in ledger.spawned:
            ledger.interrupted |= {(sid, seq) for seq in half_done_deliveries(fleet, sid)}
        fleet.aod.start()
        check_after_restart(fleet, ledger, context)
        assert not quarantined(fleet.aod.state_dir), f"{context}: {quarantined(fleet.aod.state_dir)}"
    assert ledger.spawned and ledger.acked, f"seed {seed}: the run did too little to prove anything"
