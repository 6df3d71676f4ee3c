"""`notifiers:` in the config: every kind's keys, defaults, and errors that point at the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from aod.config import (
    Config,
    ConfigError,
    DesktopNotifierConfig,
    NtfyNotifierConfig,
    SlackNotifierConfig,
    WebhookNotifierConfig,
    changed_keys,
    load_config,
)

from tests.unit.test_config import load, write

SLACK_URL = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"


def errors(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    prefix = f"{path}:"
    assert all(line.startswith(prefix) for line in caught.value.errors)
    return [line.removeprefix(prefix) for line in caught.value.errors]


def test_no_notifiers_by_default(tmp_path: Path) -> None:
    assert Config().notifiers == {}
    assert load(tmp_path, "notifiers:\n").notifiers == {}  # every entry commented out


def test_every_kind_and_key_is_read(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        notifiers:
          desk:
            kind: desktop
            priorities: [urgent, action]
          hook:
            kind: webhook
            url: https://example.com/aod
            secret: ${HOOK_SECRET}
            headers:
              Authorization: Bearer abc
            timeout: 2s
            retries: 0
          team:
            kind: slack
            url: ${SLACK_URL}
          chat:
            kind: discord
            url: https://discord.com/api/webhooks/1/t
          phone:
            kind: ntfy
            topic: aod-7f3k
            token: tk_123
          phone2:
            kind: ntfy
            url: http://ntfy.lan:8080
            topic: x
          audit:
            kind: log
        """,
        {"HOOK_SECRET": "s3cret", "SLACK_URL": SLACK_URL},
    )

    n = config.notifiers
    assert isinstance(n["desk"], DesktopNotifierConfig) and n["desk"].priorities == ["urgent", "action"]
    hook = n["hook"]
    assert isinstance(hook, WebhookNotifierConfig)
    assert (hook.url, hook.headers, hook.timeout, hook.retries) == (
        "https://example.com/aod", {"Authorization": "Bearer abc"}, 2.0, 0,
    )
    assert hook.secret is not None and hook.secret.get_secret_value() == "s3cret"
    team = n["team"]
    assert isinstance(team, SlackNotifierConfig) and team.url.get_secret_value() == SLACK_URL
    assert n["chat"].kind == "discord"
    phone = n["phone"]
    assert isinstance(phone, NtfyNotifierConfig)
    assert (phone.url, phone.topic) == ("https://ntfy.sh", "aod-7f3k")
    assert phone.token is not None and phone.token.get_secret_value() == "tk_123"
    assert n["phone2"].url == "http://ntfy.lan:8080"  # type: ignore[union-attr]
    assert n["audit"].kind == "log"
    # The defaults every kind shares.
    assert (team.priorities, team.timeout, team.retries) == (["urgent", "action", "warning", "info"], 10.0, 4)


def test_secrets_do_not_show_in_the_config_s_repr(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        """
        notifiers:
          hook: {kind: webhook, url: "https://e.com/", secret: hush-1, headers: {Authorization: Bearer hush-2}}
          team: {kind: slack, url: "https://hooks.slack.com/services/T/B/hush-3"}
          phone: {kind: ntfy, topic: t, token: hush-4}
        """,
    )

    shown = repr(config) + str(config)
    assert "hush" not in shown
    assert config.notifiers["hook"].secrets() == ["hush-1", "Bearer hush-2"]


def test_a_notifier_change_is_a_changed_key() -> None:
    old = Config.model_validate({"notifiers": {"team": {"kind": "slack", "url": SLACK_URL}}})
    same = Config.model_validate({"notifiers": {"team": {"kind": "slack", "url": SLACK_URL}}})
    new = Config.model_validate({"notifiers": {"team": {"kind": "slack", "url": SLACK_URL + "2"}}})

    assert changed_keys(old, same) == []
    assert changed_keys(old, new) == ["notifiers"]


def test_errors_inside_an_entry_name_the_key_as_written_and_its_line(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        """\
        notifiers:
          team:
            kind: slack
            urll: https://hooks.slack.com/x
          hook:
            kind: webhook
            url: ftp://example.com
            retries: 30
            timeout: 2m
            priorities: [urgent, loud]
          phone:
            kind: ntfy
            topic: "has spaces"
            url: https://ntfy.sh
        """,
    )

    assert found == [
        "3: notifiers.team.url: required key is missing",  # the entry's mapping starts there
        "4: notifiers.team.urll: unknown key; did you mean 'url'?",
        "7: notifiers.hook.url: must be an http:// or https:// URL with a host",
        "8: notifiers.hook.retries: must be at most 20 (got 30)",
        "9: notifiers.hook.timeout: must be at most 1m (got 2m)",
        "10: notifiers.hook.priorities[1]: must be one of 'urgent', 'action', 'warning' or 'info' (got 'loud')",
        "13: notifiers.phone.topic: must be 1 to 64 letters, digits, `_` or `-`",
    ]


