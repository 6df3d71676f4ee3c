"""delivery.locate: where our text is on a screen (pure)."""

from __future__ import annotations

from aod.delivery import holds, locate, needles
from aod.plugins.agent.claude_code import ClaudeCodeAgent
from aod.plugins.agent.custom import CustomAgent
from aod.plugins.runtime import Look

CLAUDE = ClaudeCodeAgent()
CUSTOM = CustomAgent()
RULE = "─" * 40


def claude_screen(input_lines: list[str], above: list[str] = ()) -> str:  # type: ignore[assignment]
    return "\n".join([*above, RULE, "❯ " + input_lines[0], *("  " + x for x in input_lines[1:]), RULE, "  ? for shortcuts"])


def test_needles_are_the_marker_and_the_long_enough_ends() -> None:
    assert needles("[ao:1a2b3c4d] CI failed\nsee the log\nthen push it", "[ao:1a2b3c4d]") == (
        "[ao:1a2b3c4d]", "[ao:1a2b3c4d] CI failed", "then push it"
    )
    assert needles("ok") == ()


def test_holds_a_part_a_placeholder_or_the_whole() -> None:
    text = "first line of it\nsecond line of it"
    assert holds("first line of it", text)
    assert holds("first line of it second line of it", text)
    assert holds("[Pasted text #1 +20 lines]", text)
    assert holds("ok", "ok")
    assert not holds("", text)
    assert not holds("something the user typed", text)


def test_in_the_input_box_of_a_plugin_that_reads_it() -> None:
    text = "[ao:1a2b3c4d] CI failed on PR #3.\nFailing checks: test."
    look = Look(claude_screen(["[ao:1a2b3c4d] CI failed on PR #3.", "Failing checks: test."]))
    assert locate(look, text, CLAUDE.read_input, "[ao:1a2b3c4d]") == "input"


def test_taken_the_text_is_in_the_conversation_and_the_box_is_empty() -> None:
    text = "[ao:1a2b3c4d] CI failed on PR #3."
    look = Look(claude_screen([""], above=["> [ao:1a2b3c4d] CI failed on PR #3.", "✻ Working…"]))
    assert locate(look, text, CLAUDE.read_input, "[ao:1a2b3c4d]") == "conversation"


def test_a_dialog_after_the_message_is_not_our_text_in_the_input() -> None:
    # The dialog hides the input box: the text is on screen, where exactly the plugin cannot say.
    screen = "> /fake ask hello.py\n Do you want to create hello.py?\n ❯ 1. Yes\n   2. No\n Esc to cancel"
    assert locate(Look(screen), "/fake ask hello.py", CLAUDE.read_input) == "seen"


def test_a_line_mode_program_whose_prompt_scrolled_away_is_read_at_the_cursor() -> None:
    text = "\n".join(f"line {n} of the message" for n in range(30))
    screen = "\n".join(["  " + line for line in text.split("\n")][-20:])
    look = Look(screen, before_cursor="  line 29 of the message")
    assert CUSTOM.read_input(screen) is None
    assert locate(look, text, CUSTOM.read_input) == "input"
    # After Enter the cursor sits on a new, empty row: not in the input any more, still on screen.
    assert locate(Look(screen, before_cursor=""), text, CUSTOM.read_input) == "seen"
    # A long last line wrapped onto the cursor's row.
    long = "x" * 10 + " and the end of a very long last line"
    assert locate(Look("> " + long, before_cursor="of a very long last line"), long, lambda s: None) == "input"


def test_absent() -> None:
    assert locate(Look("nothing here\n> "), "[ao:99999999] hi there", CUSTOM.read_input, "[ao:99999999]") == "absent"


def test_a_message_without_marker_is_looked_for_near_the_bottom_only() -> None:
    old = "please run the tests once"
    screen = "\n".join(["you: " + old, *(f"output {n}" for n in range(60)), "> "])
    assert locate(Look(screen), old, CUSTOM.read_input) == "absent"
    assert locate(Look(screen.replace("you: " + old, "you: [ao:12121212] x")), "[ao:12121212] x", CUSTOM.read_input, "[ao:12121212]") == "conversation"


def test_an_earlier_message_that_ends_the_same_way_is_not_ours() -> None:
    # Seen in the crash harness: after a restart, a message whose last line matched an earlier
    # message's on screen was judged taken, and was never delivered.
    earlier = "r2-m3 multi\nline " + "x" * 120
    ours = "r2-m5 multi\nline " + "x" * 200
    screen = claude_screen([""], above=["> " + earlier.split("\n")[0], "  " + earlier.split("\n")[1], "✻ Done"])
    assert locate(Look(screen), ours, CLAUDE.read_input) == "absent"
    # Ours on screen (its first line above its last): taken.
    taken = claude_screen([""], above=["> " + ours.split("\n")[0], "  " + ours.split("\n")[1]])
    assert locate(Look(taken), ours, CLAUDE.read_input) == "conversation"


def test_a_message_longer_than_the_screen_is_known_by_its_last_line() -> None:
    text = "\n".join(f"step {n}: do the thing" for n in range(300))
    screen = "\n".join(["  " + line for line in text.split("\n")][-30:]) + "\n" + "\n".join(claude_screen([""]).split("\n"))
    assert locate(Look(screen), text, CLAUDE.read_input) == "conversation"
