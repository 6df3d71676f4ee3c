"""Trackers and code hosts as two slots (issue 20): `scm` and `tracker`, with `forge: X` the
shorthand for both, so every config written before the split means what it meant."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aod.config import Config, ConfigError, parse_config
from aod.issue_sync import Step, plan
from aod.model import Project
from aod.projects import resolve

DOCS = Path(__file__).parents[2] / "docs"


def _documented_configs() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for n, block in enumerate(re.findall(r"```yaml\n(.*?)```", page.read_text(), re.S)):
            found.append((f"{page.name}#{n}", block))
    return found


@pytest.mark.parametrize(("where", "text"), _documented_configs(), ids=[w for w, _ in _documented_configs()])
def test_every_documented_config_still_loads(where: str, text: str) -> None:
    """The YAML examples of docs/ are configs people copied: each still loads (a block that is
    not a whole config, such as a plan file or a fragment with placeholders, is skipped by
    name)."""
    if "tasks:" in text:
        pytest.skip("a plan file, not a config file")
    if "poll_interval: soon" in text:
        pytest.skip("the page's example of a broken config")
    if "# needs the aod-agent-echo plugin installed" in text:
        pytest.skip("names a plugin from another package: tests/e2e/test_external_plugins.py loads it with the plugin")
    # The variables it needs are set (to a URL, which every value that takes one here accepts);
    # those with a fallback are not, so the fallback is what is read.
    needed = {name: "https://example.com/secret-0123456789" for name in re.findall(r"\$\{(\w+)\}", text)}
    config = parse_config(text, where, Config, environ=needed)
    for name, section in config.projects.items():
        if section.forge and not (section.scm or section.tracker):
            project = resolve(name, Project(name=name, path="/repo", default_branch="main", created_at=""), config)
            assert project.forge == project.tracker == section.forge


def _project(yaml_text: str, recorded_forge: str = "local") -> tuple[str, str]:
    config = parse_config(yaml_text, "config.yaml", Config)
    record = Project(name="shop", path="/repo", default_branch="main", forge=recorded_forge, created_at="")
    resolved = resolve("shop", record, config)
    return resolved.forge, resolved.tracker


def test_forge_is_the_shorthand_for_both_slots() -> None:
    assert _project("projects: {shop: {forge: github}}") == ("github", "github")
    assert _project("projects: {shop: {forge: gitlab}}") == ("gitlab", "gitlab")
    # Nothing in config: what `aoctl project add --forge` recorded, for both.
    assert _project("{}", recorded_forge="github") == ("github", "github")
    assert _project("{}") == ("local", "local")


def test_a_slot_named_on_its_own_wins() -> None:
    assert _project("projects: {shop: {scm: github, tracker: linear}}") == ("github", "linear")
    assert _project("projects: {shop: {forge: github, tracker: jira}}") == ("github", "jira")
    assert _project("projects: {shop: {forge: local, scm: gitlab}}") == ("gitlab", "local")
    # scm alone: the issues are on the same host.
    assert _project("projects: {shop: {scm: gitlab}}", recorded_forge="local") == ("gitlab", "gitlab")


def test_unknown_slots_are_config_errors_on_their_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("projects:\n  shop:\n    scm: linear\n    tracker: trello\n", "config.yaml", Config)
    text = "\n".join(caught.value.errors)
    assert "config.yaml:3" in text and "config.yaml:4" in text


def test_issue_sync_plan() -> None:
    from aod.config import IssueSyncConfig

    assert plan(None, "spawn") == [] and plan(None, "merge") == []
    defaults = IssueSyncConfig()
    assert plan(defaults, "spawn") == [Step("move", "In Progress")]
    assert plan(defaults, "merge") == [Step("link"), Step("move", "Done")]
    quiet = IssueSyncConfig(on_spawn=None, on_merge="Shipped", link_pr=False)
    assert plan(quiet, "spawn") == [] and plan(quiet, "merge") == [Step("move", "Shipped")]
    # Trackers with open and closed issues only: an issue worked on is open; merged, it is closed.
    for two_state in ("github", "gitlab", "local"):
        assert plan(defaults, "spawn", two_state) == []
        assert plan(defaults, "merge", two_state) == [Step("link"), Step("move", "closed")]
    assert plan(IssueSyncConfig(on_merge="reopened"), "merge", "gitlab")[-1] == Step("move", "open")
    assert plan(IssueSyncConfig(on_spawn="Closed"), "spawn", "github") == [Step("move", "closed")]


def test_pr_merged_syncs_the_issue_before_the_cleanup_only_when_asked() -> None:
    from aod import reactions
    from aod.facts import Trigger

    merged = Trigger(key="pr-merged", subject="pr:7", facts={"number": "7", "url": "https://x/7"})
    plain = reactions.policies_for({}, {})
    decision = reactions.decide("s-1", [merged], [], {}, plain, 1000.0)
    assert [a.kind for a in decision.actions] == ["cleanup", "notify"]
    import msgspec

    synced = dict(plain, **{"pr-merged": msgspec.structs.replace(plain["pr-merged"], sync_issue=True)})
    decision = reactions.decide("s-1", [merged], [], {}, synced, 1000.0)
    assert [a.kind for a in decision.actions] == ["sync-issue", "cleanup", "notify"]
    assert decision.actions[0].fingerprint == "s-1:pr-merged:pr:7:sync-issue"
