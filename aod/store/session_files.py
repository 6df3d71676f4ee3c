"""Records kept beside a session's record, one file each, under the session's lock: the
reaction ledger (`sessions/<id>/reactions.json`: attempt counts and intents), the usage
reading (`sessions/<id>/usage.json`: where reading the agent's records got to, the totals) and
the PR as last seen (`sessions/<id>/pr.json`: its checks, log excerpts and review comments).

They live and are archived with their session, so an archive never leaves one behind, and a
write once the session's record is gone raises NoSuchSession instead of recreating the file.
One that cannot be read is quarantined and started afresh (a reaction may then repeat once,
which the quarantine event makes visible).

May import: aod.store.state, aod.store.errors, aod.model.
"""

from __future__ import annotations

from typing import ClassVar, Final, Generic, TypeVar

from aod.model import SessionLedger, SessionPr, SessionUsage
from aod.store.errors import NoSuchSession
from aod.store.state import StateDir, operation

LEDGER_FILE: Final = "reactions.json"
USAGE_FILE: Final = "usage.json"
PR_FILE: Final = "pr.json"


S = TypeVar("S", SessionLedger, SessionUsage, SessionPr)


class SessionFile(Generic[S]):
    """`sessions/<id>/<FILE>`, a record of type KIND (a fresh `KIND(session=id)` when none)."""

    FILE: ClassVar[str]
    KIND: ClassVar[type]
    NOUN: ClassVar[str]  # in the operations' names: get_<noun>, put_<noun>

    def __init__(self, state: StateDir) -> None:
        self.state = state

    @operation("get_{noun}")
    def get(self, session_id: str) -> S:
        path = self.state.session_dir(session_id) / self.FILE
        with self.state.lock_for(session_id):
            stored = self.state.load(path, self.KIND)
        return self.KIND(session=session_id) if stored is None else stored

    @operation("put_{noun}")
    def put(self, record: S, expected_rev: int) -> S:
        """Compare-and-set like put_session; NoSuchSession once the session was archived."""
        path = self.state.session_dir(record.session) / self.FILE
        with self.state.lock_for(record.session):
            if not self.state.has_session_record(record.session):
                raise NoSuchSession(record.session)  # archived (or never created): nothing to record
            return self.state.compare_and_replace(path, record, record.session, expected_rev)


class Ledgers(SessionFile[SessionLedger]):
    FILE, KIND, NOUN = LEDGER_FILE, SessionLedger, "ledger"


class UsageReadings(SessionFile[SessionUsage]):
    FILE, KIND, NOUN = USAGE_FILE, SessionUsage, "usage"


class PrViews(SessionFile[SessionPr]):
    FILE, KIND, NOUN = PR_FILE, SessionPr, "pr_view"
