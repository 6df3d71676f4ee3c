"""docs/config.md documents the config as the models define it: every key, no removed one, and
the defaults the models have."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from aod.config import REACTION_KEYS, Config, format_duration

DOC = Path(__file__).parents[2] / "docs" / "config.md"
# How the docs write the part of a key the user chooses.
PLACEHOLDERS = {"reactions": "KEY", "prices": "MODEL"}  # agents, projects, notifiers: NAME


def _sections(annotation: Any) -> list[type[BaseModel]]:
    """The models inside an annotation (through Annotated, unions and a union of notifier kinds)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _sections(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [model for arg in typing.get_args(annotation) for model in _sections(arg)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _top_level_sections() -> set[type[BaseModel]]:
    found: set[type[BaseModel]] = set()
    for field in Config.model_fields.values():
        annotation = field.annotation
        if typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        found.update(_sections(annotation))
    return found


def _model_keys(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[tuple[str, FieldInfo]]:
    """Every key a file may set, as the docs write it (`agents.NAME.screen.idle`).

    A section that is also a top-level one (`reactions`, `budgets`) is documented there; inside a
    project it is one key of its own (`projects.NAME.budgets`)."""
    top_level = _top_level_sections()
    for name, field in model.model_fields.items():
        key = prefix + name
        annotation, nested_prefix = field.annotation, f"{key}."
        if typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
            nested_prefix = f"{key}.{PLACEHOLDERS.get(name, 'NAME')}."
        sections = _sections(annotation)
        if sections and (not prefix or not top_level.intersection(sections)):
            for section in sections:
                yield from _model_keys(section, nested_prefix)
        else:
            yield key, field


def _documented() -> dict[str, list[str]]:
    """Key -> the default cells of its rows, from the tables under `## Keys`."""
    text = DOC.read_text()
    keys_part = text[text.index("\n## Keys\n") : text.index("\n## Durations\n")]
    rows: dict[str, list[str]] = {}
    for line in keys_part.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"a row of docs/config.md is not `key | type | default | meaning`: {line[:80]}"
        for key in re.findall(r"`([^`]+)`", cells[0]):
            rows.setdefault(key, []).append(cells[2])
    return rows


def test_every_config_key_is_documented_and_no_other() -> None:
    model_keys = {key for key, _ in _model_keys()}
    documented = set(_documented())
    assert not model_keys - documented, f"keys missing from docs/config.md: {sorted(model_keys - documented)}"
    assert not documented - model_keys, f"docs/config.md documents keys no model has: {sorted(documented - model_keys)}"


def test_the_documented_defaults_are_the_models_defaults() -> None:
    documented = _documented()
    for key, field in _model_keys():
        default = field.default
        if isinstance(default, bool):
            written = {"true" if default else "false"}
        elif isinstance(default, int | str | Path):
            written = {str(default)}
        elif isinstance(default, float):
            written = {format_duration(default), f"{default:g}"}
        else:  # none, required, or a list or mapping (described in words)
            continue
        cells = documented[key]
        assert any(f"`{text}`" in cell for cell in cells for text in written), (key, default, cells)


def test_every_reaction_key_is_named() -> None:
    text = DOC.read_text()
    reactions = text[text.index("### Reactions: `reactions`") : text.index("### Money")]
    assert [key for key in REACTION_KEYS if f"`{key}`" not in reactions] == []
