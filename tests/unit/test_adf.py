"""Atlassian Document Format → plain text (aod/plugins/tracker/adf.py)."""

from __future__ import annotations

from typing import Any

from aod.plugins.tracker.adf import to_text


def doc(*content: Any) -> dict[str, Any]:
    return {"version": 1, "type": "doc", "content": list(content)}


def p(*content: Any) -> dict[str, Any]:
    return {"type": "paragraph", "content": list(content)}


def t(text: str, *marks: dict[str, Any]) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": text}
    if marks:
        node["marks"] = list(marks)
    return node


def li(*content: Any) -> dict[str, Any]:
    return {"type": "listItem", "content": list(content)}


def test_paragraphs_are_separated_by_a_blank_line() -> None:
    assert to_text(doc(p(t("Hello "), t("world", {"type": "strong"})), p(t("Second.")))) == "Hello world\n\nSecond."


def test_headings_get_hashes_by_level() -> None:
    text = to_text(doc({"type": "heading", "attrs": {"level": 2}, "content": [t("Steps")]}, p(t("Do it."))))
    assert text == "## Steps\n\nDo it."


def test_bullet_and_ordered_lists_with_nesting() -> None:
    nested = {"type": "bulletList", "content": [li(p(t("inner a"))), li(p(t("inner b")))]}
    text = to_text(
        doc(
            {"type": "bulletList", "content": [li(p(t("one"))), li(p(t("two")), nested)]},
            {"type": "orderedList", "attrs": {"order": 3}, "content": [li(p(t("third"))), li(p(t("fourth")))]},
        )
    )
    assert text == "- one\n- two\n  - inner a\n  - inner b\n\n3. third\n4. fourth"


def test_code_blocks_are_fenced_with_their_language_and_keep_whitespace() -> None:
    code = {"type": "codeBlock", "attrs": {"language": "python"}, "content": [t("def f():\n    return 1\n")]}
    assert to_text(doc(p(t("Run:")), code)) == "Run:\n\n```python\ndef f():\n    return 1\n```"


def test_a_code_block_language_that_is_not_a_word_is_dropped() -> None:
    code = {"type": "codeBlock", "attrs": {"language": "x\n```\nrm -rf /"}, "content": [t("ls")]}
    assert to_text(doc(code)) == "```\nls\n```"


def test_mentions_show_the_name_with_an_at() -> None:
    text = to_text(doc(p(t("Ping "), {"type": "mention", "attrs": {"id": "5b10", "text": "@Alice Doe", "accessLevel": ""}}, t(" please"))))
    assert text == "Ping @Alice Doe please"
    assert to_text(doc(p({"type": "mention", "attrs": {"id": "5b10"}}))) == "@5b10"


def test_links_show_their_target_unless_the_text_is_the_url() -> None:
    link = {"type": "link", "attrs": {"href": "https://example.com/spec"}}
    assert to_text(doc(p(t("see "), t("the spec", link)))) == "see the spec (https://example.com/spec)"
    assert to_text(doc(p(t("https://example.com/spec", link)))) == "https://example.com/spec"
    assert to_text(doc(p({"type": "inlineCard", "attrs": {"url": "https://example.com/x"}}))) == "https://example.com/x"


def test_inline_code_is_backticked() -> None:
    assert to_text(doc(p(t("call "), t("make test", {"type": "code"})))) == "call `make test`"


def test_hard_breaks_are_newlines() -> None:
    assert to_text(doc(p(t("line one"), {"type": "hardBreak"}, t("line two")))) == "line one\nline two"


def test_tables_become_rows_with_a_header_rule() -> None:
    def cell(kind: str, text: str) -> dict[str, Any]:
        return {"type": kind, "content": [p(t(text))]}

    table = {
        "type": "table",
        "content": [
            {"type": "tableRow", "content": [cell("tableHeader", "Name"), cell("tableHeader", "Value")]},
            {"type": "tableRow", "content": [cell("tableCell", "a|b"), cell("tableCell", "1")]},
        ],
    }
    assert to_text(doc(table)) == "| Name | Value |\n| --- | --- |\n| a\\|b | 1 |"


def test_blockquote_rule_panel_status_emoji_date_and_tasks() -> None:
    text = to_text(
        doc(
            {"type": "blockquote", "content": [p(t("quoted"))]},
            {"type": "rule"},
            {"type": "panel", "attrs": {"panelType": "info"}, "content": [p(t("in a panel"))]},
            p({"type": "status", "attrs": {"text": "BLOCKED", "color": "red"}}, t(" "), {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}}),
            p({"type": "date", "attrs": {"timestamp": "1700000000000"}}),
            {"type": "taskList", "attrs": {"localId": "x"}, "content": [
                {"type": "taskItem", "attrs": {"localId": "1", "state": "DONE"}, "content": [t("write it")]},
                {"type": "taskItem", "attrs": {"localId": "2", "state": "TODO"}, "content": [t("test it")]},
            ]},
        )
    )
    assert text == "> quoted\n\n---\n\nin a panel\n\n[BLOCKED] 😄\n\n2023-11-14\n\n- [x] write it\n- [ ] test it"


def test_media_is_named() -> None:
    media = {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"type": "file", "id": "abc", "collection": "", "alt": "screenshot.png"}}]}
    assert to_text(doc(media)) == "[attachment: screenshot.png]"


def test_unknown_nodes_give_their_text() -> None:
    text = to_text(
        doc(
            {"type": "fancyNewBlock", "content": [p(t("inside a new block"))]},
            p(t("a "), {"type": "sparkle", "content": [t("new inline")]}, t(" node"), {"type": "ghost"}),
        )
    )
    assert text == "inside a new block\n\na new inline node"


def test_strings_pass_through_and_junk_gives_nothing() -> None:
    assert to_text("h1. Wiki markup\n* item") == "h1. Wiki markup\n* item"
    assert to_text(None) == ""
    assert to_text(42) == ""
    assert to_text({"type": "doc", "content": "not a list"}) == ""
    assert to_text(doc("not a node", None, p(t("kept")), {"type": "paragraph", "content": [None, 3, t("also")]})) == "kept\n\nalso"
    assert to_text(doc({"type": "heading", "attrs": {"level": "9"}, "content": [t("odd level")]})) == "# odd level"


def test_absurd_nesting_is_flattened_not_a_crash() -> None:
    node: dict[str, Any] = p(t("deep text"))
    for _ in range(5000):
        node = {"type": "bulletList", "content": [li(node)]}
    text = to_text(doc(node))
    assert "deep text" in text
    unknown: dict[str, Any] = t("bottom")
    for _ in range(5000):
        unknown = {"type": "mystery", "content": [unknown]}
    assert "bottom" in to_text(doc(unknown))