def test_a_key_of_another_kind_is_an_error_that_lists_this_kind_s_keys(tmp_path: Path) -> None:
    found = errors(tmp_path, "notifiers:\n  team:\n    kind: slack\n    url: https://h.com/x\n    topic: t\n")

    assert found == [
        "5: notifiers.team.topic: unknown key; a slack notifier's keys: kind, priorities, timeout, retries, url"
    ]


def test_an_unknown_key_holding_a_mapping_points_at_the_key_itself(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        "notifiers:\n  hook:\n    kind: webhook\n    url: https://h.com/x\n    header:\n      A: b\n",
    )

    assert found == ["5: notifiers.hook.header: unknown key"]


def test_a_missing_or_unknown_kind(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        """\
        notifiers:
          a:
            url: https://h.com/x
          b:
            kind: slak
          c:
            kind:
          d:
          e: https://h.com/x
        """,
    )

    kinds = "'log', 'desktop', 'webhook', 'slack', 'discord' or 'ntfy'"
    assert found == [
        "3: notifiers.a.kind: required key is missing",
        f"5: notifiers.b.kind: must be one of {kinds} (got 'slak')",
        "7: notifiers.c.kind: is empty; give it a value or remove the key",
        "8: notifiers.d: is empty; give it a value or remove the key",
        "9: notifiers.e: must be a section of `key: value` lines (got 'https://h.com/x')",
    ]


def test_names_are_checked_and_log_is_taken(tmp_path: Path) -> None:
    found = errors(tmp_path, "notifiers:\n  Team Chat:\n    kind: desktop\n  log:\n    kind: desktop\n")

    assert found == [
        "3: notifiers.Team Chat: a notifier name is lowercase letters, digits, `.`, `_` and `-` (up to 63)",
        "5: notifiers.log: `log` is the built-in notifier (always on); give this one another name",
    ]


def test_an_expanded_secret_is_never_echoed(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        "notifiers:\n  team:\n    kind: slack\n    url: ${SLACK_URL}\n  phone:\n    kind: ntfy\n    topic: t\n    token: ${TOKEN}\n",
        {"SLACK_URL": "hooks.slack.com/services/T/B/SECRETPART", "TOKEN": "tk_SECRET two"},
    )

    assert found == [
        "4: notifiers.team.url: must be an http:// or https:// URL with a host",
        "8: notifiers.phone.token: must be one word of printable ASCII (an ntfy access token, tk_...)",
    ]
    assert not any("SECRET" in line for line in found)


def test_headers_cannot_replace_aod_s_own_or_smuggle_lines(tmp_path: Path) -> None:
    found = errors(
        tmp_path,
        """\
        notifiers:
          a:
            kind: webhook
            url: https://h.com/x
            headers: {X-AO-Signature: forged}
          b:
            kind: webhook
            url: https://h.com/x
            headers: {"Bad Name": x}
          c:
            kind: webhook
            url: https://h.com/x
            headers: {Authorization: "Bearer one\\r\\nX-Evil: 1"}
        """,
    )

    assert found == [
        "5: notifiers.a.headers: header 'X-AO-Signature' is set by aod and cannot be replaced",
        "9: notifiers.b.headers: header name 'Bad Name' is not valid (letters, digits and -)",
        "13: notifiers.c.headers: the value of header 'Authorization' must be printable ASCII on one line",
    ]


def test_empty_priorities_is_an_error(tmp_path: Path) -> None:
    found = errors(tmp_path, "notifiers:\n  a:\n    kind: desktop\n    priorities: []\n")

    assert found == ["4: notifiers.a.priorities: list at least one priority (or remove this notifier)"]


def test_other_sections_errors_are_unchanged_beside_notifier_errors(tmp_path: Path) -> None:
    found = errors(tmp_path, "poll_interval: soon\nnotifiers:\n  a:\n    kind: desktop\n    retries: -1\n")

    assert found[1:] == ["5: notifiers.a.retries: must be at least 0 (got -1)"]
    assert found[0].startswith("1: poll_interval: invalid duration")
