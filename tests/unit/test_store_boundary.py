"""Nothing outside the store touches the state dir (docs/architecture.md, docs/storage.md).

Read from the source: every other module reaches the store through `aod.store`'s own names
(never its inner modules), none spells a file of the state dir's layout, and the state dir's
location goes only where it is named, handed to the Store, or used for files the store does
not keep (listed below, each with why). And the store stays at the bottom: its modules import
nothing of aod above the records, the redactor, the paths and the thread lanes.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import aod.store
from aod.store.cost import LEDGER_DIR
from aod.store.forge import FORGE_DIR
from aod.store.ids import COUNTERS_DIR
from aod.store.instance import LOCK_FILE
from aod.store.intake import INTAKE_DIR
from aod.store.journal import JOURNAL_FILE
from aod.store.outbox import OUTBOX_DIR
from aod.store.ports import PORTS_FILE
from aod.store.projects import PROJECTS_DIR
from aod.store.session_files import LEDGER_FILE, PR_FILE, USAGE_FILE
from aod.store.state import ARCHIVE_DIR, SESSION_FILE, SESSIONS_DIR
from aod.store.web_token import WEB_TOKEN_FILE

ROOT = Path(__file__).resolve().parents[2]
STORE = ROOT / "aod" / "store"

LAYOUT_FILES = {SESSION_FILE, JOURNAL_FILE, LEDGER_FILE, USAGE_FILE, PR_FILE, PORTS_FILE, LOCK_FILE, WEB_TOKEN_FILE, "next.json"}
LAYOUT_DIRS = {SESSIONS_DIR, PROJECTS_DIR, COUNTERS_DIR, LEDGER_DIR, ARCHIVE_DIR, FORGE_DIR, OUTBOX_DIR, INTAKE_DIR, "quarantine"}

# Where the state dir's location may be named outside the store, and why.
STATE_DIR_NAMED_IN = {
    "aod/paths.py": "resolves the location (flags, environment, XDG)",
    "aod/cli.py": "the --state-dir flag",
    "aod/protocol.py": "daemon.status reports the location",
    "aod/handlers/daemon.py": "reports the location; hands it to the doctor",
    "aod/daemon.py": "hands it to the Store; names it in start-up errors",
    "aod/doctor.py": "checks the directory is writable with a temp file it deletes at once",
    "aod/app.py": "hands it to the process runtime, for its own runtime/ directory",
    "aod/plugins/runtime/process.py": "its agents' FIFOs and logs in <state dir>/runtime/, never a store file",
    "aoctl/commands/daemon.py": "prints the location daemon.status reports",
}

STORE_MAY_IMPORT = {"aod.model", "aod.redact", "aod.paths", "aod.lanes"}


def sources(*tops: str) -> Iterator[tuple[str, ast.Module]]:
    for top in tops:
        for path in sorted((ROOT / top).rglob("*.py")):
            if STORE not in path.parents:
                yield str(path.relative_to(ROOT)), ast.parse(path.read_text(), str(path))


def test_other_modules_use_the_store_only_through_its_own_names() -> None:
    wrong = []
    for name, tree in sources("aod", "aoctl"):
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("aod.store"):
                if node.module != "aod.store":
                    wrong.append(f"{name}:{node.lineno}: from {node.module}")
                wrong += [f"{name}:{node.lineno}: {a.name}" for a in node.names if a.name not in aod.store.__all__]
            elif isinstance(node, ast.Import):
                wrong += [f"{name}:{node.lineno}: import {a.name}" for a in node.names if a.name.startswith("aod.store")]
    assert wrong == []


def test_no_other_module_spells_the_state_dir_s_layout() -> None:
    spelled = []
    for name, tree in sources("aod", "aoctl"):
        prose = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings
        for node in ast.walk(tree):
            # A path is built from words without spaces; text with spaces only talks about one.
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose and not any(c.isspace() for c in node.value):
                parts = set(node.value.split("/"))
                if parts & LAYOUT_FILES or (len(parts) > 1 and parts & LAYOUT_DIRS):
                    spelled.append(f"{name}:{node.lineno}: {node.value!r}")
    assert spelled == []


def test_the_state_dir_s_location_goes_only_where_it_is_listed() -> None:
    named = set()
    for name, tree in sources("aod", "aoctl"):
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr == "state_dir") or (
                isinstance(node, ast.Name | ast.arg) and getattr(node, "id", getattr(node, "arg", None)) == "state_dir"
            ):
                named.add(name)
    assert named <= set(STATE_DIR_NAMED_IN), sorted(named - set(STATE_DIR_NAMED_IN))


def test_the_store_imports_nothing_of_aod_above_it() -> None:
    above = []
    for path in sorted(STORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            modules += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            above += [
                f"{path.name}: {module}"
                for module in modules
                if module.startswith("aod") and not module.startswith("aod.store") and module not in STORE_MAY_IMPORT
            ]
    assert above == []
