"""The user config: defaults, durations, ${ENV}, and errors reported at once with their lines."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from aod.config import (
    Config,
    ConfigError,
    check_file,
    check_main,
    changed_keys,
    format_duration,
    interpolate,
    load_config,
    parse_config,
    parse_duration,
)


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), environ or {}).config


def errors(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    return caught.value.errors


# --- defaults -----------------------------------------------------------------------------


def test_no_file_means_every_default(tmp_path: Path) -> None:
    loaded = load_config(tmp_path / "absent.yaml")

    assert loaded.loaded is False
    assert loaded.path == tmp_path / "absent.yaml"
    config = loaded.config
    assert config.poll_interval == 5.0
    assert (config.log.level, config.log.format) == ("info", "auto")
    assert config.api.max_message_bytes == 1024 * 1024
    assert config.api.write_timeout == 10.0
    assert config.api.subscriber_queue == 1000
    assert config.api.shutdown_grace == 5.0
    assert config.api.max_connections == 256


@pytest.mark.parametrize("text", ["", "# only a comment\n", "~\n", "log:\napi:\n"])
def test_an_empty_file_or_empty_sections_mean_defaults(tmp_path: Path, text: str) -> None:
    loaded = load_config(write(tmp_path, text), {})

    assert loaded.loaded is True
    assert loaded.config == Config()


def test_every_key_is_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        poll_interval: 2s
        log:
          level: debug
          format: json
        api:
          max_message_bytes: 4096
          write_timeout: 1m
          subscriber_queue: 10
          shutdown_grace: 0
          max_connections: 8
          first_frame_timeout: 2s
          idle_timeout: 1h
          max_subscriptions: 3
        """,
    )

    assert config.poll_interval == 2.0
    assert (config.log.level, config.log.format) == ("debug", "json")
    assert config.api.model_dump() == {
        "max_message_bytes": 4096,
        "write_timeout": 60.0,
        "subscriber_queue": 10,
        "shutdown_grace": 0.0,
        "max_connections": 8,
        "first_frame_timeout": 2.0,
        "idle_timeout": 3600.0,
        "max_subscriptions": 3,
    }


def test_config_is_frozen() -> None:
    with pytest.raises(ValidationError):
        Config().poll_interval = 1.0


# --- durations ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "seconds"),
    [
        ("5s", 5.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("1s500ms", 1.5),
        (" 5s ", 5.0),
        ("3", 3.0),
        ("0.5", 0.5),
        (5, 5.0),
        (2.5, 2.5),
        (0, 0.0),
    ],
)
def test_durations(written: str | int | float, seconds: float) -> None:
    assert parse_duration(written) == seconds


@pytest.mark.parametrize("written", ["", "5x", "h", "5 s", "5S", "30m1h", "1m1m", "-5s", "1e3s"])
def test_bad_duration_text_names_the_accepted_forms(written: str) -> None:
    with pytest.raises(ValueError, match="invalid duration") as caught:
        parse_duration(written)

    assert "250ms, 5s, 10m, 2h, 1h30m" in str(caught.value)
    assert "number of seconds" in str(caught.value)


@pytest.mark.parametrize("written", [-1, -0.5, math.inf, math.nan])
def test_negative_or_endless_durations_are_refused(written: float) -> None:
    with pytest.raises(ValueError, match="finite number, 0 or more"):
        parse_duration(written)


