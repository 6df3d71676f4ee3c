"""The YAML reader: text's node tree to plain data, with the line of every key and value.

One job: read what the user wrote without losing where they wrote it. `TreeReader` turns a tree
composed by `yaml.compose` (safe: no tags beyond YAML's own, no objects) into plain data,
noting lines, expanding `${ENV}` in string values (`interpolate`), and catching what YAML lets
through silently (duplicate keys, YAML 1.1 keys such as `on` that are booleans, not text, trees
too large to be a config). It then explains each pydantic error with those lines as a
`Problem`: a line, a dotted key path and a short sentence. It knows no section of the config.

May import: the standard library, yaml, pydantic (errors and the model base only), and this
package's `fields` (how a value is shown).
"""

from __future__ import annotations

import datetime
import difflib
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

import yaml
from pydantic import BaseModel
from pydantic_core import ErrorDetails

from aod.config.fields import show_value


# ---------------------------------------------------------------------------------------------
# ${ENV} interpolation

_REFERENCE = re.compile(
    r"\$(?:"
    r"(?P<escaped>\$)"  # $$
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}"  # ${NAME} ${NAME:-default}
    r"|(?P<bad>\{)"  # any other ${
    r")"
)


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Expand `${NAME}` and `${NAME:-default}` (default when unset or empty); `$$` is a `$`.

    A `$` followed by anything else stays as it is. Raises ValueError naming every unset
    variable that has no default.
    """
    unset: list[str] = []
    malformed = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal malformed
        if match["escaped"]:
            return "$"
        if match["bad"]:
            malformed = True
            return ""
        value = environ.get(match["name"])
        if match["default"] is not None and not value:
            return match["default"]
        if value is None:
            unset.append(match["name"])
            return ""
        return value

    result = _REFERENCE.sub(substitute, text)
    if malformed:
        raise ValueError("write ${NAME} or ${NAME:-default} (and $$ for a literal $)")
    if unset:
        names = list(dict.fromkeys(unset))
        if len(names) == 1:
            subject = f"environment variable {names[0]} is"
        else:
            subject = f"environment variables {', '.join(names)} are"
        raise ValueError(f"{subject} not set (use ${{{names[0]}:-default}} for a fallback)")
    return result


# ---------------------------------------------------------------------------------------------
# From the YAML node tree to plain data, remembering lines

Loc = tuple[str | int, ...]

# Aliases let a small file describe a huge or endless tree ("billion laughs", `&a [*a]`); a
# config file never needs this many values or levels.
_MAX_NODES = 10_000
_MAX_DEPTH = 50
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_STR_TAG = "tag:yaml.org,2002:str"


class Problem(NamedTuple):
    line: int
    key: str  # the dotted key path; "" for problems with the file as a whole
    message: str

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}:"
        return f"{where} {self.key}: {self.message}" if self.key else f"{where} {self.message}"


class TooLarge(Exception):
    """A tree too big or too deep to be a config file; reading stops at once."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem


class TreeReader:
    """Turns a composed YAML tree into plain data, noting where each key and value was written."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.problems: list[Problem] = []
        self.value_lines: dict[Loc, int] = {}
        self.key_lines: dict[Loc, int] = {}
        self._reported: set[Loc] = set()  # already explained; pydantic's view of them is noise
        self._from_env: set[Loc] = set()  # may hold secrets: never echoed back in messages
        self._constructor = yaml.constructor.SafeConstructor()  # safe_load's rules for scalars
        self._nodes = 0

    def read(self, node: yaml.Node, loc: Loc) -> Any:
        self._nodes += 1
        if self._nodes > _MAX_NODES:
            message = f"more than {_MAX_NODES} values (aliases included)"
            raise TooLarge(Problem(node_line(node), "yaml", message))
        if len(loc) > _MAX_DEPTH:
            message = f"nested more than {_MAX_DEPTH} levels deep"
            raise TooLarge(Problem(node_line(node), "yaml", message))
        self.value_lines[loc] = node_line(node)
        if not _plain_tag(node):
            return self._report(node, loc, f"unsupported YAML tag {_short_tag(node.tag)}")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.read(item, (*loc, index)) for index, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)  # the only other kind compose() builds
        return self._scalar(node, loc)

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> Any:
        try:
            self._constructor.flatten_mapping(node)  # applies `<<` merge keys, as safe_load does
        except yaml.MarkedYAMLError as exc:
            return self._report(node, loc, _yaml_message(exc))
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, loc)
            if key is None:
                continue
            path = (*loc, key)
            if key in result:
                self._add(key_node, path, f"duplicate key (first at line {self.key_lines[path]})")
                continue
            self.key_lines[path] = node_line(key_node)
            result[key] = self.read(value_node, path)
        return result

    def _key(self, node: yaml.Node, loc: Loc) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self._add(node, loc, "a key must be text, not a list or mapping")
            return None
        written = (*loc, node.value)
        if not _plain_tag(node):
            self._add(node, written, f"unsupported YAML tag {_short_tag(node.tag)}")
            return None
        try:
            key = self._construct(node)
        except ValueError as exc:
            self._add(node, written, str(exc))
            return None
        if not isinstance(key, str):
            self._add(
                node,
                written,
                f"YAML 1.1 reads the key {node.value!r} as {_yaml_kind(key)}, not as text; "
                "no setting has such a name",
            )
            return None
        return key

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        try:
            value = self._construct(node)
        except ValueError as exc:
            return self._report(node, loc, str(exc))
        # Only text is interpolated: `${...}` in a number or boolean position is text to YAML.
        if node.tag == _STR_TAG and "$" in value:
            if "${" in value.replace("$$", ""):
                self._from_env.add(loc)
            try:
                value = interpolate(value, self.environ)
            except ValueError as exc:
                return self._report(node, loc, str(exc))
        return value

    def _construct(self, node: yaml.ScalarNode) -> Any:
        try:
            return self._constructor.construct_object(node)
        except Exception:
            # Only an explicit tag on a value that does not fit it gets here (`!!int abc`), and
            # PyYAML's converters then fail with whatever int(), float() or a regex raise.
            raise ValueError(f"{node.value!r} is not a valid {_short_tag(node.tag)}") from None

    def _add(self, node: yaml.Node, loc: Loc, message: str) -> None:
        self.problems.append(Problem(node_line(node), dotted(loc) or "(top level)", message))

    def _report(self, node: yaml.Node, loc: Loc, message: str) -> None:
        """A value that is wrong already: note the problem, and keep pydantic quiet about it."""
        self._add(node, loc, message)
        self._reported.add(loc)

    def reported(self, loc: Loc) -> bool:
        return any(loc[: len(done)] == done for done in self._reported)

    def explain(self, error: ErrorDetails, model: type[BaseModel]) -> Problem:
        """One pydantic error as a line number and a short sentence."""
        loc: Loc = tuple(error["loc"])
        kind = error["type"]
        if kind == "extra_forbidden":
            line = self.key_lines.get(loc) or self._line_of(loc)
            return Problem(line, dotted(loc), _unknown_key(loc, model))
        if kind == "missing":  # nothing to point at: point at the mapping that lacks it
            return Problem(self._line_of(loc[:-1]), dotted(loc), "required key is missing")
        message = _message(error)
        if error["input"] is None:
            message = "is empty; give it a value or remove the key"
        elif kind != "value_error" and loc not in self._from_env:
            message += f" (got {show_value(error['input'])})"
        return Problem(self._line_of(loc), dotted(loc), message)

    def _line_of(self, loc: Loc) -> int:
        while loc not in self.value_lines and loc:
            loc = loc[:-1]
        return self.value_lines.get(loc, 1)


def _unknown_key(loc: Loc, model: type[BaseModel]) -> str:
    known = _keys_at(loc[:-1], model)
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    return f"unknown key; known keys here: {', '.join(known)}" if known else "unknown key"


def _keys_at(loc: Loc, model: type[BaseModel]) -> list[str]:
    """The field names of the section at `loc`, or [] when `loc` is not a section."""
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        section = field.annotation if field is not None else None
        if not (isinstance(section, type) and issubclass(section, BaseModel)):
            return []
        model = section
    return list(model.model_fields)


# pydantic's messages, shortened; `{name}` fields come from the error's context.
_SHORT_MESSAGES = {
    "literal_error": "must be one of {expected}",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "model_type": "must be a section of `key: value` lines",
    "model_attributes_type": "must be a section of `key: value` lines",
    "dict_type": "must be a mapping of `key: value` lines",
    "list_type": "must be a list",
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "value_error": "{error}",  # our own validators' words, as written
}


def _message(error: ErrorDetails) -> str:
    template = _SHORT_MESSAGES.get(error["type"])
    if template is not None:
        return template.format(**error.get("ctx", {}))
    # A type this table does not know yet: pydantic's own words, minus its jargon.
    return re.sub(r"^Input should be ", "must be ", error["msg"])


# ---------------------------------------------------------------------------------------------
# Small helpers


def _plain_tag(node: yaml.Node) -> bool:
    """Whether `node` is something safe_load would build: a map, a list, or a standard scalar."""
    if isinstance(node, yaml.MappingNode):
        return node.tag == _MAP_TAG
    if isinstance(node, yaml.SequenceNode):
        return node.tag == _SEQ_TAG
    return node.tag in yaml.constructor.SafeConstructor.yaml_constructors


def _short_tag(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def node_line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def dotted(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _yaml_kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {show_value(value)}"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, datetime.date):  # datetimes too
        return "a date"
    return "binary data" if isinstance(value, bytes) else f"a {type(value).__name__}"


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [part for part in (exc.problem, exc.context) if part]
    return "; ".join(parts) or "invalid YAML"


def yaml_problem(exc: yaml.YAMLError, text: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        return Problem(mark.line + 1 if mark else 1, "yaml", _yaml_message(exc))
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        return Problem(line, "yaml", f"control character U+{exc.character:04X} is not allowed")
    return Problem(1, "yaml", str(exc).splitlines()[0])
