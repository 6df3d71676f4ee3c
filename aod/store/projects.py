"""Project records: `projects/<name>.json` read, listed, written with compare-and-set on `rev`,
and removed by moving the record to `archive/projects/` (kept, like everything removed).

May import: aod.store.state, aod.store.files, aod.model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from aod.model import Project, validate_project_name
from aod.store.files import move_into
from aod.store.state import ARCHIVE_DIR, StateDir, operation

PROJECTS_DIR: Final = "projects"


class ProjectRecords:
    def __init__(self, state: StateDir) -> None:
        self.state = state

    def _path(self, name: str) -> Path:
        return self.state.root / PROJECTS_DIR / f"{validate_project_name(name)}.json"

    @operation("get_project")
    def get(self, name: str) -> Project | None:
        path = self._path(name)
        with self.state.lock_for(f"project:{name}"):
            project = self.state.load(path, Project)
        if project is not None and project.name != name:
            self.state.quarantine(path, f"record name {project.name!r} != file {name!r}")
            return None
        return project

    @operation("list_projects")
    def list(self) -> list[Project]:
        projects = []
        self.state.mkdir(self.state.root / PROJECTS_DIR)
        with os.scandir(self.state.root / PROJECTS_DIR) as entries:
            names = sorted(
                entry.name[: -len(".json")]
                for entry in entries
                if entry.name.endswith(".json") and not entry.name.startswith(".")
            )
        for name in names:
            try:
                validate_project_name(name)
            except ValueError:
                continue
            project = self.get(name)
            if project is not None:
                projects.append(project)
        return projects

    @operation("put_project")
    def put(self, project: Project, expected_rev: int) -> Project:
        path = self._path(project.name)
        with self.state.lock_for(f"project:{project.name}"):
            return self.state.compare_and_replace(path, project, project.name, expected_rev)

    @operation("remove_project")
    def remove(self, name: str) -> bool:
        """Move the project's record to archive/projects/; False when there is none."""
        path = self._path(name)
        with self.state.lock_for(f"project:{name}"):
            if not self.state.exists(path):
                return False
            archive = self.state.root / ARCHIVE_DIR / PROJECTS_DIR
            self.state.mkdir(archive)
            move_into(archive, path, path.name)  # a link is moved as the link: nothing is followed
            return True
