"""Pure pieces of the session layer: project resolution, prompts, branch names, log following."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoctl.commands.logs import new_lines
from aod.config import Config, parse_config
from aod.model import Project
from aod.projects import ProjectProblem, resolve, session_prefix_for
from aod.prompt import PromptInputs, compose
from aod.spawn import _clean_label, _render_branch


def test_config_wins_over_the_registry_and_defaults_fill_the_rest() -> None:
    config = parse_config(
        "defaults: {agent: codex}\nprojects:\n  web: {agent: aider, branch: 'feat/{issue}-{id}'}\n",
        "c.yaml",
        Config,
    )
    record = Project(name="web", path="/src/web", default_branch="trunk", agent="claude-code")
    web = resolve("web", record, config)
    assert (web.agent, web.default_branch, web.branch_template, web.source) == (
        "aider", "trunk", "feat/{issue}-{id}", "both",
    )
    bare = resolve("api", Project(name="api", path="/src/api", default_branch="main"), config)
    assert (bare.agent, bare.workspace, bare.runtime, bare.branch_template) == (
        "codex", "worktree", "tmux", "ao/{id}",
    )


def test_a_config_only_project_needs_a_path() -> None:
    config = parse_config("projects:\n  web: {agent: aider}\n", "c.yaml", Config)
    with pytest.raises(ProjectProblem, match="path"):
        resolve("web", None, config)
    config = parse_config("projects:\n  web: {path: /src/web}\n", "c.yaml", Config)
    assert resolve("web", None, config).path == Path("/src/web")


@pytest.mark.parametrize(
    ("name", "prefix"), [("web", "web"), ("My.Project-2", "myproject2"), ("___", "s"), ("a" * 40, "a" * 12)]
)
def test_session_prefix_is_short_and_safe(name: str, prefix: str) -> None:
    assert session_prefix_for(name) == prefix


def test_prompt_carries_the_task_byte_exact_and_the_session_context() -> None:
    hostile = "fix `rm -rf /` and $(whoami)\n'quotes' \"double\" ; | & ünïcødé"
    prompt = compose(
        PromptInputs(
            session_id="web-3", project="web", branch="ao/web-3", base_branch="main", issue=None,
            title=None, body=None, task=hostile, rules="Use tabs.",
        )
    )
    assert hostile in prompt
    assert "Use tabs." in prompt and "ao/web-3" in prompt and "web-3" in prompt


def test_prompt_for_an_issue_names_it() -> None:
    prompt = compose(
        PromptInputs(
            session_id="web-1", project="web", branch="ao/web-1", base_branch="main", issue="42",
            title="Login fails", body="Steps: ...", task=None, rules=None,
        )
    )
    assert prompt.startswith("Resolve issue 42: Login fails.")
    assert "Steps: ..." in prompt


def test_branch_template_and_issue_labels() -> None:
    assert _render_branch("ao/{id}", "web-1", "42", "web") == "ao/web-1"
    assert _render_branch("feat/{issue}-{id}", "web-1", "#42", "web") == "feat/42-web-1"
    assert _render_branch("{project}/{issue}/{id}", "web-2", None, "web") == "web/task/web-2"
    assert _clean_label("42") and _clean_label("GH-12")
    for bad in ["", "a b", "$(x)", "../x", "a/b", "x" * 65, "é"]:
        assert not _clean_label(bad)


def test_following_logs_prints_only_new_lines() -> None:
    assert new_lines(["a", "b", "c"], ["b", "c", "d", "e"]) == ["d", "e"]
    assert new_lines(["a", "b"], ["a", "b"]) == []
    assert new_lines(["a"], ["x", "y"]) == ["x", "y"]


def test_a_spawn_request_is_answered_by_its_key_first_then_by_a_live_session_of_its_issue() -> None:
    from aod.model import Session
    from aod.spawn import already_spawned

    def session(sid: str, **fields: object) -> Session:
        base = dict(id=sid, project="web", state="working", reason="", since="t", created_at="t", updated_at="t",
                    agent="fake", branch=f"ao/{sid}", workspace="/w")
        return Session(**{**base, **fields})  # type: ignore[arg-type]

    keyed = session("web-1", idempotency_key="k", state="errored", issue="7")
    live = session("web-2", issue="7")
    other_agent = session("web-3", issue="8", agent="codex")
    killed = session("web-4", issue="9", state="killed")
    fleet = [keyed, live, other_agent, killed]
    find = lambda **kw: already_spawned(fleet, **{"key": None, "project": "web", "issue": None, "agent": "fake", **kw})  # noqa: E731
    assert find(key="k") is keyed  # whatever became of it: the first request's outcome
    assert find(key="k", issue="7") is keyed
    assert find(key="other") is None
    assert find(issue="7") is live
    assert find(issue="8") is None  # another agent's session is not this request's
    assert find(issue="9") is None  # not live
    assert find(issue="7", project="api") is None


def test_a_message_ends_only_the_reports_made_before_it_went_in() -> None:
    from aod.model import AgentReport, Session
    from aod.outbox import _after_delivery

    def with_report(status: str, at: str) -> Session:
        return Session(id="web-1", project="web", state="needs_input", reason="", since="t", created_at="t",
                       updated_at="t", agent="fake", branch="ao/web-1", workspace="/w",
                       report=AgentReport(status=status, message="m", at=at))

    started = "2026-12-07T10:00:00.500Z"
    assert _after_delivery(with_report("blocked", "2026-12-07T10:00:00.100Z"), 3, started).report is None
    # Reported while aod was still proving the message arrived: the agent's answer to it stands.
    late = _after_delivery(with_report("done", "2026-12-07T10:00:00.900Z"), 3, started)
    assert late.report is not None and late.delivered_seq == 3
    assert _after_delivery(with_report("working", "2026-12-07T10:00:00.100Z"), 3, started).report is not None
