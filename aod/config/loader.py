"""Reading a config file: every problem in it reported at once, each as `file:line: key: message`.

A config file is read in three steps, and problems from all of them are collected before
anything is raised, so a user fixes the whole file in one pass:

1. `yaml.compose` builds the node tree (safe: no tags beyond YAML's own, no objects).
2. `TreeReader` (yaml_tree.py) turns the tree into plain data, noting the line of every key and
   value, expanding `${ENV}` in string values and catching what YAML lets through silently.
3. pydantic validates the data against the model (schema.py for `Config`); each of its errors
   is mapped back to a line and rewritten as a short sentence, and the checks across sections
   are added.

One job: that sequence, the error it raises (`ConfigError`), the file read from disk (a missing
file means all defaults) and `aod check-config`. May import: the standard library, yaml,
pydantic, this package's `yaml_tree` and `schema`, and `aod.paths` (lazily, for the default
location).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from aod.config.schema import Config, agent_name_problems
from aod.config.yaml_tree import Problem, TooLarge, TreeReader, is_null, node_line, yaml_problem


class ConfigError(Exception):
    """A config file that cannot be used; `errors` holds one `file:line: key: message` each."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    path: Path
    loaded: bool  # False: there was no file, and `config` is all defaults


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read the config at `path`; a missing file means all defaults. Raises ConfigError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return LoadedConfig(Config(), path, loaded=False)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    text = _decode(raw, str(path))
    return LoadedConfig(parse_config(text, str(path), Config, environ), path, loaded=True)


def check_file(path: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """Every error in the config at `path`, [] when it is valid. Here a missing file is an error."""
    try:
        loaded = load_config(path, environ)
    except ConfigError as exc:
        return exc.errors
    return [] if loaded.loaded else [f"{path}: file not found"]


def check_main(path: Path | None, as_json: bool = False) -> int:
    """`aod check-config [--json] [FILE]`: print the verdict, return the exit status (1: errors)."""
    if path is None:
        from aod.paths import Locations

        path = Locations.resolve().config_file
    errors = check_file(path)
    if as_json:
        print(json.dumps({"path": str(path), "ok": not errors, "errors": errors}, indent=2))
    elif errors:
        for line in errors:
            print(line)
        print(f"{len(errors)} error{'' if len(errors) == 1 else 's'} in {path}", file=sys.stderr)
    else:
        print(f"{path}: ok")
    return 1 if errors else 0


Model = TypeVar("Model", bound=BaseModel)


def parse_config(
    text: str, source: str, model: type[Model], environ: Mapping[str, str] | None = None
) -> Model:
    """Validate YAML `text` against `model`; `source` names the file in error messages.

    Raises ConfigError listing every problem found, sorted by line.
    """
    env = os.environ if environ is None else environ
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError([yaml_problem(exc, text).render(source)]) from None
    except RecursionError:  # PyYAML's composer recurses once per level of nesting
        raise ConfigError([Problem(1, "yaml", "nested too deeply").render(source)]) from None
    reader = TreeReader(env)
    if root is None or is_null(root):  # nothing but comments, or a lone `~`
        data: Any = {}
    elif isinstance(root, yaml.MappingNode):
        try:
            data = reader.read(root, ())
        except TooLarge as exc:
            raise ConfigError([exc.problem.render(source)]) from None
    else:
        kind = "a list" if isinstance(root, yaml.SequenceNode) else "a single value"
        message = f"the file must be a mapping of `key: value` lines, not {kind}"
        raise ConfigError([Problem(node_line(root), "", message).render(source)])
    problems = list(reader.problems)
    try:
        result = model.model_validate(data)
    except ValidationError as exc:
        fresh = [error for error in exc.errors() if not reader.reported(error["loc"])]
        problems += [reader.explain(error, model) for error in fresh]
    if model is Config:
        problems += agent_name_problems(data, reader)
    if problems:
        problems.sort(key=lambda p: p.line)
        raise ConfigError([p.render(source) for p in problems])
    return result


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise ConfigError([Problem(line, "yaml", message).render(source)]) from None
