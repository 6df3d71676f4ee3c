"""aoctl/starting.py: what `aoctl start` works out before it acts (pure parts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aoctl import service_units, starting


def test_the_unit_names_agree_with_the_service_command() -> None:
    assert starting.SYSTEMD_SERVICE == service_units.SYSTEMD_SERVICE
    assert starting.SYSTEMD_SOCKET == service_units.SYSTEMD_SOCKET
    assert starting.LAUNCHD_LABEL == service_units.LAUNCHD_LABEL


@pytest.mark.parametrize(("url", "github"), [
    ("https://github.com/acme/shop.git", True),
    ("https://github.com/acme/shop", True),
    ("https://token@github.com/acme/shop.git", True),
    ("git@github.com:acme/shop.git", True),
    ("ssh://git@github.com/acme/shop.git", True),
    ("https://github.com.evil.example/acme/shop.git", False),
    ("https://gitlab.com/acme/shop.git", False),
    ("/srv/git/shop.git", False),
    (None, False),
])
def test_a_github_remote_is_recognised_exactly(url: str | None, github: bool) -> None:
    assert starting.is_github(url) is github


@pytest.mark.parametrize(("url", "gitlab"), [
    ("https://gitlab.com/acme/web/shop.git", True),
    ("git@gitlab.com:acme/shop.git", True),
    ("ssh://git@gitlab.com/acme/shop.git", True),
    ("https://gitlab.com.evil.example/acme/shop.git", False),
    ("https://gitlab.com/acme", False),
    ("https://github.com/acme/shop.git", False),
    (None, False),
])
def test_a_gitlab_remote_is_recognised_exactly(url: str | None, gitlab: bool) -> None:
    assert starting.is_gitlab(url) is gitlab


def test_the_gitlab_token_is_looked_for_without_config() -> None:
    assert starting.gitlab_token_source({"GITLAB_TOKEN": "x"}, glab=lambda: False) == "GITLAB_TOKEN"
    assert starting.gitlab_token_source({}, glab=lambda: True) == "glab auth token"
    assert starting.gitlab_token_source({}, glab=lambda: False) is None


def test_the_token_is_looked_for_where_the_github_forge_looks() -> None:
    assert starting.github_token_source({"GH_TOKEN": "x"}, gh=lambda: True) == "GH_TOKEN"
    assert starting.github_token_source({"GITHUB_TOKEN": "x"}, gh=lambda: False) == "GITHUB_TOKEN"
    assert starting.github_token_source({}, gh=lambda: True) == "gh auth token"
    assert starting.github_token_source({"GH_TOKEN": ""}, gh=lambda: False) is None


def test_the_agent_found_first_is_the_one_preferred() -> None:
    on_path = {"codex": "/usr/bin/codex", "aider": "/usr/bin/aider"}
    assert starting.agent_clis_on_path(on_path.get) == ["codex", "aider"]
    assert starting.agent_clis_on_path(lambda _name: None) == []


@pytest.mark.parametrize("agent", ["claude-code", None])
def test_the_first_config_is_valid_and_written_once(tmp_path: Path, agent: str | None) -> None:
    from aod.config import load_config

    path = tmp_path / "ao" / "config.yaml"
    assert starting.write_config_once(path, starting.config_template(agent)) is True
    loaded = load_config(path)
    assert loaded.loaded
    config = loaded.config
    if agent is not None:
        assert config.defaults.agent == agent
    path.write_text("poll_interval: 1s\n")
    assert starting.write_config_once(path, starting.config_template(agent)) is False
    assert path.read_text() == "poll_interval: 1s\n"
    link = tmp_path / "ao" / "link.yaml"
    link.symlink_to(tmp_path / "elsewhere.yaml")
    assert starting.write_config_once(link, "x") is False and not (tmp_path / "elsewhere.yaml").exists()
