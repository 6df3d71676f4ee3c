"""Issue intake's ledger (`intake/<project>.json`, compare-and-set): which issues of a project
intake already took. An issue is written down before its spawn starts (with the spawn's
idempotency key), so a crash between the two starts nothing twice: the next tick spawns with
the same key, and aod's spawn answers with the session if it was made.

May import: aod.store.state, aod.model.
"""

from __future__ import annotations

from typing import Final

from aod.model import IntakeLedger, validate_project_name
from aod.store.state import StateDir, operation

INTAKE_DIR: Final = "intake"


class IntakeLedgers:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    def _path(self, project: str):  # type: ignore[no-untyped-def]
        validate_project_name(project)
        return self.state.root / INTAKE_DIR / f"{project}.json"

    @operation("get_intake")
    def get(self, project: str) -> IntakeLedger:
        return self.state.load(self._path(project), IntakeLedger) or IntakeLedger()

    @operation("note_intake")
    def note(self, project: str, issue: str, value: str) -> IntakeLedger:
        """Record what intake did with `issue` (a session id, or `spawning:<key>`)."""
        path = self._path(project)
        with self.state.lock_for(f"intake:{project}"):
            stored = self.state.load(path, IntakeLedger)
            current = stored or IntakeLedger()
            if current.taken.get(issue) == value:
                return current
            updated = IntakeLedger(taken={**current.taken, issue: value})
            return self.state.compare_and_replace(path, updated, f"intake {project}", stored.rev if stored else 0)
