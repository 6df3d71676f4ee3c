"""Groups of attempts (issue 19): `groups/<id>.json`, read, listed and written compare-and-set
on `rev`. A group outlives its sessions (cleanup archives sessions, never groups), so `compare`
and the pick stay readable after the discarded attempts are gone.

May import: aod.store.state, aod.model.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

from aod.model import Group
from aod.store.state import StateDir, operation

GROUPS_DIR: Final = "groups"
GROUP_ID: Final = re.compile(r"g-[a-z0-9]{1,16}")


def validate_group_id(value: object) -> str:
    if not isinstance(value, str) or GROUP_ID.fullmatch(value) is None:
        raise ValueError(f"invalid group id {value!r}: a group id looks like g-1a2b3c4d")
    return value


class GroupRecords:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    def _path(self, group_id: str) -> Path:
        return self.state.root / GROUPS_DIR / f"{validate_group_id(group_id)}.json"

    @operation("get_group")
    def get(self, group_id: str) -> Group | None:
        path = self._path(group_id)
        with self.state.lock_for(f"group:{group_id}"):
            group = self.state.load(path, Group)
        if group is not None and group.id != group_id:
            self.state.quarantine(path, f"record id {group.id!r} != file {group_id!r}")
            return None
        return group

    @operation("list_groups")
    def list(self) -> list[Group]:
        self.state.mkdir(self.state.root / GROUPS_DIR)
        with os.scandir(self.state.root / GROUPS_DIR) as entries:
            names = sorted(e.name[: -len(".json")] for e in entries if e.name.endswith(".json") and not e.name.startswith("."))
        groups = []
        for name in names:
            if GROUP_ID.fullmatch(name) is None:
                continue
            group = self.get(name)
            if group is not None:
                groups.append(group)
        return groups

    @operation("put_group")
    def put(self, group: Group, expected_rev: int) -> Group:
        path = self._path(group.id)
        with self.state.lock_for(f"group:{group.id}"):
            self.state.mkdir(path.parent)
            return self.state.compare_and_replace(path, group, f"group {group.id}", expected_rev)
