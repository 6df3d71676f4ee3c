"""Start aod at login: render, install and remove its systemd user units or launchd agent.

The click layer (aoctl/commands/service.py) only parses options and prints; everything else is
here, so tests can render for either platform on any machine. Standard library only (plus
`aod.protocol` for the socket path): aoctl must start fast.

The templates are the files in systemd/ and launchd/ at the top of the repository. The wheel
carries a copy at aoctl/units/ (see pyproject.toml); a source checkout is read directly.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib.resources
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from aod.protocol import default_socket_path

PlatformName = Literal["systemd", "launchd"]
PLATFORMS: tuple[PlatformName, ...] = ("systemd", "launchd")

SYSTEMD_SERVICE = "aod.service"
SYSTEMD_SOCKET = "aod.socket"
LAUNCHD_LABEL = "dev.aod.aod"
UNIT_FILE_MODE = 0o644  # launchd refuses group- or world-writable plists; systemd does not care.

# `enable --now` waits for aod's READY=1 (TimeoutStartSec=60) and `disable --now` for a graceful
# stop (TimeoutStopSec=30); the margins cover a slow manager, not a hung one.
QUICK_TIMEOUT_S = 30.0
START_STOP_TIMEOUT_S = 120.0

_PLACEHOLDER = re.compile(r"@([A-Z][A-Z_]*)@")


class ServiceError(Exception):
    """Something the user has to fix. The message says what failed and what to do."""


# ---------------------------------------------------------------------------------------------
# What the rendered files depend on
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UserDirs:
    """Where a user's service files go."""

    home: Path
    config_home: Path
    uid: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> UserDirs:
        env = os.environ if environ is None else environ
        home = Path(env.get("HOME") or Path.home())
        xdg_config = env.get("XDG_CONFIG_HOME", "")
        config_home = Path(xdg_config) if Path(xdg_config).is_absolute() else home / ".config"
        return cls(home=home, config_home=config_home, uid=os.getuid())


@dataclass(frozen=True)
class RenderInputs:
    """What the installing shell knows and the service manager would not."""

    aod_executable: Path
    path: str  # PATH for aod and, through it, tmux and the agents
    socket_path: Path  # where aoctl looks for aod (pinned in the launchd agent)

    @classmethod
    def capture(cls, environ: Mapping[str, str] | None = None) -> RenderInputs:
        env = os.environ if environ is None else environ
        aod = find_aod_executable()
        return cls(
            aod_executable=aod,
            path=service_path(env.get("PATH", os.defpath), aod.parent),
            socket_path=Path(default_socket_path(dict(env))),
        )


def find_aod_executable() -> Path:
    """The `aod` installed with this aoctl, else the first on PATH.

    Not resolved through symlinks on purpose: a pipx/uv shim in ~/.local/bin keeps pointing at
    the current version after an upgrade, while its target path would not.
    """
    beside_python = Path(sys.executable).parent / "aod"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return beside_python.absolute()
    on_path = shutil.which("aod")
    if on_path:
        return Path(on_path).absolute()
    raise ServiceError(
        f"cannot find the `aod` executable: it is not beside {sys.executable} and not on PATH.\n"
        "Install aod into this environment (`pip install aod`, or `pipx install aod`), "
        "then run `aoctl service install` again."
    )


def service_path(current: str, aod_dir: Path) -> str:
    """The PATH aod runs with: the installing shell's, minus entries that cannot work there.

    Relative entries ('', '.', 'bin') would resolve against aod's working directory, so they go.
    aod's own directory is added when missing, so agent hooks find the matching `aoctl`; it is
    appended, not prepended, because it is usually a virtualenv whose `python` must not shadow
    the one the agents expect in your repositories.
    """
    entries: list[str] = []
    for entry in current.split(os.pathsep):
        if entry and os.path.isabs(entry) and entry not in entries:
            entries.append(entry)
    if str(aod_dir) not in entries:
        entries.append(str(aod_dir))
    return os.pathsep.join(entries)


@dataclass(frozen=True)
class UnitFile:
    path: Path
    content: str


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


def read_template(folder: Literal["systemd", "launchd"], name: str) -> str:
    """The packaged copy (wheel) first, then the source checkout (editable install)."""
    packaged = importlib.resources.files("aoctl") / "units" / folder / name
    if packaged.is_file():
        return packaged.read_text(encoding="utf-8")
    checkout = Path(__file__).resolve().parent.parent / folder / name
    if checkout.is_file():
        return checkout.read_text(encoding="utf-8")
    raise ServiceError(
        f"aoctl's template {folder}/{name} is missing (looked inside the aoctl package and at "
        f"{checkout}). The installation is incomplete: reinstall aod."
    )


