"""PURE: overlap warnings and the finished-turn rule (issue 19).

From each live session's changed paths (its branch's commits since the merge-base with its base
branch, plus what is uncommitted: staged, unstaged, untracked-not-ignored), which pairs of
sessions of one project change the same files; what each session's record should now say of
them (`Session.overlaps`); and the actions that tell people (and, optionally, the later agent)
once per pair.

Exactly once, across restarts: an overlap gets `since` (when it was first seen) on both
sessions' records, and the LATER session's entry carries `notice_due` until its notice is in the
later session's reaction ledger. The notice's fingerprint is
`<later>:overlap:<earlier>@<since>:notify`, and the reactor writes an intent only for a
fingerprint its ledger does not hold, so a crash between the two writes tells nobody twice. A
pair that stops overlapping (one side reverted the file, or ended) loses its entry; if it
overlaps again later, that is a new `since` and so a new notice: people hear of each episode.

A session whose paths are not known this tick (git failed, not looked at yet) changes nothing:
its overlaps stay as they were, neither resolved nor new.

No I/O, no clock (`now` is an argument), no plugin imports.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from aod.facts import Action
from aod.model import Overlap
from aod.reactions import fingerprint, marker

OVERLAP_KEY = "overlap"
"""The reaction key of the notices (ledger entry, intents, journal, notifications)."""
MAX_FILES = 50
"""Files named per overlap on the record and in a notice (`file_count` has the whole count)."""
MAX_TOLD = 200
"""Subjects the ledger entry remembers (beyond the intents the reactor keeps)."""
FINISHED_TURN_FROM = frozenset({"active"})
FINISHED_TURN_TO = frozenset({"idle", "ready"})


@dataclass(frozen=True)
class Changes:
    """One live session's changed paths as the tick knows them."""

    session: str
    created_at: str
    paths: frozenset[str] | None
    """None: not known this tick (its overlaps stay as they were)."""
    group: str | None = None
    """Attempts of one group (best-of-N) work on the same task: they overlap by design, so a
    pair of them is never an overlap."""


def order_key(changes: Changes) -> tuple[str, str]:
    """Earlier sessions first: by when they were spawned, then by id."""
    return (changes.created_at, changes.session)


def pairs(sessions: Sequence[Changes]) -> dict[tuple[str, str], tuple[str, ...]]:
    """(earlier, later) -> the files both change (sorted), for every pair that shares one.

    An inverted index (path -> sessions) keeps it cheap for many sessions with few shared files."""
    ordered = sorted((c for c in sessions if c.paths), key=order_key)
    rank = {c.session: n for n, c in enumerate(ordered)}
    group = {c.session: c.group for c in ordered}
    by_path: dict[str, list[str]] = {}
    for changes in ordered:
        assert changes.paths is not None
        for path in changes.paths:
            by_path.setdefault(path, []).append(changes.session)
    shared: dict[tuple[str, str], list[str]] = {}
    for path, holders in by_path.items():
        if len(holders) < 2:
            continue
        holders.sort(key=rank.__getitem__)
        for i, earlier in enumerate(holders):
            for later in holders[i + 1 :]:
                if group[earlier] is None or group[earlier] != group[later]:
                    shared.setdefault((earlier, later), []).append(path)
    return {pair: tuple(sorted(files)) for pair, files in shared.items()}


def next_overlaps(
    current: Mapping[str, Sequence[Overlap]], sessions: Sequence[Changes], now: str
) -> dict[str, list[Overlap]]:
    """What every session in `sessions` should record as its overlaps now.

    `current`: what their records say (session -> overlaps). Partners that are not in
    `sessions` (ended, another project's) are dropped; pairs with a side whose paths are unknown
    keep their entries unchanged."""
    known = {c.session: c for c in sessions}
    order = {c.session: order_key(c) for c in sessions}
    found = pairs(sessions)
    result: dict[str, list[Overlap]] = {c.session: [] for c in sessions}
    for (earlier, later), files in found.items():
        for me, other in ((earlier, later), (later, earlier)):
            before = _entry(current.get(me, ()), other)
            result[me].append(
                Overlap(
                    session=other,
                    files=list(files[:MAX_FILES]),
                    file_count=len(files),
                    since=before.since if before is not None and before.since else now,
                    notice_due=(before.notice_due if before is not None else True) if me == later else False,
                )
            )
    for me, entries in current.items():
        if me not in known:
            continue
        for entry in entries:
            other = known.get(entry.session)
            if other is None:
                continue  # the partner ended (or is no longer one of these sessions)
            if known[me].paths is None or other.paths is None:
                if _entry(result[me], entry.session) is None:
                    result[me].append(entry)  # not known this tick: nothing changes
    for me in result:
        result[me].sort(key=lambda o: order.get(o.session, ("", o.session)))
    return result


def _entry(entries: Iterable[Overlap], other: str) -> Overlap | None:
    return next((e for e in entries if e.session == other), None)


def notice_subject(overlap: Overlap) -> str:
    return f"{overlap.session}@{overlap.since}"


def notice_actions(later: str, overlap: Overlap, *, tell_agent: bool) -> list[Action]:
    """The actions telling of one overlap, for the LATER session's ledger: a notification, and
    with `tell_agent` a message to the later agent naming the files the other session changes."""
    subject = notice_subject(overlap)
    files = _file_list(overlap)
    actions = [
        Action(
            kind="notify",
            key=OVERLAP_KEY,
            subject=subject,
            fingerprint=fingerprint(later, OVERLAP_KEY, subject, "notify"),
            title=f"{later} and {overlap.session} change the same files",
            message=f"Sessions {overlap.session} and {later} both change {files}.",
            priority="warning",
        )
    ]
    if tell_agent:
        fp = fingerprint(later, OVERLAP_KEY, subject, "send-to-agent")
        actions.append(
            Action(
                kind="send-to-agent",
                key=OVERLAP_KEY,
                subject=subject,
                fingerprint=fp,
                message=(
                    f"Heads-up from aod {marker(fp)}: another session ({overlap.session}) is changing "
                    f"{files} too. Keep your changes to these files small and focused, or coordinate, "
                    "so that both branches merge cleanly."
                ),
            )
        )
    return actions


def _file_list(overlap: Overlap) -> str:
    named = ", ".join(overlap.files)
    more = overlap.file_count - len(overlap.files)
    return named + (f" and {more} more" if more > 0 else "")


def told(acted: Sequence[str], subject: str) -> tuple[str, ...]:
    """The ledger entry's subjects with `subject` added (bounded, newest last)."""
    if subject in acted:
        return tuple(acted)
    return (*acted, subject)[-MAX_TOLD:]


def is_finished_turn(previous: str, current: str) -> bool:
    """Whether an activity change is the end of an agent turn: from working (`active`) to
    waiting for the next message (`idle`, or `ready` before any was delivered). Anything else —
    a question (`waiting_input`), an exit, unknown — is not a turn that finished with work."""
    return previous in FINISHED_TURN_FROM and current in FINISHED_TURN_TO
