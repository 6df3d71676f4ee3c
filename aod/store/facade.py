"""`Store`, the state directory as one object: one instance of each record kind on one shared
StateDir, the instance lock, and every operation under the name callers use, its async (`x`)
and sync (`x_sync`) faces made by aod.store.faces from the one body its record kind's module
marks @operation("x"). `help(Store)` lists them.

May import: the modules of aod.store, and aod.redact (a type).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aod.redact import Redactor
from aod.store.cost import LEDGER_DIR, CostLedger
from aod.store.faces import install
from aod.store.files import QUARANTINE_DIR
from aod.store.forge import FORGE_DIR, ForgeRecords
from aod.store.groups import GROUPS_DIR, GroupRecords
from aod.store.ids import COUNTERS_DIR, SessionIds
from aod.store.instance import InstanceLock, prepare
from aod.store.intake import INTAKE_DIR, IntakeLedgers
from aod.store.journal import Journals
from aod.store.outbox import Outbox
from aod.store.ports import PortAllocator
from aod.store.projects import PROJECTS_DIR, ProjectRecords
from aod.store.session_files import Ledgers, PrViews, UsageReadings
from aod.store.sessions import SessionRecords
from aod.store.state import ARCHIVE_DIR, SESSIONS_DIR, QuarantineCallback, StateDir
from aod.store.tick import TickReads
from aod.store.web_token import WebTokens

WRITTEN_DIRS = (SESSIONS_DIR, PROJECTS_DIR, COUNTERS_DIR, LEDGER_DIR, FORGE_DIR, INTAKE_DIR, GROUPS_DIR)
KEPT_DIRS = (ARCHIVE_DIR, QUARANTINE_DIR)  # never swept: left exactly as they are
RECORD_KINDS = (SessionRecords, Journals, SessionIds, PortAllocator, Outbox, Ledgers, UsageReadings, PrViews, CostLedger, ProjectRecords, ForgeRecords, TickReads, WebTokens, IntakeLedgers, GroupRecords)


class Store:
    """The state directory at `root`. Thread-safe; one instance per process is expected. Call
    `acquire_lock()` and then `prepare()` before anything else.

    `on_quarantine(original_path, quarantine_path, reason)` is called once per quarantined file,
    in the caller's thread (for the async methods: in the calling trio task, after the worker
    thread has finished), after the warning has been logged.
    """

    def __init__(self, root: Path, on_quarantine: QuarantineCallback | None = None) -> None:
        self.state = StateDir(root, on_quarantine)
        self._lock = InstanceLock(self.state)
        self._parts = {kind: kind(self.state) for kind in RECORD_KINDS}

    @property
    def root(self) -> Path:
        return self.state.root

    @property
    def on_quarantine(self) -> QuarantineCallback | None:
        return self.state.on_quarantine

    @on_quarantine.setter
    def on_quarantine(self, callback: QuarantineCallback | None) -> None:
        self.state.on_quarantine = callback

    @property
    def redactor(self) -> Callable[[], Redactor]:
        """Journal entries are stored and shown with secrets taken out (the daemon sets it)."""
        return self.state.redactor

    @redactor.setter
    def redactor(self, redactor: Callable[[], Redactor]) -> None:
        self.state.redactor = redactor

    @property
    def lock_path(self) -> Path:
        return self._lock.path

    # -- start-up (in the calling thread) -------------------------------------------------------

    def acquire_lock(self) -> None:
        self._lock.acquire()

    def release_lock(self) -> None:
        self._lock.release()

    def prepare(self) -> None:
        prepare(self.root, WRITTEN_DIRS, KEPT_DIRS)

    # -- paths others may use (nothing is read or written here) ----------------------------------

    def session_dir(self, session_id: str) -> Path:
        """For plugins that keep per-session files beside the record (process runtime logs)."""
        return self.state.session_dir(session_id)

    def ci_log_path(self, project: str, sha: str) -> Path:
        return self._parts[ForgeRecords].ci_log_path(project, sha)


# Every method a record kind marks @operation(name) becomes Store.name and Store.name_sync.
install(Store, RECORD_KINDS)