def _reject_control_characters(what: str, value: str) -> None:
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ServiceError(f"{what} contains a control character, which a unit file cannot hold: {value!r}")


def _systemd_quoted(value: str) -> str:
    """A double-quoted systemd string: backslash and quote escaped, '%' not a specifier."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def systemd_exec_path(path: Path) -> str:
    """`path` as the program of ExecStart=: quoted when needed, '%' escaped.

    systemd expands $VAR in the arguments, not in the program path, so '$' stays as it is;
    and it refuses a program path with quotes or backslashes, whatever the escaping.
    """
    text = str(path)
    _reject_control_characters("the aod path", text)
    if any(c in text for c in "\"'\\"):
        raise ServiceError(
            f"systemd cannot run a program whose path holds a quote or a backslash: {text}\n"
            "Install aod somewhere without them (e.g. `pipx install aod`) and run this again."
        )
    if re.fullmatch(r"[A-Za-z0-9_./+,:=@-]+", text):
        return text
    return _systemd_quoted(text)


def systemd_environment(name: str, value: str) -> str:
    """An Environment= assignment. systemd does not expand $VAR there, only %x specifiers."""
    _reject_control_characters(name, value)
    return _systemd_quoted(f"{name}={value}")


def _replace_one_line(text: str, pattern: str, replacement: str, template: str) -> str:
    new_text, count = re.subn(pattern, lambda _m: replacement, text, flags=re.MULTILINE)
    if count != 1:
        raise ServiceError(
            f"template {template} should have exactly one line matching {pattern!r}, "
            f"has {count}: the installation is broken, reinstall aod."
        )
    return new_text


def render_systemd_units(unit_dir: Path, inputs: RenderInputs) -> list[UnitFile]:
    """The two user units, with ExecStart= and PATH rewritten for this machine.

    The templates stay valid units as they are (see their header), so the installer rewrites
    two directives instead of filling placeholders.
    """
    service = read_template("systemd", SYSTEMD_SERVICE)
    service = _replace_one_line(
        service,
        r"^ExecStart=.*$",
        f"ExecStart={systemd_exec_path(inputs.aod_executable)}",
        f"systemd/{SYSTEMD_SERVICE}",
    )
    service = _replace_one_line(
        service,
        r'^Environment="?PATH=.*$',
        f"Environment={systemd_environment('PATH', inputs.path)}",
        f"systemd/{SYSTEMD_SERVICE}",
    )
    socket = read_template("systemd", SYSTEMD_SOCKET)
    return [
        UnitFile(unit_dir / SYSTEMD_SERVICE, service),
        UnitFile(unit_dir / SYSTEMD_SOCKET, socket),
    ]


def launchd_log_dir(home: Path) -> Path:
    return home / "Library" / "Logs" / "aod"


def render_launchd_plist(plist_path: Path, home: Path, inputs: RenderInputs) -> UnitFile:
    """The LaunchAgent with its @PLACEHOLDERS@ filled in (XML-escaped)."""
    template = read_template("launchd", f"{LAUNCHD_LABEL}.plist")
    values = {
        "AOD_EXECUTABLE": str(inputs.aod_executable),
        "PATH": inputs.path,
        "AOD_SOCKET": str(inputs.socket_path),
        "HOME": str(home),
        "LOG_DIR": str(launchd_log_dir(home)),
    }
    for name, value in values.items():
        _reject_control_characters(name, value)
    # The header comment documents the placeholders by name; fill in only what follows it.
    header_end = template.index("-->") + len("-->") if "-->" in template else 0
    header, body = template[:header_end], template[header_end:]

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ServiceError(f"launchd template has an unknown placeholder @{name}@: reinstall aod.")
        return xml_escape(values[name])

    # Imported here: xml.sax pulls in urllib, and every aoctl start would pay for it.
    from xml.sax.saxutils import escape as xml_escape

    content = header + _PLACEHOLDER.sub(fill, body)
    _check_plist(content)
    return UnitFile(plist_path, content)


def _check_plist(content: str) -> None:
    import plistlib  # only on this path: it pulls in the XML parser

    try:
        plistlib.loads(content.encode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - any parse failure means the same thing here
        raise ServiceError(f"the rendered launchd plist is not valid ({exc}): please report this bug.") from exc


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    timeout_s: float = QUICK_TIMEOUT_S

    def __str__(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class CommandOutcome:
    command: Command
    ok: bool
    detail: str  # the command's own error output, or why it could not run
    missing: bool = False  # the program is not installed


def run_command(command: Command) -> CommandOutcome:
    program = shutil.which(command.argv[0])
    if program is None:
        return CommandOutcome(command, ok=False, detail=f"{command.argv[0]}: not found on PATH", missing=True)
    try:
        completed = subprocess.run(
            [program, *command.argv[1:]],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=command.timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return CommandOutcome(command, ok=False, detail=f"no answer within {command.timeout_s:g} s")
    except OSError as exc:
        return CommandOutcome(command, ok=False, detail=str(exc))
    output = (completed.stderr.strip() or completed.stdout.strip())
    if completed.returncode != 0 and not output:
        output = f"exit status {completed.returncode}"
    return CommandOutcome(command, ok=completed.returncode == 0, detail=output)


# ---------------------------------------------------------------------------------------------
# The two service managers
# ---------------------------------------------------------------------------------------------


class ServiceManager(Protocol):
    name: PlatformName
    description: str  # "systemd user units", for messages

    def unit_paths(self) -> list[Path]: ...
    def render(self, inputs: RenderInputs) -> list[UnitFile]: ...
    def directories_to_create(self) -> list[Path]: ...
    def start_commands(self, files_changed: bool) -> list[Command]: ...
    def stop_commands(self) -> list[Command]: ...
    def after_removal_commands(self) -> list[Command]: ...
    def manual_stop_commands(self) -> list[Command]: ...
    def leftovers(self) -> list[Path]: ...
    def explain_failure(self, outcome: CommandOutcome, first: bool) -> str: ...
    def started_note(self) -> str: ...


class SystemdUser:
    name: PlatformName = "systemd"
    description = "systemd user units"

    def __init__(self, dirs: UserDirs) -> None:
        self.unit_dir = dirs.config_home / "systemd" / "user"

    def unit_paths(self) -> list[Path]:
        return [self.unit_dir / SYSTEMD_SERVICE, self.unit_dir / SYSTEMD_SOCKET]

    def render(self, inputs: RenderInputs) -> list[UnitFile]:
        return render_systemd_units(self.unit_dir, inputs)

    def directories_to_create(self) -> list[Path]:
        return []

    def start_commands(self, files_changed: bool) -> list[Command]:
        # The service is started too, not only the socket: aod's tick watches agents and PRs
        # whether or not a client ever connects.
        return [
            Command(("systemctl", "--user", "daemon-reload")),
            Command(
                ("systemctl", "--user", "enable", "--now", SYSTEMD_SOCKET, SYSTEMD_SERVICE),
                START_STOP_TIMEOUT_S,
            ),
        ]

    def stop_commands(self) -> list[Command]:
        return [
            Command(
                ("systemctl", "--user", "disable", "--now", SYSTEMD_SERVICE, SYSTEMD_SOCKET),
                START_STOP_TIMEOUT_S,
            )
        ]

    def after_removal_commands(self) -> list[Command]:
        return [Command(("systemctl", "--user", "daemon-reload"))]

    def manual_stop_commands(self) -> list[Command]:
        # Once the files are gone, `disable` has nothing to act on; `stop` still works.
        return [
            Command(("systemctl", "--user", "stop", SYSTEMD_SERVICE, SYSTEMD_SOCKET)),
            Command(("systemctl", "--user", "daemon-reload")),
        ]

    def leftovers(self) -> list[Path]:
        """`enable` symlinks to our units, which `disable` removes when systemctl can run."""
        ours = set(self.unit_paths())
        found: list[Path] = []
        for link in sorted(self.unit_dir.glob("*.wants/aod.*")):
            target = Path(os.path.normpath(link.parent / os.readlink(link)))
            if link.is_symlink() and target in ours:
                found.append(link)
        return found

    def explain_failure(self, outcome: CommandOutcome, first: bool) -> str:
        if outcome.missing:
            return "systemctl is not installed: this system does not run systemd."
        if first:
            return (
                f"cannot reach your systemd user manager ({outcome.detail}). This happens over "
                "ssh or su without a login session, and in containers."
            )
        return (
            f"`{outcome.command}` failed: {outcome.detail}\n"
            "See why with: journalctl --user -u aod -n 50"
        )

    def started_note(self) -> str:
        return "aod is running and starts at login. Logs: journalctl --user -u aod -f"


class LaunchAgent:
    name: PlatformName = "launchd"
    description = "launchd agent"

    def __init__(self, dirs: UserDirs) -> None:
        self.home = dirs.home
        self.plist = dirs.home / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        self.domain = f"gui/{dirs.uid}"
        self.target = f"{self.domain}/{LAUNCHD_LABEL}"

    def unit_paths(self) -> list[Path]:
        return [self.plist]

    def render(self, inputs: RenderInputs) -> list[UnitFile]:
        return [render_launchd_plist(self.plist, self.home, inputs)]

    def directories_to_create(self) -> list[Path]:
        return [launchd_log_dir(self.home)]  # launchd does not create StandardErrorPath's dir

    def _loaded(self) -> bool:
        """Read-only probe: is the agent bootstrapped in the GUI domain?"""
        return run_command(Command(("launchctl", "print", self.target))).ok

    def start_commands(self, files_changed: bool) -> list[Command]:
        loaded = self._loaded()
        # `enable` clears a "disabled" override left by an earlier `launchctl disable`;
        # bootstrap of a disabled service fails. bootstrap of a loaded one fails too, so a
        # changed plist is swapped in with bootout first.
        commands = [Command(("launchctl", "enable", self.target))]
        if loaded and files_changed:
            commands.append(Command(("launchctl", "bootout", self.target), START_STOP_TIMEOUT_S))
        if not loaded or files_changed:
            commands.append(Command(("launchctl", "bootstrap", self.domain, str(self.plist))))
        return commands

    def stop_commands(self) -> list[Command]:
        if not self._loaded():
            return []
        return [Command(("launchctl", "bootout", self.target), START_STOP_TIMEOUT_S)]

    def after_removal_commands(self) -> list[Command]:
        return []

    def manual_stop_commands(self) -> list[Command]:
        return [Command(("launchctl", "bootout", self.target))]

    def leftovers(self) -> list[Path]:
        return []

    def explain_failure(self, outcome: CommandOutcome, first: bool) -> str:
        if outcome.missing:
            return "launchctl is not installed: this is not macOS."
        return f"`{outcome.command}` failed: {outcome.detail}\nSee {launchd_log_dir(self.home)}/aod.log"

    def started_note(self) -> str:
        return f"aod is running and starts at login. Logs: {launchd_log_dir(self.home)}/aod.log"


def detect_platform(system: str = sys.platform) -> PlatformName:
    if system == "darwin":
        return "launchd"
    if system.startswith("linux"):
        return "systemd"
    raise ServiceError(
        f"`aoctl service` knows systemd (Linux) and launchd (macOS), not {system}. "
        "Run `aod` under your own supervisor; docs/operations.md says what it needs."
    )


def service_manager(platform: PlatformName, dirs: UserDirs) -> ServiceManager:
    return SystemdUser(dirs) if platform == "systemd" else LaunchAgent(dirs)


# ---------------------------------------------------------------------------------------------
# Install and uninstall
# ---------------------------------------------------------------------------------------------

FileAction = Literal["create", "update", "unchanged", "conflict", "remove", "absent"]


@dataclass(frozen=True)
class FileChange:
    path: Path
    action: FileAction
    content: str | None = None  # what install writes (create/update/conflict)
    diff: str | None = None  # installed → new (update/conflict)


@dataclass
class Report:
    """What an install or uninstall did (or, with dry_run, would do)."""

    operation: Literal["install", "uninstall"]
    platform: PlatformName
    description: str
    dry_run: bool
    files: list[FileChange] = field(default_factory=list)
    directories: list[Path] = field(default_factory=list)
    ran: list[CommandOutcome] = field(default_factory=list)
    to_run: list[Command] = field(default_factory=list)  # not run: dry run, --no-start, failure
    removed_links: list[Path] = field(default_factory=list)
    inputs: RenderInputs | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "operation": self.operation,
            "platform": self.platform,
            "dry_run": self.dry_run,
            "aod_executable": str(self.inputs.aod_executable) if self.inputs else None,
            "environment_path": self.inputs.path if self.inputs else None,
            "files": [
                {"path": str(f.path), "action": f.action, "diff": f.diff} for f in self.files
            ],
            "directories": [str(d) for d in self.directories],
            "ran": [
                {"command": list(o.command.argv), "ok": o.ok, "detail": o.detail} for o in self.ran
            ],
            "to_run": [list(c.argv) for c in self.to_run],
            "removed_links": [str(p) for p in self.removed_links],
            "error": self.error,
            "notes": self.notes,
        }


def compare(unit: UnitFile, force: bool) -> FileChange:
    if not unit.path.exists() and not unit.path.is_symlink():
        return FileChange(unit.path, "create", content=unit.content)
    try:
        installed = unit.path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise ServiceError(f"cannot read {unit.path}: {exc.strerror}") from exc
    if installed == unit.content:
        return FileChange(unit.path, "unchanged")
    diff = "".join(
        difflib.unified_diff(
            installed.splitlines(keepends=True),
            unit.content.splitlines(keepends=True),
            fromfile=f"{unit.path} (installed)",
            tofile=f"{unit.path} (aoctl would write)",
        )
    )
    return FileChange(unit.path, "update" if force else "conflict", content=unit.content, diff=diff)


def write_atomically(path: Path, content: str, mode: int = UNIT_FILE_MODE) -> None:
    """Old file or new file, never a torn one: temp file in the same dir, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(content)
            f.flush()
            os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _run_in_order(manager: ServiceManager, commands: Sequence[Command], report: Report) -> bool:
    """Run until one fails; the failure is explained in report.error. Returns: all succeeded."""
    for command in commands:
        reached_manager_before = any(o.ok for o in report.ran)
        outcome = run_command(command)
        report.ran.append(outcome)
        if not outcome.ok:
            report.error = manager.explain_failure(outcome, first=not reached_manager_before)
            return False
    return True


