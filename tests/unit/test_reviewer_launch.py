"""Agent plugins say how to run read-only (`read_only_mode`, honoured when aod sets
`AgentSettings.read_only` for a reviewer session); plugins without such a mode say so by having
none, and aod then relies on the read-only checkout alone (docs/workflows.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aod.plugins.agent import AgentSettings, LaunchContext
from aod.plugins.agent.aider import AiderAgent
from aod.plugins.agent.claude_code import ClaudeCodeAgent
from aod.plugins.agent.codex import CodexAgent
from aod.plugins.agent.custom import CustomAgent
from aod.plugins.agent.goose import GooseAgent
from aod.plugins.agent.opencode import OpencodeAgent


def ctx(tmp_path: Path) -> LaunchContext:
    return LaunchContext(session_id="demo-2", workspace=tmp_path, prompt="review it", home=tmp_path)


def test_claude_code_reviews_in_plan_mode_with_only_aoctls_review_and_report_allowed(tmp_path: Path) -> None:
    agent = ClaudeCodeAgent(getuid=lambda: 0)
    argv = agent.launch(AgentSettings(name="claude-code", read_only=True), ctx(tmp_path)).argv
    assert argv[argv.index("--permission-mode") + 1] == "plan"
    allowed = argv[argv.index("--allowedTools") + 1 : argv.index("--allowedTools") + 3]
    assert allowed == ["Bash(aoctl review:*)", "Bash(aoctl report:*)"]
    assert "--dangerously-skip-permissions" not in argv  # read-only wins over bypass
    assert argv[-2:] == ["--", "review it"]
    env = agent.launch(AgentSettings(name="claude-code", read_only=True), ctx(tmp_path)).env
    assert "IS_SANDBOX" not in env
    assert agent.read_only_mode == "--permission-mode plan"


def test_codex_reviews_in_its_read_only_sandbox(tmp_path: Path) -> None:
    agent = CodexAgent(environ={})
    argv = agent.launch(AgentSettings(name="codex", read_only=True), ctx(tmp_path)).argv
    assert argv[argv.index("--sandbox") + 1] == "read-only"
    assert "--dangerously-bypass-approvals-and-sandbox" not in argv
    assert agent.read_only_mode == "--sandbox read-only"


def test_a_worker_launch_is_unchanged(tmp_path: Path) -> None:
    for agent in (ClaudeCodeAgent(), CodexAgent(environ={})):
        argv = agent.launch(AgentSettings(name=agent.name), ctx(tmp_path)).argv
        assert "--permission-mode" not in argv and "--sandbox" not in argv


@pytest.mark.parametrize("agent", [AiderAgent(), GooseAgent(), OpencodeAgent(), CustomAgent()], ids=lambda a: a.name)
def test_agents_without_a_read_only_mode_say_so(agent: object) -> None:
    assert getattr(agent, "read_only_mode", None) is None
