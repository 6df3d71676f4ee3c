"""aoctl editor install nvim|emacs [--uninstall] [--print-path]   (local: no RPC)

Copies the editor integration shipped inside the package (`aod/editors/<editor>/`, package
data read with importlib.resources) to the editor's standard place:

    nvim   $XDG_DATA_HOME/nvim/site/pack/ao/start/ao/   (~/.local/share/... by default)
    emacs  ~/.emacs.d/lisp/   (the files of aod/editors/emacs/, e.g. ao.el)

Idempotent: unchanged files are left alone (and it says so), changed ones updated. A manifest
(`.aoctl-editor-<editor>.json`, the files and their SHA-256) remembers what was installed, so
`--uninstall` removes only those files, and only while they are as installed. `--print-path`
prints where the files are in the package, for plugin managers.
Standard library only, so aoctl stays light.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import click

from aoctl import exitcodes

EDITORS = ("nvim", "emacs")
_SKIP = {"__pycache__", "__init__.py", "README.md", "README"}


def source_dir(editor: str) -> Path:
    """The editor's files inside the installed package."""
    from importlib.resources import files

    return Path(str(files("aod.editors") / editor))


def destination(editor: str, environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    if editor == "nvim":
        data = env.get("XDG_DATA_HOME")
        base = Path(data) if data and os.path.isabs(data) else home / ".local" / "share"
        return base / "nvim" / "site" / "pack" / "ao" / "start" / "ao"
    return home / ".emacs.d" / "lisp"


def package_files(editor: str) -> dict[str, bytes]:
    """Relative path -> content of every file the package ships for `editor`."""
    root = source_dir(editor)
    out: dict[str, bytes] = {}
    if not root.is_dir():
        return out
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not any(part in _SKIP or part.endswith(".pyc") for part in rel.parts):
            out[rel.as_posix()] = path.read_bytes()
    return out


def _manifest_path(dest: Path, editor: str) -> Path:
    return dest / f".aoctl-editor-{editor}.json"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(dest: Path, editor: str) -> dict[str, str]:
    try:
        data = json.loads(_manifest_path(dest, editor).read_text())
        files = data.get("files", {})
        return {str(k): str(v) for k, v in files.items()} if isinstance(files, dict) else {}
    except (OSError, ValueError):
        return {}


def install(editor: str, dest: Path) -> list[str]:
    """Copy the package's files to `dest`; returns what was done, one line per change."""
    shipped = package_files(editor)
    if not shipped:
        raise click.ClickException(
            f"this aod has no {editor} files (expected them in {source_dir(editor)}); reinstall aod"
        )
    done: list[str] = []
    previous = _read_manifest(dest, editor)
    for rel, data in shipped.items():
        target = dest / rel
        try:
            current = target.read_bytes()
        except FileNotFoundError:
            current = None
        if current == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".aoctl-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
        done.append(f"{'updated' if current is not None else 'installed'} {target}")
    # Files an earlier version installed that this one no longer ships.
    for rel, sha in previous.items():
        if rel not in shipped:
            target = dest / rel
            try:
                if _sha(target.read_bytes()) == sha:
                    target.unlink()
                    done.append(f"removed {target} (no longer shipped)")
            except FileNotFoundError:
                pass
    manifest = {"editor": editor, "files": {rel: _sha(data) for rel, data in shipped.items()}}
    text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    mpath = _manifest_path(dest, editor)
    try:
        old = mpath.read_text()
    except FileNotFoundError:
        old = None
    if old != text:
        mpath.write_text(text)
    return done


def uninstall(editor: str, dest: Path) -> tuple[list[str], list[str]]:
    """Remove what `install` put at `dest` (per its manifest): (removed, kept because changed)."""
    installed = _read_manifest(dest, editor)
    removed: list[str] = []
    kept: list[str] = []
    dirs: set[Path] = set()
    for rel, sha in sorted(installed.items()):
        target = dest / rel
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            continue
        if _sha(data) != sha:
            kept.append(str(target))
            continue
        target.unlink()
        removed.append(str(target))
        parent = target.parent
        while parent != dest and dest in parent.parents:
            dirs.add(parent)
            parent = parent.parent
    mpath = _manifest_path(dest, editor)
    if mpath.exists():
        mpath.unlink()
    # Directories left empty, deepest first; for nvim the pack/ao/start/ao tree itself too.
    candidates = sorted(dirs, key=lambda p: len(p.parts), reverse=True)
    if editor == "nvim":
        candidates += [dest, dest.parent, dest.parent.parent]
    for d in candidates:
        try:
            d.rmdir()
        except OSError:
            pass
    return removed, kept


@click.group("editor")
def command() -> None:
    """The Neovim plugin and the Emacs package that come with aod (local: no RPC)."""


@command.command("install")
@click.argument("editor", type=click.Choice(EDITORS))
@click.option("--uninstall", is_flag=True, help="Remove what an earlier install put there (only that).")
@click.option("--print-path", is_flag=True, help="Print where the files are in the package (for plugin managers); install nothing.")
def install_command(editor: str, uninstall: bool, print_path: bool) -> None:
    """Install the EDITOR integration where the editor finds it.

    \b
    nvim:  $XDG_DATA_HOME/nvim/site/pack/ao/start/ao/ (then :Ao, :help ao)
    emacs: ~/.emacs.d/lisp/ (then (add-to-list 'load-path "~/.emacs.d/lisp") (require 'ao))
    Running it again changes nothing unless aod's copy changed.
    """
    if print_path:
        path = source_dir(editor)
        if not path.is_dir():
            click.echo(f"aoctl: this aod has no {editor} files (expected {path}); reinstall aod", err=True)
            sys.exit(exitcodes.FAILED)
        click.echo(str(path))
        return
    dest = destination(editor)
    if uninstall:
        removed, kept = uninstall_files(editor, dest)
        for line in removed:
            click.echo(f"removed {line}")
        for line in kept:
            click.echo(f"kept {line}: changed since it was installed; remove it yourself if you want it gone")
        if not removed and not kept:
            click.echo(f"nothing to remove: aoctl installed no {editor} files in {dest}")
        return
    try:
        done = install(editor, dest)
    except OSError as exc:
        raise click.ClickException(f"cannot write {exc.filename or dest}: {exc.strerror or exc}") from None
    if not done:
        click.echo(f"{editor}: already installed and up to date in {dest} (nothing changed)")
        return
    for line in done:
        click.echo(line)
    click.echo(f"{editor}: installed in {dest}" + ("; in Neovim: :Ao, :help ao, :checkhealth ao" if editor == "nvim" else ""))


uninstall_files = uninstall
