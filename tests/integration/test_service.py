"""`aoctl service install|uninstall`: the files it writes, and what it does when it cannot start aod.

Every run is a real `python -m aoctl` process with HOME, XDG_CONFIG_HOME and XDG_RUNTIME_DIR in a
temp dir, and a PATH that holds no service manager unless a test puts one there on purpose. So no
test can reach the real systemd user manager or launchd of the machine running it.
"""

from __future__ import annotations

import json
import os
import plistlib
import re
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from aoctl import service_units
from aoctl.commands import service
from aoctl.context import Context

REPO = Path(__file__).resolve().parents[2]
VENV_AOD = Path(sys.executable).parent / "aod"
SYSTEMCTL = shutil.which("systemctl")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@dataclass
class User:
    """A throwaway user environment: home, config, runtime dir and a PATH of our choosing."""

    home: Path
    config: Path
    runtime: Path
    bin: Path  # on PATH; empty unless a test links a program into it
    env: dict[str, str]

    @property
    def unit_dir(self) -> Path:
        return self.config / "systemd" / "user"

    @property
    def plist(self) -> Path:
        return self.home / "Library" / "LaunchAgents" / "dev.aod.aod.plist"

    def aoctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aoctl", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def installed_files(self) -> list[Path]:
        """Every file and link under HOME and XDG_CONFIG_HOME."""
        found = [*self.home.rglob("*"), *self.config.rglob("*")]
        return sorted(p for p in found if p.is_file() or p.is_symlink())


@pytest.fixture
def user(tmp_path: Path) -> User:
    home, config, runtime, bin_dir = (tmp_path / n for n in ("home", "config", "run", "bin"))
    for d in (home, config, runtime, bin_dir):
        d.mkdir(mode=0o700)
    # Inherit nothing that could point at a real service manager, daemon or user manager bus.
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(config),
        "XDG_RUNTIME_DIR": str(runtime),
        "PATH": str(bin_dir),
        "LANG": "C.UTF-8",
    }
    return User(home, config, runtime, bin_dir, env)


def _expected_path(user: User) -> str:
    # The installing shell's PATH, with this installation's bin dir appended.
    return f"{user.bin}{os.pathsep}{VENV_AOD.parent}"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# systemd
# ---------------------------------------------------------------------------------------------


def test_install_writes_units_that_run_this_installations_aod(user: User) -> None:
    result = user.aoctl("service", "install", "--no-start", "--platform", "systemd")

    assert result.returncode == 0, result.stderr
    service_unit = user.unit_dir / "aod.service"
    socket_unit = user.unit_dir / "aod.socket"
    assert user.installed_files() == [service_unit, socket_unit]
    assert _mode(service_unit) == 0o644 and _mode(socket_unit) == 0o644

    text = service_unit.read_text()
    assert re.findall(r"^ExecStart=.*$", text, re.M) == [f"ExecStart={VENV_AOD}"]
    assert re.findall(r"^Environment=.*PATH=.*$", text, re.M) == [
        f'Environment="PATH={_expected_path(user)}"'
    ]
    assert "%h/.local/bin" not in text  # the template's defaults are gone
    assert re.findall(r"^KillMode=.*$", text, re.M) == ["KillMode=process"]
    assert socket_unit.read_text() == (REPO / "systemd" / "aod.socket").read_text()

    # Not started: it says exactly what to run.
    assert "systemctl --user daemon-reload" in result.stdout
    assert "systemctl --user enable --now aod.socket aod.service" in result.stdout


def test_second_install_changes_nothing(user: User) -> None:
    assert user.aoctl("service", "install", "--no-start", "--platform", "systemd").returncode == 0
    before = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in user.installed_files()}

    again = user.aoctl("service", "install", "--no-start", "--platform", "systemd")

    assert again.returncode == 0, again.stderr
    assert again.stdout.count("unchanged") == 2
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in user.installed_files()} == before


def test_modified_unit_is_kept_unless_forced(user: User) -> None:
    assert user.aoctl("service", "install", "--no-start", "--platform", "systemd").returncode == 0
    service_unit = user.unit_dir / "aod.service"
    edited = service_unit.read_text().replace("RestartSec=2", "RestartSec=9")
    service_unit.write_text(edited)

    refused = user.aoctl("service", "install", "--no-start", "--platform", "systemd")

    assert refused.returncode == 1
    _no_traceback(refused)
    assert "--force" in refused.stderr
    assert "-RestartSec=9" in refused.stdout and "+RestartSec=2" in refused.stdout  # the diff
    assert service_unit.read_text() == edited

    forced = user.aoctl("service", "install", "--no-start", "--force", "--platform", "systemd")

    assert forced.returncode == 0, forced.stderr
    assert "RestartSec=2" in service_unit.read_text()