def test_a_boolean_is_not_a_duration() -> None:
    # YAML 1.1 reads `poll_interval: yes` as True, which Python would happily count as 1 s.
    with pytest.raises(ValueError, match="got true"):
        parse_duration(True)


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (0.25, "250ms"), (5, "5s"), (90, "1m30s"), (5400, "1h30m"), (90061, "1d1h1m1s")],
)
def test_format_duration_reads_back(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown
    assert parse_duration(shown) == seconds


def test_durations_in_the_file(tmp_path: Path) -> None:
    config = load(tmp_path, "poll_interval: 250ms\napi: {write_timeout: 1h, shutdown_grace: 30}\n")

    assert (config.poll_interval, config.api.write_timeout, config.api.shutdown_grace) == (
        0.25,
        3600.0,
        30.0,
    )


def test_duration_bounds_are_shown_as_durations(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"

    assert errors(tmp_path, "poll_interval: 0\napi:\n  shutdown_grace: 90s\n") == [
        f"{path}:1: poll_interval: must be more than 0s",
        f"{path}:3: api.shutdown_grace: must be at most 1m (got 1m30s)",
    ]


# --- errors: all at once, each with its line ----------------------------------------------


def test_every_error_is_reported_at_once_with_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    found = errors(
        tmp_path,
        """\
        # aod config
        poll_interval: soon
        log:
          level: loud
          colour: red
        api:
          max_message_bytes: 12
          write_timeout: 2h
          subscriber_queue: many
          max_connections: 2.5
        projects: []
        """,
    )

    assert found == [
        f"{path}:2: poll_interval: invalid duration 'soon': expected a number of seconds, "
        "or a number with units like 250ms, 5s, 10m, 2h, 1h30m, 1d",
        f"{path}:4: log.level: must be one of 'debug', 'info', 'warning' or 'error' (got 'loud')",
        f"{path}:5: log.colour: unknown key; known keys here: level, format",
        f"{path}:7: api.max_message_bytes: must be at least 1024 (got 12)",
        f"{path}:8: api.write_timeout: must be at most 1h (got 2h)",
        f"{path}:9: api.subscriber_queue: must be a whole number (got 'many')",
        f"{path}:10: api.max_connections: must be a whole number (got 2.5)",
        f"{path}:11: projects: must be a mapping of `key: value` lines (got a list)",
    ]


def test_error_message_is_short_and_has_no_pydantic_blurb(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    found = errors(tmp_path, "api:\n  max_connections: 0\n")

    assert found == [f"{path}:2: api.max_connections: must be at least 1 (got 0)"]
    assert "pydantic" not in found[0] and "http" not in found[0]


def test_a_near_miss_key_gets_a_suggestion(tmp_path: Path) -> None:
    assert errors(tmp_path, "\n\npoll_intervall: 5s\n") == [
        f"{tmp_path / 'config.yaml'}:3: poll_intervall: unknown key; did you mean 'poll_interval'?"
    ]


def test_a_section_of_the_wrong_shape(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"

    assert errors(tmp_path, "log: verbose\napi:\n  - 1\n") == [
        f"{path}:1: log: must be a section of `key: value` lines (got 'verbose')",
        f"{path}:3: api: must be a section of `key: value` lines (got a list)",
    ]


def test_a_key_without_a_value(tmp_path: Path) -> None:
    assert errors(tmp_path, "log:\n  level:\n") == [
        f"{tmp_path / 'config.yaml'}:2: log.level: is empty; give it a value or remove the key"
    ]


def test_a_duplicate_key_names_the_first_one(tmp_path: Path) -> None:
    assert errors(tmp_path, "poll_interval: 1s\nlog: {}\npoll_interval: 2s\n") == [
        f"{tmp_path / 'config.yaml'}:3: poll_interval: duplicate key (first at line 1)"
    ]


class _Needs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    class _Inner(BaseModel):
        model_config = ConfigDict(extra="forbid")
        name: str

    inner: _Inner


def test_a_missing_required_key_points_at_its_parent_mapping() -> None:
    text = "# header\n\ninner:\n  other: 1\n"

    with pytest.raises(ConfigError) as caught:
        parse_config(text, "f.yaml", _Needs, {})

    assert caught.value.errors == [
        "f.yaml:4: inner.name: required key is missing",
        "f.yaml:4: inner.other: unknown key; known keys here: name",
    ]


def test_a_missing_required_key_in_an_empty_file_points_at_line_1() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("", "f.yaml", _Needs, {})

    assert caught.value.errors == ["f.yaml:1: inner: required key is missing"]


def test_config_error_joins_its_errors_with_newlines(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: 2\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert len(caught.value.errors) == 2
    assert str(caught.value) == "\n".join(caught.value.errors)


# --- YAML itself --------------------------------------------------------------------------


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    found = errors(tmp_path, "log:\n  level: info\n  format: [json\napi: {}\n")

    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'config.yaml'}:4: yaml: ")
    assert "flow sequence" in found[0]


def test_tabs_are_a_yaml_error(tmp_path: Path) -> None:
    found = errors(tmp_path, "log:\n\tlevel: info\n")

    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'config.yaml'}:2: yaml: ")


@pytest.mark.parametrize(
    ("text", "kind"),
    [("- poll_interval: 5s\n", "a list"), ("just some words\n", "a single value")],
)
def test_the_top_level_must_be_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "config.yaml"

    assert errors(tmp_path, text) == [
        f"{path}:1: the file must be a mapping of `key: value` lines, not {kind}"
    ]


@pytest.mark.parametrize(
    ("text", "line", "key", "kind"),
    [
        ("on: true\n", 1, "on", "the boolean true"),
        ("log:\n  level: info\n  off: 1\n", 3, "log.off", "the boolean false"),
        ("api: {yes: 1}\n", 1, "api.yes", "the boolean true"),
        ("1: x\n", 1, "1", "the number 1"),
    ],
)
def test_a_key_yaml_does_not_read_as_text_is_named(
    tmp_path: Path, text: str, line: int, key: str, kind: str
) -> None:
    written = key.rsplit(".", 1)[-1]

    assert errors(tmp_path, text) == [
        f"{tmp_path / 'config.yaml'}:{line}: {key}: YAML 1.1 reads the key '{written}' as {kind}, "
        "not as text; no setting has such a name"
    ]


def test_only_yaml_s_own_tags_are_built(tmp_path: Path) -> None:
    found = errors(tmp_path, "log: !!python/object/apply:os.system ['true']\n")

    assert found == [
        f"{tmp_path / 'config.yaml'}:1: log: unsupported YAML tag !!python/object/apply:os.system"
    ]


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]

    found = errors(tmp_path, "\n".join(levels) + "\n")

    assert len(found) == 1
    assert ": yaml: more than 10000 values (aliases included)" in found[0]


def test_anchors_and_merge_keys_work_as_in_safe_load(tmp_path: Path) -> None:
    config = load(tmp_path, "log:\n  <<: &quiet {level: warning}\n  format: json\napi: {}\n")

    assert (config.log.level, config.log.format) == ("warning", "json")


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_bytes(b"log:\n  level: caf\xe9\n")

    assert check_file(path) == [f"{path}:2: yaml: not UTF-8 text (byte 0xe9)"]


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    found = check_file(tmp_path)

    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path}: cannot read: ")


# --- ${ENV} -------------------------------------------------------------------------------


def test_env_variables_are_expanded_in_values(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        poll_interval: ${POLL}
        log:
          level: ${LEVEL:-warning}
          format: "${FORMAT:-console}"
        api:
          max_connections: ${CONNECTIONS}
        """,
        {"POLL": "2m", "FORMAT": "json", "CONNECTIONS": "12"},
    )

    assert config.poll_interval == 120.0
    assert config.log.level == "warning"
    assert config.log.format == "json"
    assert config.api.max_connections == 12


def test_unset_env_variable_without_default_is_an_error_at_its_line(tmp_path: Path) -> None:
    found = errors(tmp_path, "log:\n  level: info\n  format: ${AOD_TEST_FORMAT}\n")

    assert found == [
        f"{tmp_path / 'config.yaml'}:3: log.format: "
        "environment variable AOD_TEST_FORMAT is not set "
        "(use ${AOD_TEST_FORMAT:-default} for a fallback)"
    ]


def test_interpolation_reads_the_process_environment_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AOD_TEST_LEVEL", "error")

    loaded = load_config(write(tmp_path, "log: {level: '${AOD_TEST_LEVEL}'}\n"))

    assert loaded.config.log.level == "error"


@pytest.mark.parametrize(
    ("text", "environ", "expanded"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),  # as in the shell: `:-` also covers "set but empty"
        ("${A}", {"A": ""}, ""),
        ("${A:-}", {}, ""),
        ("$${A}", {"A": "x"}, "${A}"),
        ("cost: $$5", {}, "cost: $5"),
        ("a lone $ stays", {}, "a lone $ stays"),
        ("${A}-${B}", {"A": "1", "B": "2"}, "1-2"),
    ],
)
def test_interpolate(text: str, environ: dict[str, str], expanded: str) -> None:
    assert interpolate(text, environ) == expanded


def test_interpolate_names_every_unset_variable() -> None:
    with pytest.raises(ValueError, match="environment variables A, B are not set"):
        interpolate("${A}${B}${A}", {})


@pytest.mark.parametrize("text", ["${}", "${1X}", "${A", "${A:x}"])
def test_a_malformed_reference_is_an_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"write \$\{NAME\} or \$\{NAME:-default\}"):
        interpolate(text, {"A": "x"})


def test_keys_are_not_interpolated(tmp_path: Path) -> None:
    found = errors(tmp_path, "${KEY}: 1\n", {"KEY": "poll_interval"})

    assert found == [
        f"{tmp_path / 'config.yaml'}:1: ${{KEY}}: "
        "unknown key; known keys here: poll_interval, log, api, runtime, workspace, defaults, "
        "agents, projects, reactions, budgets, orchestrator, prices, notifiers, github, gitlab, linear, jira, redact, web, hosts, placement, roles"
    ]


def test_an_expanded_value_is_not_echoed_in_errors(tmp_path: Path) -> None:
    # The variable may hold a secret; the message must not carry it into logs.
    found = errors(tmp_path, "api:\n  max_connections: ${N}\n", {"N": "hunter2"})

    assert found == [f"{tmp_path / 'config.yaml'}:2: api.max_connections: must be a whole number"]


# --- check_file, check_main ---------------------------------------------------------------


def test_check_file(tmp_path: Path) -> None:
    good = write(tmp_path, "poll_interval: 1s\n", name="good.yaml")
    bad = write(tmp_path, "poll_interval: 0\n", name="bad.yaml")

    assert check_file(good) == []
    assert check_file(bad) == [f"{bad}:1: poll_interval: must be more than 0s"]
    assert check_file(tmp_path / "absent.yaml") == [f"{tmp_path / 'absent.yaml'}: file not found"]


def test_check_main_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "log: {level: debug}\n", name="good.yaml")
    bad = write(tmp_path, "log: {level: loud, format: xml}\n", name="bad.yaml")

    assert check_main(good) == 0
    assert capsys.readouterr().out == f"{good}: ok\n"

    assert check_main(bad) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"{bad}:1: log.level: must be one of 'debug', 'info', 'warning' or 'error' (got 'loud')",
        f"{bad}:1: log.format: must be one of 'auto', 'json' or 'console' (got 'xml')",
    ]
    assert captured.err == f"2 errors in {bad}\n"


def test_check_main_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, "log: {level: debug}\n", name="good.yaml")
    bad = write(tmp_path, "api: {max_connections: -1}\n", name="bad.yaml")

    assert check_main(good, as_json=True) == 0
    assert json.loads(capsys.readouterr().out) == {"path": str(good), "ok": True, "errors": []}

    assert check_main(bad, as_json=True) == 1
    assert json.loads(capsys.readouterr().out) == {
        "path": str(bad),
        "ok": False,
        "errors": [f"{bad}:1: api.max_connections: must be at least 1 (got -1)"],
    }


# --- changed_keys -------------------------------------------------------------------------


def test_changed_keys() -> None:
    base = Config()

    assert changed_keys(base, Config()) == []
    assert changed_keys(base, Config(poll_interval=1.0)) == ["poll_interval"]
    assert changed_keys(base, Config.model_validate({"api": {"max_connections": 1}})) == ["api"]
    assert changed_keys(
        base, Config.model_validate({"poll_interval": "1s", "log": {"format": "json"}})
    ) == ["poll_interval", "log"]


def test_an_agent_s_screen_patterns(tmp_path: Path) -> None:
    config = load(tmp_path, """\
        agents:
          mybot:
            command: [mybot]
            hooks: false
            screen:
              idle: '^mybot> $'
              working: [Thinking, '^\\[busy\\]']
              input: '^mybot> (?P<input>.*)$'
        """)
    screen = config.agents["mybot"].screen
    assert screen.idle == ["^mybot> $"] and screen.working == ["Thinking", "^\\[busy\\]"]
    assert screen.waiting == [] and screen.input == "^mybot> (?P<input>.*)$"
    assert config.agents["mybot"].hooks is False


def test_bad_screen_patterns_are_errors_at_their_lines(tmp_path: Path) -> None:
    found = errors(tmp_path, """\
        agents:
          mybot:
            command: [mybot]
            screen:
              idle: '(unclosed'
              input: '^mybot> (.*)$'
        """)
    assert any(e.startswith(f"{tmp_path / 'config.yaml'}:5: agents.mybot.screen.idle") and "regular expression" in e for e in found), found
    assert any(":6: agents.mybot.screen.input" in e and "group named input" in e for e in found), found


# --- agent names ---------------------------------------------------------------------------


def test_agents_spawn_would_call_unknown_are_config_errors_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    found = errors(
        tmp_path,
        """\
        defaults: {agent: gpt-9}
        agents:
          my-bot:
            args: [--fast]
          custom: {model: x}
          claude-code: {model: opus}
          wrapped: {command: [my-wrapper]}
        projects:
          web: {path: /src/web, agent: nobody}
          api: {path: /src/api, agent: wrapped}
          shop: {path: /src/shop, agent: codex}
          blog: {path: /src/blog, agent: my-bot}
        log: {level: loud}
        """,
    )

    runnable = "aider, claude-code, codex, goose, opencode, wrapped"
    assert found == [
        f"{path}:1: defaults.agent: no agent named 'gpt-9': use one of {runnable}, or define agents.gpt-9.command",
        f"{path}:3: agents.my-bot: 'my-bot' is not a built-in or installed agent (claude-code, codex, aider, goose, "
        "opencode), so it needs a `command` (a list of arguments like [my-agent, --flag])",
        f"{path}:5: agents.custom: the `custom` agent needs a `command` (a list of arguments like [my-agent, --flag])",
        f"{path}:9: projects.web.agent: no agent named 'nobody': use one of {runnable}, or define agents.nobody.command",
        # Reported with the rest, not instead of them.
        f"{path}:13: log.level: must be one of 'debug', 'info', 'warning' or 'error' (got 'loud')",
    ]


def test_built_in_and_configured_agents_are_accepted_anywhere(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        defaults: {agent: mine}
        agents:
          mine: {command: [my-agent]}
          custom: {command: [other-agent]}
        projects:
          a: {path: /a, agent: custom}
          b: {path: /b, agent: aider}
        """,
    )
    assert config.defaults.agent == "mine"


def test_config_knows_the_same_built_in_agents_as_the_registry() -> None:
    from aod.config import BUILTIN_AGENTS
    from aod.plugins.agent.registry import BUILTIN

    assert sorted(BUILTIN_AGENTS) == sorted(BUILTIN)
