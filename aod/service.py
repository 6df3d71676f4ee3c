"""The session API as one object: the session core (aod/sessions.py) with each job's operations
beside it. A handler calls the operation itself, in one line: `app.sessions.spawner.spawn(...)`,
`app.sessions.teardown.kill(id)`, `app.sessions.projects.add(...)`, `app.sessions.running.logs(...)`;
the lookups and `enqueue` are the core's own (`app.sessions.session(id)`).

The jobs, each in its module, each built on the core alone (none knows another):
- `projects`: aod/projects_service.py, `project.add`, `project.list`, `project.remove`;
- `spawner`: aod/spawn.py, `spawn`, `batch-spawn` (all or nothing) and `restore`;
- `teardown`: aod/teardown.py, `kill`, `stop --all`, `cleanup` (work saved first), orphans;
- `running`: aod/running.py, hook reports, user commands for the tick, logs, attach.

May import: sessions and the job modules. Used by the app (which builds it), the handlers, the
reactor (restart, cleanup) and the doctor; the observer, forges, branch sync and meter need only
the core.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aod.projects_service import ProjectRegistry
from aod.running import Running
from aod.sessions import ENDED_STATES, LIVE_STATES, MAX_MESSAGE_BYTES, Plugins, Sessions, session_info
from aod.spawn import Spawner
from aod.teardown import Teardown

__all__ = ["ENDED_STATES", "LIVE_STATES", "MAX_MESSAGE_BYTES", "Plugins", "SessionService", "Sessions", "session_info"]


@dataclass(eq=False)
class SessionService(Sessions):
    projects: ProjectRegistry = field(init=False)
    spawner: Spawner = field(init=False)
    teardown: Teardown = field(init=False)
    running: Running = field(init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.projects = ProjectRegistry(self)
        self.spawner = Spawner(self)
        self.teardown = Teardown(self)
        self.running = Running(self)