def test_dry_run_changes_nothing(user: User) -> None:
    result = user.aoctl("service", "install", "--dry-run", "--platform", "systemd")

    assert result.returncode == 0, result.stderr
    assert user.installed_files() == []
    assert not user.unit_dir.exists()
    assert f"would create {user.unit_dir / 'aod.service'}" in " ".join(result.stdout.split())
    assert f"ExecStart={VENV_AOD}" in result.stdout  # shows what it would write
    assert "would run  systemctl --user enable --now aod.socket aod.service" in result.stdout

    assert user.aoctl("service", "install", "--no-start", "--platform", "systemd").returncode == 0
    installed = {p: p.read_bytes() for p in user.installed_files()}
    for dry in (
        ("service", "uninstall", "--dry-run", "--platform", "systemd"),
        ("service", "install", "--dry-run", "--force", "--platform", "systemd"),
    ):
        assert user.aoctl(*dry).returncode == 0
        assert {p: p.read_bytes() for p in user.installed_files()} == installed


def test_without_systemctl_files_are_written_and_the_commands_printed(user: User) -> None:
    result = user.aoctl("service", "install", "--platform", "systemd")

    assert result.returncode == 1
    _no_traceback(result)
    assert "systemctl is not installed" in result.stderr
    assert "  systemctl --user daemon-reload" in result.stderr
    assert "  systemctl --user enable --now aod.socket aod.service" in result.stderr
    assert (user.unit_dir / "aod.service").is_file() and (user.unit_dir / "aod.socket").is_file()


@pytest.mark.skipif(SYSTEMCTL is None, reason="needs systemctl (a systemd machine)")
def test_unreachable_user_manager_is_explained(user: User) -> None:
    # A real systemctl, but XDG_RUNTIME_DIR is an empty temp dir: no user manager, no bus there.
    assert SYSTEMCTL is not None
    user.env["PATH"] = f"{user.bin}{os.pathsep}{Path(SYSTEMCTL).parent}"

    result = user.aoctl("service", "install", "--platform", "systemd")

    assert result.returncode == 1
    _no_traceback(result)
    assert "cannot reach your systemd user manager" in result.stderr
    assert "  systemctl --user enable --now aod.socket aod.service" in result.stderr
    assert (user.unit_dir / "aod.service").is_file()


def test_uninstall_removes_units_and_enable_links(user: User) -> None:
    assert user.aoctl("service", "install", "--no-start", "--platform", "systemd").returncode == 0
    # What `systemctl --user enable` would have left, and a link that is not ours.
    wants = user.unit_dir / "default.target.wants"
    wants.mkdir()
    (wants / "aod.service").symlink_to(user.unit_dir / "aod.service")
    (user.unit_dir / "other.service").write_text("[Service]\nExecStart=/bin/true\n")
    (wants / "other.service").symlink_to(user.unit_dir / "other.service")

    result = user.aoctl("service", "uninstall", "--platform", "systemd")

    # Without systemctl aod cannot be stopped: files go anyway, and it says how to stop it.
    assert result.returncode == 1
    _no_traceback(result)
    assert "  systemctl --user stop aod.service aod.socket" in result.stderr
    assert not (user.unit_dir / "aod.service").exists()
    assert not (user.unit_dir / "aod.socket").exists()
    assert not (wants / "aod.service").is_symlink()
    assert (wants / "other.service").is_symlink()


def test_uninstall_with_nothing_installed_is_a_no_op(user: User) -> None:
    result = user.aoctl("service", "uninstall", "--platform", "systemd")

    assert result.returncode == 0, result.stderr
    assert "not installed" in result.stdout


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="needs systemd-analyze to verify units")
def test_systemd_accepts_the_installed_units(user: User) -> None:
    assert user.aoctl("service", "install", "--no-start", "--platform", "systemd").returncode == 0

    _assert_systemd_verifies(user, [user.unit_dir / "aod.service", user.unit_dir / "aod.socket"])


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="needs systemd-analyze to verify units")
def test_unusual_paths_are_quoted_for_systemd(user: User, tmp_path: Path) -> None:
    # verify fails with "Command ... is not executable" unless the quoting round-trips.
    odd_dir = tmp_path / "my tools 100%$x"
    odd_dir.mkdir()
    odd_aod = odd_dir / "aod"
    odd_aod.write_text("#!/bin/sh\n")
    odd_aod.chmod(0o755)
    inputs = service_units.RenderInputs(
        aod_executable=odd_aod, path=f"/usr/bin:{odd_dir}", socket_path=user.runtime / "s"
    )
    units = service_units.render_systemd_units(user.unit_dir, inputs)
    for unit in units:
        service_units.write_atomically(unit.path, unit.content)

    _assert_systemd_verifies(user, [u.path for u in units])
    assert f'ExecStart="{odd_dir}/aod"'.replace("%", "%%") in units[0].content
    assert f'Environment="PATH=/usr/bin:{odd_dir}"'.replace("%", "%%") in units[0].content


def test_quotes_in_paths() -> None:
    # systemd refuses them in the program path, whatever the escaping; PATH is escaped.
    with pytest.raises(service_units.ServiceError, match="quote or a backslash"):
        service_units.systemd_exec_path(Path('/opt/"x"/aod'))
    assert service_units.systemd_environment("PATH", '/a"b\\c:/d') == '"PATH=/a\\"b\\\\c:/d"'


