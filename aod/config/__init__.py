"""The user config: pydantic models, and YAML loading that reports every error with its line.

A config file is read in three steps, and problems from all of them are collected before
anything is raised, so a user fixes the whole file in one pass:

1. `yaml.compose` builds the node tree (safe: no tags beyond YAML's own, no objects).
2. `_TreeReader` turns the tree into plain data, noting the line of every key and value,
   expanding `${ENV}` in string values and catching what YAML lets through silently
   (duplicate keys, YAML 1.1 keys such as `on` that are booleans, not text).
3. pydantic validates the data; each of its errors is mapped back to a line and rewritten as
   a short sentence.

Every error reads `file:line: key.path: message`.

To add a section: write a `_Section` subclass and add it as a field of `Config` (with a
default, so that running without a config file keeps working). Line numbers, messages and
`changed_keys` need nothing more.
"""

from __future__ import annotations

import datetime
import difflib
import json
import math
import os
import re
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails

from aod.branch_names import MAX_BRANCH_NAME_BYTES, valid_branch_name
from aod.workfiles import DEFAULT_DISPOSABLE, pattern_problem
from aod.config.fields import *  # noqa: F403  (while the split is under way)
from aod.config.yaml_tree import *  # noqa: F403  (while the split is under way)
from aod.config.notifiers import *  # noqa: F403  (while the split is under way)
from aod.config.agents import *  # noqa: F403  (while the split is under way)
from aod.config.reactions import *  # noqa: F403  (while the split is under way)
from aod.config.budgets import *  # noqa: F403  (while the split is under way)
from aod.config.projects import *  # noqa: F403  (while the split is under way)
from aod.config.daemon import *  # noqa: F403  (while the split is under way)




class Config(Section):
    poll_interval: Annotated[PositiveDuration, at_most(HOUR)] = 5.0
    log: LogConfig = Field(default_factory=LogConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    workspace: WorkspaceConfig = Field(default_factory=WorkspaceConfig)
    defaults: DefaultsConfig = Field(default_factory=DefaultsConfig)
    agents: dict[Annotated[str, Field(pattern=AGENT_NAME)], AgentConfig] = Field(default_factory=dict)
    projects: dict[Annotated[str, Field(pattern=PROJECT_NAME)], ProjectConfig] = Field(
        default_factory=dict
    )
    reactions: dict[ReactionKey, ReactionConfig] = Field(default_factory=dict)
    budgets: BudgetConfig = Field(default_factory=BudgetConfig)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    notifiers: Notifiers = Field(default_factory=dict)
    github: GithubConfig = Field(default_factory=GithubConfig)
    redact: RedactConfig = Field(default_factory=RedactConfig)


def changed_keys(old: Config, new: Config) -> list[str]:
    """Top-level keys whose value differs between two configs, in schema order."""
    return [name for name in Config.model_fields if getattr(old, name) != getattr(new, name)]


# ---------------------------------------------------------------------------------------------
# Errors and the public loading API


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
        problems += _agent_name_problems(data, reader)
    if problems:
        problems.sort(key=lambda p: p.line)
        raise ConfigError([p.render(source) for p in problems])
    return result


def _agent_name_problems(data: Any, reader: TreeReader) -> list[Problem]:
    """Agents that `aoctl spawn` would refuse as unknown: a non-built-in `agents.NAME` without a
    `command`, and `defaults.agent` / `projects.NAME.agent` naming an agent defined nowhere.
    Read from the plain data (not the validated model), so these show up beside every other error."""

    def mapping(value: Any) -> dict[Any, Any]:
        return value if isinstance(value, dict) else {}

    top = mapping(data)
    agents = mapping(top.get("agents"))
    builtins = [name for name in BUILTIN_AGENTS if name != "custom"]
    runnable = set(builtins)
    problems = []
    for name, settings in agents.items():
        if mapping(settings).get("command"):
            runnable.add(name)
        elif name not in builtins:
            what = "the `custom` agent" if name == "custom" else f"{name!r} is not a built-in agent ({', '.join(builtins)}), so it"
            message = f"{what} needs a `command` (a list of arguments like [my-agent, --flag])"
            problems.append(Problem(reader.key_lines.get(("agents", name), 1), f"agents.{name}", message))
    named: list[tuple[Loc, Any]] = [(("defaults", "agent"), mapping(top.get("defaults")).get("agent"))]
    for project, settings in mapping(top.get("projects")).items():
        named.append((("projects", project, "agent"), mapping(settings).get("agent")))
    for loc, name in named:
        if not isinstance(name, str) or not re.fullmatch(AGENT_NAME, name):
            continue  # absent, or already wrong as a name
        if name not in runnable and name not in agents:  # (a defined one without command: said above)
            message = f"no agent named {name!r}: use one of {', '.join(sorted(runnable))}, or define agents.{name}.command"
            problems.append(Problem(reader.value_lines.get(loc, 1), dotted(loc), message))
    return problems


def _decode(raw: bytes, source: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        message = f"not UTF-8 text (byte 0x{raw[exc.start]:02x})"
        raise ConfigError([Problem(line, "yaml", message).render(source)]) from None
