"""The README as a new user reads it: the commands are runnable as written after the set-up
command, and the quickstart shows how to define a custom agent (with a config that is valid)."""

from __future__ import annotations

import re
from pathlib import Path

from aod.config import Config, parse_config

README = Path(__file__).resolve().parents[2] / "README.md"
# Both install the dashboard's xterm.js from npm (aod/web/assets/package-lock.json) too.
SET_UP = "python3 -m venv .venv && .venv/bin/pip install -q -e . && npm ci -q --prefix aod/web/assets && .venv/bin/aod"
TEST = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && npm ci -q --prefix aod/web/assets && .venv/bin/pytest"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.M | re.S)


def test_the_first_two_commands_are_the_set_up_and_the_test_command() -> None:
    text = README.read_text()
    assert _blocks("sh")[:2] == [SET_UP + "\n", TEST + "\n"]
    marker = text.index("<!-- test-command")
    assert text[marker:].split("```sh\n", 1)[1].startswith(TEST + "\n")  # what .ci/run executes


def test_every_aoctl_in_a_command_block_runs_after_the_set_up_command() -> None:
    # The set-up command puts aoctl in .venv/bin, not on PATH: a bare `aoctl` would not be found.
    bare = []
    for block in _blocks("sh"):
        for line in block.splitlines():
            if re.search(r"(?<![/\w-])aoctl\b", line.split("#", 1)[0]):
                bare.append(line)
    assert bare == []
    assert ".venv/bin/aoctl spawn" in README.read_text()


def test_the_quickstart_defines_a_custom_agent_that_config_check_accepts() -> None:
    quickstart = README.read_text().split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"^```yaml\n(.*?)^```", quickstart, flags=re.M | re.S)
    config = parse_config(example, "README.md", Config)
    custom = [name for name, agent in config.agents.items() if agent.command and name not in ("claude-code", "codex")]
    assert custom and config.defaults.agent in custom