def _assert_systemd_verifies(user: User, units: list[Path]) -> None:
    assert SYSTEMD_ANALYZE is not None
    env = {**user.env, "PATH": os.defpath}
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--user", "--man=no", *map(str, units)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Unknown keys and bad values are only warnings to verify; none may concern our units.
    complaints = [line for line in output.splitlines() if "aod." in line]
    assert complaints == [], output


# ---------------------------------------------------------------------------------------------
# launchd
# ---------------------------------------------------------------------------------------------


def test_launchd_agent_runs_this_installations_aod(user: User) -> None:
    result = user.aoctl("service", "install", "--no-start", "--platform", "launchd")

    assert result.returncode == 0, result.stderr
    assert _mode(user.plist) == 0o644
    text = user.plist.read_text()
    body = text[text.index("-->") :]  # the header comment names the placeholders
    assert re.findall(r"@[A-Z_]+@", body) == []
    agent = plistlib.loads(text.encode())
    logs = user.home / "Library" / "Logs" / "aod"
    assert agent["Label"] == "dev.aod.aod"
    assert agent["ProgramArguments"] == [str(VENV_AOD)]
    assert agent["EnvironmentVariables"] == {
        "PATH": _expected_path(user),
        "AOD_SOCKET": str(user.runtime / "ao" / "aod.sock"),  # where aoctl looks
    }
    assert agent["KeepAlive"] == {"SuccessfulExit": False}
    assert agent["AbandonProcessGroup"] is True  # the agents outlive aod
    assert agent["StandardErrorPath"] == str(logs / "aod.log")
    assert agent["WorkingDirectory"] == str(user.home)
    assert logs.is_dir()  # launchd would not create it
    assert f"launchctl bootstrap gui/{os.getuid()} {user.plist}" in result.stdout

    uninstalled = user.aoctl("service", "uninstall", "--platform", "launchd")

    # No launchctl on PATH: nothing is loaded, so there is nothing to stop.
    assert uninstalled.returncode == 0, uninstalled.stderr
    assert not user.plist.exists()
    assert logs.is_dir()  # logs are left alone


def test_launchd_plist_escapes_xml(tmp_path: Path) -> None:
    inputs = service_units.RenderInputs(
        aod_executable=tmp_path / "a&b" / "aod",
        path="/opt/<tools>:/usr/bin",
        socket_path=tmp_path / "s&o" / "aod.sock",
    )
    plist = service_units.render_launchd_plist(tmp_path / "x.plist", tmp_path, inputs)

    agent = plistlib.loads(plist.content.encode())
    assert agent["ProgramArguments"] == [str(tmp_path / "a&b" / "aod")]
    assert agent["EnvironmentVariables"]["PATH"] == "/opt/<tools>:/usr/bin"


def test_launchd_dry_run_as_json(user: User) -> None:
    # Through the click group directly, in-process: the rendering path with --json.
    runner = CliRunner()
    result = runner.invoke(
        service.command,
        ["install", "--dry-run", "--platform", "launchd", "--json"],
        obj=Context(socket_path=user.runtime / "ao" / "aod.sock"),
        env=user.env,
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["dry_run"] is True
    assert report["platform"] == "launchd"
    assert report["files"] == [{"path": str(user.plist), "action": "create", "diff": None}]
    assert report["aod_executable"] == str(VENV_AOD)
    assert ["launchctl", "bootstrap", f"gui/{os.getuid()}", str(user.plist)] in report["to_run"]
    assert user.installed_files() == []


# ---------------------------------------------------------------------------------------------
# Small pieces
# ---------------------------------------------------------------------------------------------


def test_service_path_keeps_absolute_entries_once_and_appends_aod_dir() -> None:
    assert service_units.service_path("/usr/bin::.:bin:/opt/x:/usr/bin", Path("/venv/bin")) == (
        "/usr/bin:/opt/x:/venv/bin"
    )
    assert service_units.service_path("/venv/bin:/usr/bin", Path("/venv/bin")) == (
        "/venv/bin:/usr/bin"
    )


def test_control_characters_are_refused() -> None:
    with pytest.raises(service_units.ServiceError, match="control character"):
        service_units.systemd_environment("PATH", "/usr/bin\nExecStartPre=/bin/evil")


@pytest.mark.parametrize(
    ("system", "expected"), [("linux", "systemd"), ("darwin", "launchd"), ("freebsd14", None)]
)
def test_platform_detection(system: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(service_units.ServiceError, match="own supervisor"):
            service_units.detect_platform(system)
    else:
        assert service_units.detect_platform(system) == expected


def test_the_cli_offers_exactly_the_platforms_the_renderer_knows() -> None:
    from aoctl.commands import service
    from aoctl import service_units

    assert service._PLATFORMS == service_units.PLATFORMS