def install(
    manager: ServiceManager,
    inputs: RenderInputs,
    *,
    force: bool = False,
    dry_run: bool = False,
    start: bool = True,
) -> Report:
    report = Report("install", manager.name, manager.description, dry_run, inputs=inputs)
    report.files = [compare(unit, force) for unit in manager.render(inputs)]
    report.directories = [d for d in manager.directories_to_create() if not d.is_dir()]
    conflicts = [f for f in report.files if f.action == "conflict"]
    if conflicts:
        names = ", ".join(str(f.path) for f in conflicts)
        report.error = (
            f"{names} differ{'s' if len(conflicts) == 1 else ''} from what aoctl would write "
            "(diff above). Nothing was changed. Re-run with --force to overwrite."
        )
        return report

    changed = any(f.action in ("create", "update") for f in report.files)
    commands = manager.start_commands(files_changed=changed)
    if dry_run:
        report.to_run = commands if start else []
        return report

    for change in report.files:
        if change.content is not None and change.action in ("create", "update"):
            write_atomically(change.path, change.content)
    for directory in report.directories:
        directory.mkdir(parents=True, exist_ok=True)
    if not start:
        report.to_run = commands
        return report
    if not _run_in_order(manager, commands, report):
        failed = report.ran[-1].command
        report.to_run = commands[commands.index(failed):]
    else:
        report.notes.append(manager.started_note())
        if any(f.action == "update" for f in report.files) and manager.name == "systemd":
            report.notes.append(
                "If aod was already running, it still runs the old unit; restart it to switch "
                "(the agents keep running): systemctl --user restart aod.service"
            )
    return report


