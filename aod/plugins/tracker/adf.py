"""Atlassian Document Format (ADF) to plain text, for Jira Cloud's descriptions and comments.

Jira Cloud's REST v3 answers rich text as an ADF document (a JSON tree of block and inline
nodes, https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/); the
agent gets it as plain text with a little Markdown where it carries meaning: headings as `#`,
lists as `-` / `1.`, code blocks fenced, links as `text (url)`, tables as `| a | b |` rows.

Pure: no I/O. The document is data from the network, so anything may be malformed: a node
that is not an object, `content` that is not a list, unknown node types (rendered as their
text), absurd nesting (flattened past a depth limit). It never raises.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import Any

MAX_DEPTH = 40
"""Nesting deeper than this is flattened to its text (no recursion limit to hit)."""

BLOCK_TYPES = frozenset(
    {
        "doc", "paragraph", "heading", "bulletList", "orderedList", "listItem", "codeBlock",
        "blockquote", "rule", "panel", "table", "tableRow", "tableHeader", "tableCell",
        "mediaSingle", "mediaGroup", "media", "taskList", "taskItem", "decisionList",
        "decisionItem", "expand", "nestedExpand", "bodiedExtension", "extension", "blockCard",
        "embedCard", "layoutSection", "layoutColumn",
    }
)


def to_text(document: Any) -> str:
    """The document as plain text. A string (Jira Server's wiki markup, or plain text) is
    returned as it is; None or anything unreadable gives ''."""
    if document is None:
        return ""
    if isinstance(document, str):
        return document
    if not isinstance(document, dict):
        return ""
    text = _blocks(_children(document), 0) if document.get("type") == "doc" else _block(document, 0)
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")


# ---------------------------------------------------------------------------------------------
# Blocks


def _children(node: dict[str, Any]) -> list[Any]:
    content = node.get("content")
    return [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []


def _attrs(node: dict[str, Any]) -> dict[str, Any]:
    attrs = node.get("attrs")
    return attrs if isinstance(attrs, dict) else {}


def _blocks(nodes: Iterable[dict[str, Any]], depth: int) -> str:
    """Block nodes, a blank line between them; a run of inline nodes among them is one
    paragraph."""
    parts: list[str] = []
    run: list[dict[str, Any]] = []
    for node in nodes:
        if _is_block(node):
            if run:
                parts.append(_inline(run, depth))
                run = []
            parts.append(_block(node, depth))
        else:
            run.append(node)
    if run:
        parts.append(_inline(run, depth))
    return "\n\n".join(p for p in parts if p.strip())


def _is_block(node: dict[str, Any], depth: int = 0) -> bool:
    kind = node.get("type")
    if kind in BLOCK_TYPES:
        return True
    if kind in INLINE_TYPES or depth > 3:
        return False
    # An unknown node is a block when something inside it is one.
    return any(_is_block(child, depth + 1) for child in _children(node)[:20])


def _block(node: dict[str, Any], depth: int) -> str:
    if depth > MAX_DEPTH:
        return _flat(node)
    kind = node.get("type")
    attrs = _attrs(node)
    children = _children(node)
    inner = depth + 1
    if kind == "paragraph":
        return _inline(children, inner)
    if kind == "heading":
        level = attrs.get("level")
        level = level if isinstance(level, int) and 1 <= level <= 6 else 1
        text = _inline(children, inner).replace("\n", " ")
        return f"{'#' * level} {text}" if text.strip() else ""
    if kind == "bulletList":
        return "\n".join(_item(child, "- ", inner) for child in children)
    if kind == "orderedList":
        start = attrs.get("order")
        start = start if isinstance(start, int) and not isinstance(start, bool) and 0 <= start < 10**9 else 1
        return "\n".join(_item(child, f"{start + i}. ", inner) for i, child in enumerate(children))
    if kind == "taskList":
        return "\n".join(
            _item(child, "- [x] " if _attrs(child).get("state") == "DONE" else "- [ ] ", inner) if child.get("type") == "taskItem"
            else _block(child, inner)
            for child in children
        )
    if kind == "decisionList":
        return "\n".join(_item(child, "- ", inner) for child in children)
    if kind in ("listItem", "taskItem", "decisionItem"):
        return _item(node, "- ", inner)
    if kind == "codeBlock":
        language = attrs.get("language")
        language = language if isinstance(language, str) and re.fullmatch(r"[\w+#.-]{1,30}", language) else ""
        code = "".join(str(c.get("text") or "") if c.get("type") == "text" else _flat(c) for c in children)
        fence = "````" if "```" in code else "```"
        return f"{fence}{language}\n{code.rstrip(chr(10))}\n{fence}"
    if kind == "blockquote":
        return _prefix(_blocks(children, inner), "> ")
    if kind == "rule":
        return "---"
    if kind in ("expand", "nestedExpand"):
        title = attrs.get("title")
        body = _blocks(children, inner)
        return f"{title}\n{body}" if isinstance(title, str) and title.strip() else body
    if kind == "table":
        return _table(children, inner)
    if kind in ("tableRow",):
        return _row(node, inner)
    if kind in ("media", "mediaSingle", "mediaGroup"):
        return _media(node)
    if kind in ("blockCard", "embedCard"):
        url = attrs.get("url")
        return url if isinstance(url, str) else ""
    if kind == "extension":
        text = attrs.get("text")
        return text if isinstance(text, str) else ""
    # doc, panel, tableCell, layouts, bodiedExtension and anything unknown: what is inside.
    if children:
        return _blocks(children, inner)
    text = node.get("text")
    return text if isinstance(text, str) else ""


def _item(node: dict[str, Any], marker: str, depth: int) -> str:
    """A list item: its first line after the marker, the rest (nested lists too) indented."""
    if node.get("type") not in ("listItem", "taskItem", "decisionItem"):
        body = _block(node, depth)
    elif node.get("type") in ("taskItem", "decisionItem") and not any(_is_block(c) for c in _children(node)):
        body = _inline(_children(node), depth)
    else:
        body = _blocks(_children(node), depth).replace("\n\n", "\n")
    return _hang(body, marker)


def _hang(body: str, marker: str) -> str:
    lines = body.split("\n") or [""]
    pad = " " * len(marker)
    return "\n".join([marker + lines[0]] + [pad + line if line else line for line in lines[1:]])


def _prefix(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line else prefix.rstrip() for line in text.split("\n"))


def _table(rows: list[dict[str, Any]], depth: int) -> str:
    lines: list[str] = []
    for index, row in enumerate(rows):
        lines.append(_row(row, depth))
        cells = _children(row)
        if index == 0 and cells and all(c.get("type") == "tableHeader" for c in cells):
            lines.append("|" + " --- |" * len(cells))
    return "\n".join(lines)


def _row(row: dict[str, Any], depth: int) -> str:
    cells = [_blocks(_children(cell), depth + 1) for cell in _children(row)]
    cells = [" ".join(cell.split()).replace("|", "\\|") for cell in cells]
    return "| " + " | ".join(cells) + " |"


def _media(node: dict[str, Any]) -> str:
    names: list[str] = []
    for media in [node, *_children(node)]:
        if media.get("type") != "media":
            continue
        attrs = _attrs(media)
        name = attrs.get("alt") or attrs.get("fileName") or attrs.get("url")
        names.append(f"[attachment: {name}]" if isinstance(name, str) and name else "[attachment]")
    return "\n".join(names)


# ---------------------------------------------------------------------------------------------
# Inline nodes

INLINE_TYPES = frozenset(
    {"text", "hardBreak", "mention", "emoji", "inlineCard", "status", "date", "placeholder", "inlineExtension", "mediaInline"}
)


def _inline(nodes: Iterable[dict[str, Any]], depth: int) -> str:
    return "".join(_one_inline(node, depth) for node in nodes)


def _one_inline(node: dict[str, Any], depth: int) -> str:
    kind = node.get("type")
    attrs = _attrs(node)
    if kind == "text":
        return _marked(str(node.get("text") or ""), node.get("marks"))
    if kind == "hardBreak":
        return "\n"
    if kind == "mention":
        name = attrs.get("text") or attrs.get("id") or "someone"
        name = str(name)
        return name if name.startswith("@") else "@" + name
    if kind == "emoji":
        text = attrs.get("text") or attrs.get("shortName")
        return str(text) if text else ""
    if kind == "inlineCard":
        url = attrs.get("url")
        return url if isinstance(url, str) else ""
    if kind == "status":
        text = attrs.get("text")
        return f"[{text}]" if isinstance(text, str) and text else ""
    if kind == "date":
        return _date(attrs.get("timestamp"))
    if kind == "placeholder":
        return ""
    if kind == "mediaInline":
        return _media({"type": "mediaGroup", "content": [{"type": "media", "attrs": attrs}]})
    if kind == "inlineExtension":
        text = attrs.get("text")
        return text if isinstance(text, str) else ""
    if depth > MAX_DEPTH:
        return _flat(node)
    # Unknown inline node (or a block node where inline content was expected): its text.
    children = _children(node)
    if children:
        return _inline(children, depth + 1) if not any(_is_block(c) for c in children) else _blocks(children, depth + 1)
    text = node.get("text")
    return text if isinstance(text, str) else ""


def _marked(text: str, marks: Any) -> str:
    if not isinstance(marks, list):
        return text
    href = None
    code = False
    for mark in marks:
        if not isinstance(mark, dict):
            continue
        if mark.get("type") == "link":
            value = _attrs(mark).get("href")
            href = value if isinstance(value, str) and value else None
        elif mark.get("type") == "code":
            code = True
    if code and text:
        text = f"`{text}`"
    if href and href != text and href.rstrip("/") != text.rstrip("/"):
        text = f"{text} ({href})"
    return text


def _date(timestamp: Any) -> str:
    try:
        seconds = int(str(timestamp)) / 1000.0
        return time.strftime("%Y-%m-%d", time.gmtime(seconds))
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def _flat(node: dict[str, Any]) -> str:
    """All text under `node`, without structure (for nesting past MAX_DEPTH), iteratively."""
    out: list[str] = []
    stack: list[Any] = [node]
    while stack and len(out) < 100_000:
        current = stack.pop()
        if isinstance(current, str):  # a separator pushed after a block's children
            out.append(current)
            continue
        if not isinstance(current, dict):
            continue
        if current.get("type") == "text" and isinstance(current.get("text"), str):
            out.append(current["text"])
        elif current.get("type") == "hardBreak":
            out.append(" ")
        content = current.get("content")
        if isinstance(content, list):
            if current.get("type") in BLOCK_TYPES:
                stack.append(" ")
            stack.extend(reversed(content))
    return " ".join("".join(out).split())


__all__ = ["to_text"]
