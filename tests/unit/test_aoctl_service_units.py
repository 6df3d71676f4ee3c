"""aoctl/service_units.py (rendering and installing the user units) stays off the import path of
every command but `aoctl service`: its imports would cost every `aoctl ping` start-up time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from aoctl.cli import COMMANDS

AOCTL = Path(__file__).parents[2] / "aoctl"

# Imports the CLI and then each command's module, as `aoctl COMMAND` and `aoctl --help` do, and
# prints the command after which service_units first appears in sys.modules.
PROBE = """
import sys
import aoctl.cli
modules = {modules!r}
if "aoctl.service_units" in sys.modules:
    print("aoctl.cli")
for name in modules:
    __import__("aoctl.commands." + name, fromlist=["command"])
    if "aoctl.service_units" in sys.modules:
        print(name)
        break
import aoctl.service_units
print("loaded" if "aoctl.service_units" in sys.modules else "not loaded")
"""


def test_no_command_module_imports_service_units() -> None:
    # Every command module, the service command's too: `aoctl --help` imports them all, and the
    # service command imports service_units only when one of its subcommands runs.
    modules = sorted(set(COMMANDS.values()))
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(modules=modules)],
        capture_output=True, text=True, check=True, timeout=60,
    )
    assert result.stdout.split() == ["loaded"], f"service_units loaded by: {result.stdout.split()[:-1]}"


def test_only_the_service_command_names_service_units() -> None:
    # A lazy import inside a function would not show in sys.modules above: look at the source.
    naming = sorted(
        str(path.relative_to(AOCTL.parent))
        for path in AOCTL.rglob("*.py")
        if path.name != "service_units.py" and _imports_service_units(path)
    )
    assert naming == ["aoctl/commands/service.py"]


def _imports_service_units(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names = {alias.name for alias in node.names}
            if node.module == "aoctl.service_units" or (node.module == "aoctl" and "service_units" in names):
                return True
        if isinstance(node, ast.Import) and any(alias.name == "aoctl.service_units" for alias in node.names):
            return True
    return False
