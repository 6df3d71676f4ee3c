"""`aod check-config` and `aoctl config check` as real processes on real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

VALID = """\
poll_interval: 2s
log:
  level: debug
api:
  write_timeout: 30s
"""

INVALID = """\
poll_interval: soon
log:
  level: loud
api:
  max_connections: 0
  on: 1
"""


def invalid_lines(path: Path) -> list[str]:
    return [
        f"{path}:1: poll_interval: invalid duration 'soon': expected a number of seconds, "
        "or a number with units like 250ms, 5s, 10m, 2h, 1h30m, 1d",
        f"{path}:3: log.level: must be one of 'debug', 'info', 'warning' or 'error' (got 'loud')",
        f"{path}:5: api.max_connections: must be at least 1 (got 0)",
        f"{path}:6: api.on: YAML 1.1 reads the key 'on' as the boolean true, not as text; "
        "no setting has such a name",
    ]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """This process's environment, minus anything that would point aod at the user's files."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AOD_")}
    clean.update(
        HOME=str(tmp_path / "home"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_STATE_HOME=str(tmp_path / "xdg-state"),
        XDG_RUNTIME_DIR=str(tmp_path / "xdg-run"),
    )
    return clean


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def valid(tmp_path: Path) -> Path:
    path = tmp_path / "valid.yaml"
    path.write_text(VALID)
    return path


@pytest.fixture
def invalid(tmp_path: Path) -> Path:
    path = tmp_path / "invalid.yaml"
    path.write_text(INVALID)
    return path


CHECKERS = [("-m", "aod", "check-config"), ("-m", "aoctl", "config", "check")]


@pytest.mark.parametrize("checker", CHECKERS, ids=["aod", "aoctl"])
def test_a_valid_file_is_ok(env: dict[str, str], valid: Path, checker: tuple[str, ...]) -> None:
    result = run(env, *checker, str(valid))

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{valid}: ok\n"


@pytest.mark.parametrize("checker", CHECKERS, ids=["aod", "aoctl"])
def test_an_invalid_file_lists_every_error_and_exits_1(
    env: dict[str, str], invalid: Path, checker: tuple[str, ...]
) -> None:
    result = run(env, *checker, str(invalid))

    assert result.returncode == 1
    assert result.stdout.splitlines() == invalid_lines(invalid)
    assert "4 error" in result.stderr and str(invalid) in result.stderr
    assert "Traceback" not in result.stderr


def test_aoctl_checks_the_file_aod_would_read(env: dict[str, str], invalid: Path) -> None:
    # No FILE: aod picks its default location, here through AOD_CONFIG.
    env["AOD_CONFIG"] = str(invalid)

    result = run(env, "-m", "aoctl", "config", "check")

    assert result.returncode == 1
    assert result.stdout.splitlines() == invalid_lines(invalid)


def test_aoctl_default_location_is_under_xdg_config_home(
    env: dict[str, str], tmp_path: Path
) -> None:
    default = tmp_path / "xdg-config" / "ao" / "config.yaml"
    default.parent.mkdir(parents=True)
    default.write_text(VALID)

    result = run(env, "-m", "aoctl", "config", "check")

    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{default}: ok\n"


def test_a_missing_file_is_an_error(env: dict[str, str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"

    result = run(env, "-m", "aoctl", "config", "check", str(missing))

    assert result.returncode == 1
    assert result.stdout == f"{missing}: file not found\n"


def test_a_file_named_like_an_option_is_still_a_file(env: dict[str, str], tmp_path: Path) -> None:
    odd = tmp_path / "--json"
    odd.write_text(VALID)

    result = subprocess.run(
        [sys.executable, "-m", "aoctl", "config", "check", "--", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "--json: ok\n"


def test_env_variables_come_from_the_callers_environment(
    env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "env.yaml"
    path.write_text("log:\n  level: ${AOD_TEST_LEVEL}\n")

    unset = run(env, "-m", "aoctl", "config", "check", str(path))
    env["AOD_TEST_LEVEL"] = "warning"
    good = run(env, "-m", "aoctl", "config", "check", str(path))

    assert unset.returncode == 1
    assert unset.stdout == (
        f"{path}:2: log.level: environment variable AOD_TEST_LEVEL is not set "
        "(use ${AOD_TEST_LEVEL:-default} for a fallback)\n"
    )
    assert good.returncode == 0, good.stderr


@pytest.mark.parametrize(
    "argv",
    [("--json", "config", "check"), ("config", "check", "--json")],
    ids=["global", "subcommand"],
)
def test_aoctl_json(
    env: dict[str, str], valid: Path, invalid: Path, argv: tuple[str, ...]
) -> None:
    good = run(env, "-m", "aoctl", *argv, str(valid))
    bad = run(env, "-m", "aoctl", *argv, str(invalid))

    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == {"path": str(valid), "ok": True, "errors": []}
    assert bad.returncode == 1, bad.stderr
    assert json.loads(bad.stdout) == {
        "path": str(invalid),
        "ok": False,
        "errors": invalid_lines(invalid),
    }


def test_aoctl_config_check_loads_no_heavy_module(env: dict[str, str], valid: Path) -> None:
    # aoctl must start fast: the parsing happens in the aod child, never in aoctl itself.
    # `-X importtime` applies to this interpreter only, not to the child it starts.
    result = run(env, "-X", "importtime", "-m", "aoctl", "config", "check", str(valid))

    assert result.returncode == 0, result.stderr
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "aoctl.commands.config" in imported
    assert not {"pydantic", "yaml", "trio", "structlog"} & imported
