"""GraphQL on loopback: just enough of the language to run real queries and mutations.

The emulators (GitHub, GitLab, Linear) share it: the query text is parsed (operations,
variables, aliases, arguments, inline and named fragments, `__typename`) and resolved against
an emulator's objects (`Obj`, a resolver per field), so the answer has exactly the fields
asked for, and a field the object lacks is a validation error, as on the real services.
A `mutation` is resolved against `mutation_root` (objects whose fields do the writing).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class GraphqlFailure(Exception):
    def __init__(self, message: str, *, line: int = 0, column: int = 0, extensions: dict[str, Any] | None = None, path: list[Any] | None = None) -> None:
        super().__init__(message)
        self.error: dict[str, Any] = {"message": message}
        if path is not None:
            self.error["path"] = path
        if extensions:
            self.error["extensions"] = extensions
        if line:
            self.error["locations"] = [{"line": line, "column": column}]


class FieldNotFound(GraphqlFailure):
    """A field that resolves to null with an error beside the data (GitHub's NOT_FOUND)."""


class EnumValue(str):
    """An enum literal (`DESC`, `OPEN`), as opposed to a "string"."""


@dataclass(frozen=True)
class Var:
    name: str


@dataclass
class Field:
    name: str
    alias: str
    args: dict[str, Any]
    selections: list[Any] | None
    line: int
    column: int


@dataclass
class InlineFragment:
    on: str | None
    selections: list[Any]


@dataclass
class FragmentSpread:
    name: str
    line: int
    column: int


_TOKEN = re.compile(
    r"""
    (?P<skip>[\s,\ufeff]+|\#[^\n]*)
  | (?P<spread>\.\.\.)
  | (?P<punct>[!$():=@\[\]{}|&])
  | (?P<name>[_A-Za-z][_0-9A-Za-z]*)
  | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
    """,
    re.VERBOSE,
)


@dataclass
class _Token:
    kind: str
    text: str
    pos: int


class _Parser:
    mutations = False
    kind = "query"

    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens: list[_Token] = []
        pos = 0
        while pos < len(source):
            match = _TOKEN.match(source, pos)
            if match is None:
                raise self._error(f"Parse error on {source[pos]!r}", pos)
            if match.lastgroup != "skip":
                self.tokens.append(_Token(str(match.lastgroup), match.group(), pos))
            pos = match.end()
        self.i = 0

    def _error(self, message: str, pos: int) -> GraphqlFailure:
        line = self.source.count("\n", 0, pos) + 1
        column = pos - (self.source.rfind("\n", 0, pos) + 1) + 1
        return GraphqlFailure(message, line=line, column=column)

    def where(self) -> tuple[int, int]:
        pos = self.tokens[self.i].pos if self.i < len(self.tokens) else len(self.source)
        return self.source.count("\n", 0, pos) + 1, pos - (self.source.rfind("\n", 0, pos) + 1) + 1

    def peek(self, text: str | None = None, kind: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        token = self.tokens[self.i]
        return (text is None or token.text == text) and (kind is None or token.kind == kind)

    def take(self, text: str | None = None, kind: str | None = None) -> _Token:
        if not self.peek(text, kind):
            found = self.tokens[self.i].text if self.i < len(self.tokens) else "end of document"
            pos = self.tokens[self.i].pos if self.i < len(self.tokens) else len(self.source)
            raise self._error(f"Parse error on {found!r}: expected {text or kind}", pos)
        token = self.tokens[self.i]
        self.i += 1
        return token

    def document(self) -> tuple[list[Any], dict[str, InlineFragment]]:
        operation: list[Any] | None = None
        fragments: dict[str, InlineFragment] = {}
        self.kind = "query"
        while self.i < len(self.tokens):
            if self.peek("{"):
                operation = self.selection_set()
            elif self.peek("query") or (self.mutations and self.peek("mutation")):
                self.kind = self.take().text
                if self.peek(kind="name"):
                    self.take(kind="name")
                if self.peek("("):
                    self.variable_definitions()
                operation = self.selection_set()
            elif self.peek("fragment"):
                self.take("fragment")
                name = self.take(kind="name").text
                self.take("on")
                on = self.take(kind="name").text
                fragments[name] = InlineFragment(on, self.selection_set())
            else:
                token = self.tokens[self.i]
                what = "queries and mutations are" if self.mutations else "only queries are"
                raise self._error(f"Parse error on {token.text!r}: {what} emulated", token.pos)
        if operation is None:
            raise GraphqlFailure("No operations given")
        return operation, fragments

    def variable_definitions(self) -> None:
        self.take("(")
        while not self.peek(")"):
            self.take("$")
            self.take(kind="name")
            self.take(":")
            self.type_reference()
            if self.peek("="):
                self.take("=")
                self.value()
        self.take(")")

    def type_reference(self) -> None:
        if self.peek("["):
            self.take("[")
            self.type_reference()
            self.take("]")
        else:
            self.take(kind="name")
        if self.peek("!"):
            self.take("!")

    def selection_set(self) -> list[Any]:
        self.take("{")
        selections: list[Any] = []
        while not self.peek("}"):
            selections.append(self.selection())
        self.take("}")
        return selections

    def selection(self) -> Any:
        line, column = self.where()
        if self.peek(kind="spread"):
            self.take(kind="spread")
            if self.peek("on"):
                self.take("on")
                return InlineFragment(self.take(kind="name").text, self.selection_set())
            if self.peek("{"):
                return InlineFragment(None, self.selection_set())
            return FragmentSpread(self.take(kind="name").text, line, column)
        name = self.take(kind="name").text
        alias = name
        if self.peek(":"):
            self.take(":")
            alias, name = name, self.take(kind="name").text
        args = self.arguments() if self.peek("(") else {}
        selections = self.selection_set() if self.peek("{") else None
        return Field(name, alias, args, selections, line, column)

    def arguments(self) -> dict[str, Any]:
        self.take("(")
        args: dict[str, Any] = {}
        while not self.peek(")"):
            name = self.take(kind="name").text
            self.take(":")
            args[name] = self.value()
        self.take(")")
        return args

    def value(self) -> Any:
        if self.peek("$"):
            self.take("$")
            return Var(self.take(kind="name").text)
        if self.peek("["):
            self.take("[")
            items = []
            while not self.peek("]"):
                items.append(self.value())
            self.take("]")
            return items
        if self.peek("{"):
            self.take("{")
            fields: dict[str, Any] = {}
            while not self.peek("}"):
                key = self.take(kind="name").text
                self.take(":")
                fields[key] = self.value()
            self.take("}")
            return fields
        if self.peek(kind="number"):
            text = self.take(kind="number").text
            return float(text) if any(c in text for c in ".eE") else int(text)
        if self.peek(kind="string"):
            return json.loads(self.take(kind="string").text)
        word = self.take(kind="name").text
        return {"true": True, "false": False, "null": None}.get(word, EnumValue(word))


class Obj:
    """A GraphQL object: its type name, the interfaces it has, and a resolver per field."""

    def __init__(self, typename: str, fields: dict[str, Any], interfaces: Iterable[str] = ()) -> None:
        self.typename = typename
        self.fields = fields
        self.interfaces = set(interfaces)


def connection(typename: str, items: list[Any], args: dict[str, Any]) -> Obj:
    """A connection sliced by `first`/`last` as GitHub requires (one of them, 1 to 100)."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphqlFailure(f"You must provide a `first` or `last` value to properly paginate the `{typename}` connection.")
    for key, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= 100:
            raise GraphqlFailure(f"Requesting {value} records on the `{typename}` connection exceeds the `{key}` limit of 100 records.")
    sliced = items[:first] if first is not None else items
    sliced = sliced[-last:] if last else ([] if last == 0 else sliced)
    page = Obj("PageInfo", {"hasNextPage": len(sliced) < len(items), "hasPreviousPage": False, "endCursor": None, "startCursor": None})
    return Obj(typename.replace("Connection", "") + "Connection", {"nodes": sliced, "totalCount": len(items), "pageInfo": page})


def execute(query: str, variables: dict[str, Any], root: Obj, *, mutation_root: Obj | None = None) -> dict[str, Any]:
    parser = _Parser(query)
    parser.mutations = mutation_root is not None
    operation, fragments = parser.document()
    if parser.kind == "mutation":
        assert mutation_root is not None
        root = mutation_root
    errors: list[dict[str, Any]] = []

    def arguments(args: dict[str, Any]) -> dict[str, Any]:
        def resolve(value: Any) -> Any:
            if isinstance(value, Var):
                if value.name not in variables:
                    raise GraphqlFailure(f"Variable ${value.name} of type String! was provided invalid value")
                return variables[value.name]
            if isinstance(value, list):
                return [resolve(v) for v in value]
            if isinstance(value, dict):
                return {k: resolve(v) for k, v in value.items()}
            return value

        return {k: resolve(v) for k, v in args.items()}

    def select(obj: Obj, selections: list[Any], path: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for selection in selections:
            if isinstance(selection, FragmentSpread):
                fragment = fragments.get(selection.name)
                if fragment is None:
                    raise GraphqlFailure(f"Fragment {selection.name} was used, but not defined", line=selection.line, column=selection.column)
                selection = fragment
            if isinstance(selection, InlineFragment):
                if selection.on is None or selection.on == obj.typename or selection.on in obj.interfaces:
                    out.update(select(obj, selection.selections, path))
                continue
            if selection.name == "__typename":
                out[selection.alias] = obj.typename
                continue
            if selection.name not in obj.fields:
                raise GraphqlFailure(
                    f"Field '{selection.name}' doesn't exist on type '{obj.typename}'",
                    line=selection.line, column=selection.column, path=["query", *path, selection.alias],
                    extensions={"code": "undefinedField", "typeName": obj.typename, "fieldName": selection.name},
                )
            resolver = obj.fields[selection.name]
            try:
                value = resolver(arguments(selection.args)) if callable(resolver) else resolver
            except FieldNotFound as exc:
                errors.append({"type": "NOT_FOUND", **exc.error})
                value = None
            out[selection.alias] = shape(value, selection, [*path, selection.alias])
        return out

    def shape(value: Any, selection: Field, path: list[Any]) -> Any:
        if isinstance(value, list):
            return [shape(item, selection, [*path, i]) for i, item in enumerate(value)]
        if isinstance(value, Obj):
            if selection.selections is None:
                raise GraphqlFailure(f"Field must have selections (field '{selection.name}' returns {value.typename} but has no selections.)", line=selection.line, column=selection.column)
            return select(value, selection.selections, path)
        return value

    data = select(root, operation, [])
    return {"data": data, "errors": errors} if errors else {"data": data}