def uninstall(manager: ServiceManager, *, dry_run: bool = False) -> Report:
    report = Report("uninstall", manager.name, manager.description, dry_run)
    report.files = [
        FileChange(path, "remove" if path.exists() or path.is_symlink() else "absent")
        for path in manager.unit_paths()
    ]
    if not any(f.action == "remove" for f in report.files):
        report.notes.append(f"aod's {manager.description} are not installed; nothing to do.")
        return report

    stop = manager.stop_commands()
    reload = manager.after_removal_commands()
    if dry_run:
        report.to_run = [*stop, *reload]
        return report

    stopped = _run_in_order(manager, stop, report)
    # Removed even when aod could not be stopped: the user asked for it gone, and a stop can
    # still be done by hand (below); leaving the files would restart aod at the next login.
    for change in report.files:
        if change.action == "remove":
            change.path.unlink(missing_ok=True)
    report.removed_links = manager.leftovers()
    for link in report.removed_links:
        link.unlink()
    if not stopped:
        report.to_run = manager.manual_stop_commands()
    elif not _run_in_order(manager, reload, report):
        report.to_run = reload
    report.notes.append(
        "Left alone: aod's state (~/.local/state/ao or $XDG_STATE_HOME/ao), its config "
        "(~/.config/ao) and its logs. Agents already running in tmux keep running: "
        "see them with `tmux -L ao ls`."
    )
    return report
