"""The local forge's records: `forge/<project>/issues/<n>.json` and `prs/<n>.json` (compare-and-
set on `rev`), `next.json` (one number sequence for both, so `#7` names one thing), and
`ci/<sha>.log`, each CI run's output.

May import: aod.store.state, aod.model, msgspec.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final, TypeVar

import msgspec

from aod.model import validate_project_name
from aod.store.state import StateDir, operation

FORGE_DIR: Final = "forge"
KINDS: Final = ("issues", "prs")

R = TypeVar("R", bound=msgspec.Struct)


class ForgeRecords:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    def _dir(self, project: str) -> Path:
        return self.state.root / FORGE_DIR / validate_project_name(project)

    def _path(self, project: str, kind: str, number: int) -> Path:
        if kind not in KINDS or not isinstance(number, int) or number < 1:
            raise ValueError(f"bad forge record {kind}/{number}")
        return self._dir(project) / kind / f"{number}.json"

    @operation("next_forge_number")
    def next_number(self, project: str) -> int:
        directory = self._dir(project)
        self.state.mkdir(directory)
        counter = directory / "next.json"
        with self.state.lock_for(f"forge-counter:{project}"):
            try:
                n = int(msgspec.json.decode(self.state.read(counter)).get("next", 1))
            except (FileNotFoundError, ValueError, AttributeError, msgspec.DecodeError):
                for kind in KINDS:
                    self.state.guard(directory / kind)
                n = 1 + max(
                    (int(p.stem) for kind in KINDS for p in (directory / kind).glob("*.json") if p.stem.isdecimal()),
                    default=0,
                )
            self.state.replace(counter, msgspec.json.encode({"next": n + 1}))
            return n

    @operation("get_forge_record")
    def get(self, project: str, kind: str, number: int, type_: type[R]) -> R | None:
        path = self._path(project, kind, number)
        with self.state.lock_for(f"forge:{project}:{kind}:{number}"):
            return self.state.load(path, type_)

    @operation("put_forge_record")
    def put(self, kind: str, record: R, expected_rev: int) -> R:
        project, number = record.project, record.number  # type: ignore[attr-defined]
        path = self._path(project, kind, number)
        self.state.mkdir(path.parent.parent)
        self.state.mkdir(path.parent)
        with self.state.lock_for(f"forge:{project}:{kind}:{number}"):
            return self.state.compare_and_replace(path, record, f"{project}#{number}", expected_rev)

    @operation("list_forge_records")
    def list(self, project: str, kind: str, type_: type[R]) -> list[R]:
        directory = self._dir(project) / kind
        if not self.state.is_dir(directory):
            return []
        numbers = sorted(int(p.stem) for p in directory.glob("*.json") if p.stem.isdecimal())
        records = [self.get(project, kind, n, type_) for n in numbers]
        return [r for r in records if r is not None]

    def ci_log_path(self, project: str, sha: str) -> Path:
        """Where the CI log of `sha` is kept (written with write_ci_log, read by anyone)."""
        if not re.fullmatch(r"[0-9a-f]{7,64}", sha):
            raise ValueError(f"not a commit sha: {sha!r}")
        return self._dir(project) / "ci" / f"{sha}.log"

    @operation("write_ci_log")
    def write_ci_log(self, project: str, sha: str, data: bytes) -> Path:
        path = self.ci_log_path(project, sha)
        self.state.mkdir(path.parent.parent)
        self.state.mkdir(path.parent)
        self.state.replace(path, data)
        return path
