"""aod.usage readers: Claude transcripts, Codex rollouts, aider histories, read incrementally.

The fixtures under tests/fixtures/usage/ are written by hand in the shapes measured on the real
CLIs (Claude Code 2.1.197, Codex 0.169.0) and in aider's documented history format; they are not
copied logs.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aod.usage import SEEN_MAX, Usage, UsageCursor, find_source, read_new

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "usage"
CLAUDE = FIXTURES / "claude_session.jsonl"
CODEX = FIXTURES / "codex_rollout.jsonl"
AIDER = FIXTURES / "aider_history.md"

SONNET = "claude-sonnet-4-5-20250929"


def totals(usages: list[Usage]) -> dict[str, int]:
    out = dict.fromkeys(
        ("input", "output", "cache_read", "cache_write", "cache_write_1h", "reasoning"), 0
    )
    for u in usages:
        out["input"] += u.input_tokens
        out["output"] += u.output_tokens
        out["cache_read"] += u.cache_read_tokens
        out["cache_write"] += u.cache_write_tokens
        out["cache_write_1h"] += u.cache_write_1h_tokens
        out["reasoning"] += u.reasoning_tokens
    return out


def by_key(usages: list[Usage]) -> dict[str, Usage]:
    return {u.key: u for u in usages}


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


# -- Claude ------------------------------------------------------------------------------------


def test_claude_counts_each_message_once_with_its_model() -> None:
    usages, cursor = read_new("claude", CLAUDE, None)
    got = by_key(usages)
    assert list(got) == ["msg_01AAA", "msg_01BBB", "req_011CCC"]  # file order; no synthetic
    assert got["msg_01AAA"] == Usage(
        model=SONNET,
        input_tokens=12,
        output_tokens=85,
        cache_read_tokens=16000,
        cache_write_tokens=4000,
        key="msg_01AAA",
    )
    assert got["msg_01BBB"].model == "claude-opus-4-8"
    assert got["msg_01BBB"].cache_write_tokens == 1000
    assert got["msg_01BBB"].cache_write_1h_tokens == 1000
    # No message.id: the requestId is the key.
    assert got["req_011CCC"].model == "claude-haiku-4-5-20251001"
    assert got["req_011CCC"].input_tokens == 300
    assert cursor.path == str(CLAUDE)
    assert cursor.inode == os.stat(CLAUDE).st_ino
    assert set(cursor.seen) >= {"msg_01AAA", "msg_01BBB", "req_011CCC"}


def test_claude_partial_last_line_is_read_once_complete(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(CLAUDE.read_bytes())
    first, cursor = read_new("claude", path, None)
    assert len(first) == 3
    size = path.stat().st_size
    assert cursor.offset < size  # the partial line is not consumed
    assert path.read_bytes()[cursor.offset - 1 : cursor.offset] == b"\n"

    again, cursor = read_new("claude", path, cursor)
    assert again == []  # still partial: nothing, and nothing twice

    with path.open("ab") as f:
        f.write(
            b'ing."}],"usage":{"input_tokens":5,"output_tokens":7,'
            b'"cache_creation_input_tokens":0,"cache_read_input_tokens":100}}}\n'
        )
    completed, cursor = read_new("claude", path, cursor)
    assert [(u.key, u.input_tokens, u.output_tokens, u.cache_read_tokens) for u in completed] == [
        ("msg_01DDD", 5, 7, 100)
    ]
    assert cursor.offset == path.stat().st_size


def test_claude_incremental_reads_return_only_new_usage(tmp_path: Path) -> None:
    lines = lines_of(CLAUDE)
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(lines[:4]))  # up to the first block of msg_01AAA
    first, cursor = read_new("claude", path, None)
    assert [u.key for u in first] == ["msg_01AAA"]

    with path.open("ab") as f:
        f.write(b"".join(lines[4:8]))  # the second block of msg_01AAA (a repeat), then msg_01BBB
    second, cursor = read_new("claude", path, cursor)
    assert [u.key for u in second] == ["msg_01BBB"]

    third, cursor = read_new("claude", path, cursor)
    assert third == []


def test_claude_repeat_in_a_later_append_is_not_counted(tmp_path: Path) -> None:
    lines = lines_of(CLAUDE)
    path = tmp_path / "s.jsonl"
    path.write_bytes(lines[3])
    first, cursor = read_new("claude", path, None)
    with path.open("ab") as f:
        f.write(lines[3] + lines[4])  # msg_01AAA again, twice
    second, _ = read_new("claude", path, cursor)
    assert [u.key for u in first] == ["msg_01AAA"]
    assert second == []


def test_malformed_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    good = lines_of(CLAUDE)[7]
    path.write_bytes(
        b"\xff\xfe not utf-8 \"assistant\" \"usage\"\n"
        b'{"type":"assistant","message":{"usage":"not an object"}}\n'
        b'{"type":"assistant","message":{"id":"m","model":7,"usage":{"input_tokens":"x",'
        b'"output_tokens":-3,"cache_read_input_tokens":true,"cache_creation_input_tokens":2.9}}}\n'
        b"[1, 2, 3]\n" + good
    )
    usages, cursor = read_new("claude", path, None)
    assert [(u.key, u.model, u.input_tokens, u.output_tokens, u.cache_write_tokens) for u in usages] == [
        ("m", "", 0, 0, 2),
        ("msg_01BBB", "claude-opus-4-8", 6, 40, 1000),
    ]
    assert cursor.offset == path.stat().st_size


def test_replaced_file_starts_over_without_counting_twice(tmp_path: Path) -> None:
    lines = lines_of(CLAUDE)
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(lines[:8]))
    first, cursor = read_new("claude", path, None)
    assert [u.key for u in first] == ["msg_01AAA", "msg_01BBB"]

    # Rewritten (new inode) with the same records plus one more, and now longer than before.
    fresh = tmp_path / "s.new"
    fresh.write_bytes(b"".join(lines[:12]))
    os.replace(fresh, path)
    assert path.stat().st_ino != cursor.inode
    second, cursor2 = read_new("claude", path, cursor)
    assert [u.key for u in second] == ["req_011CCC"]
    assert cursor2.offset == path.stat().st_size
    assert cursor2.inode == path.stat().st_ino


def test_truncated_file_starts_over_without_counting_twice(tmp_path: Path) -> None:
    lines = lines_of(CLAUDE)
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(lines[:12]))
    first, cursor = read_new("claude", path, None)
    assert len(first) == 3

    # Truncated in place (same inode) to something shorter: one old record and one new one.
    new_line = (
        b'{"type":"assistant","requestId":"req_9","message":{"id":"msg_NEW","model":"'
        + SONNET.encode()
        + b'","usage":{"input_tokens":1,"output_tokens":2}}}\n'
    )
    with path.open("r+b") as f:
        f.truncate(0)
        f.write(lines[3] + new_line)
    assert path.stat().st_size < cursor.offset
    second, cursor = read_new("claude", path, cursor)
    assert [u.key for u in second] == ["msg_NEW"]
    assert cursor.offset == path.stat().st_size


def test_missing_file_gives_nothing_and_keeps_the_cursor(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    usages, cursor = read_new("claude", missing, None)
    assert usages == []
    assert cursor == UsageCursor(path=str(missing))
    kept = UsageCursor(path=str(missing), inode=5, offset=100, seen=["a"])
    usages, cursor = read_new("codex", missing, kept)
    assert usages == [] and cursor is kept


def test_cursor_is_not_mutated_and_round_trips_through_msgspec(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b"".join(lines_of(CLAUDE)[:5]))
    _, cursor = read_new("claude", path, None)
    frozen = msgspec.json.encode(cursor)
    with path.open("ab") as f:
        f.write(lines_of(CLAUDE)[7])
    usages, after = read_new("claude", path, cursor)
    assert [u.key for u in usages] == ["msg_01BBB"]
    assert msgspec.json.encode(cursor) == frozen  # the given cursor is unchanged
    decoded = msgspec.json.decode(msgspec.json.encode(after), type=UsageCursor)
    assert decoded == after
    # Stored the way the caller stores it (a plain dict) and converted back.
    as_dict = msgspec.to_builtins(after)
    assert msgspec.convert(json.loads(json.dumps(as_dict)), UsageCursor) == after


def test_a_cursor_for_another_file_starts_that_file_at_zero(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_bytes(b"".join(lines_of(CLAUDE)[:5]))
    b.write_bytes(lines_of(CLAUDE)[7])
    _, cursor = read_new("claude", a, None)
    usages, cursor = read_new("claude", b, cursor)
    assert [u.key for u in usages] == ["msg_01BBB"]
    assert cursor.path == str(b) and cursor.offset == b.stat().st_size


def test_seen_keys_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    n = SEEN_MAX + 50
    path.write_text(
        "".join(
            json.dumps(
                {"type": "assistant", "message": {"id": f"m{i}", "model": SONNET,
                                                  "usage": {"input_tokens": 1}}}
            )
            + "\n"
            for i in range(n)
        )
    )
    usages, cursor = read_new("claude", path, None)
    assert len(usages) == n
    assert len(cursor.seen) == SEEN_MAX
    assert cursor.seen[-1] == f"m{n - 1}"


# -- Codex -------------------------------------------------------------------------------------


def test_codex_records_then_token_count_fallback() -> None:
    usages, cursor = read_new("codex", CODEX, None)
    assert [(u.key, u.model) for u in usages] == [
        ("resp_0001", "gpt-5-codex"),
        ("resp_0002", "gpt-5-codex"),
        ("total:30000:24960:0:820:500", "gpt-5.5"),
    ]
    r1, r2, tc = usages
    # input_tokens there include the cached part: it is taken out.
    assert (r1.input_tokens, r1.cache_read_tokens, r1.output_tokens, r1.reasoning_tokens) == (
        3000, 6000, 400, 250,
    )
    assert (r2.input_tokens, r2.cache_read_tokens, r2.output_tokens) == (840, 8960, 120)
    # The last turn has only token_count events: the growth of the running total.
    assert (tc.input_tokens, tc.cache_read_tokens, tc.output_tokens, tc.reasoning_tokens) == (
        1200, 10000, 300, 186,
    )
    assert cursor.context["model"] == "gpt-5.5"
    assert cursor.last_total["input_tokens"] == 30000
    assert cursor.offset == CODEX.stat().st_size


def test_codex_token_count_only_rollout(tmp_path: Path) -> None:
    kept = [ln for ln in lines_of(CODEX) if b'"token_usage_record"' not in ln]
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(b"".join(kept))
    usages, _ = read_new("codex", path, None)
    assert [u.model for u in usages] == ["gpt-5-codex", "gpt-5-codex", "gpt-5.5"]
    assert totals(usages) == {
        "input": 30000 - 24960, "output": 820, "cache_read": 24960, "cache_write": 0,
        "cache_write_1h": 0, "reasoning": 500,
    }  # fmt: skip


def test_codex_token_count_before_its_record_in_another_call_counts_once(tmp_path: Path) -> None:
    lines = lines_of(CODEX)
    record, count = lines[4], lines[5]
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(b"".join(lines[:4]) + count)  # the total arrives first
    first, cursor = read_new("codex", path, None)
    with path.open("ab") as f:
        f.write(record)
    second, _ = read_new("codex", path, cursor)
    assert totals(first + second)["cache_read"] == 6000
    assert totals(first + second)["input"] == 3000
    assert second == []  # already counted through the running total


def test_codex_cache_writes_are_taken_out_of_input(tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    usage = {"input_tokens": 1000, "cached_input_tokens": 300, "cache_write_input_tokens": 200,
             "output_tokens": 50, "reasoning_output_tokens": 0, "total_tokens": 1050}
    path.write_text(
        json.dumps({"type": "turn_context", "payload": {"model": "gpt-5"}}) + "\n"
        + json.dumps({"type": "token_usage_record",
                      "payload": {"response_id": "r", "usage": usage}}) + "\n"
    )  # fmt: skip
    (u,), cursor = read_new("codex", path, None)
    assert (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens) == (500, 300, 200)
    assert cursor.last_total["input_tokens"] == 1000  # no thread total: the record's own usage


def test_codex_rewritten_rollout_counts_nothing_twice(tmp_path: Path) -> None:
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(CODEX.read_bytes())
    first, cursor = read_new("codex", path, None)
    fresh = tmp_path / "copy"
    fresh.write_bytes(CODEX.read_bytes())
    os.replace(fresh, path)
    again, cursor = read_new("codex", path, cursor)
    assert len(first) == 3 and again == []
    assert cursor.offset == path.stat().st_size


def test_codex_model_survives_between_calls(tmp_path: Path) -> None:
    lines = lines_of(CODEX)
    path = tmp_path / "rollout.jsonl"
    path.write_bytes(b"".join(lines[:3]))  # turn_context (gpt-5-codex), no usage yet
    none, cursor = read_new("codex", path, None)
    assert none == []
    with path.open("ab") as f:
        f.write(lines[4])
    (u,), _ = read_new("codex", path, msgspec.json.decode(msgspec.json.encode(cursor), type=UsageCursor))
    assert u.model == "gpt-5-codex"


# -- aider -------------------------------------------------------------------------------------


def test_aider_history() -> None:
    usages, cursor = read_new("aider", AIDER, None)
    assert [(u.key, u.model) for u in usages] == [
        ("2026-11-22 06:10:01#1", "anthropic/claude-sonnet-4-5-20250929"),
        ("2026-11-22 06:10:01#2", "anthropic/claude-sonnet-4-5-20250929"),
        ("2026-11-22 07:00:00#1", "gpt-4o"),
        ("2026-11-22 07:00:00#2", "gpt-4o"),
    ]
    a, b, c, d = usages
    assert (a.input_tokens, a.output_tokens, a.reported_cost_usd) == (2300, 150, 0.0092)
    assert (b.input_tokens, b.cache_write_tokens, b.cache_read_tokens, b.output_tokens) == (
        12000, 1100, 9800, 320,
    )
    assert b.reported_cost_usd == 0.02
    assert (c.input_tokens, c.output_tokens, c.reported_cost_usd) == (730, 895, None)
    assert (d.input_tokens, d.output_tokens, d.reported_cost_usd) == (1134, 1_200_000, 12.5)
    assert cursor.context == {"session": "2026-11-22 07:00:00", "model": "gpt-4o"}


def test_aider_incremental(tmp_path: Path) -> None:
    text = AIDER.read_bytes()
    cut = text.index(b"#### CI failed")
    path = tmp_path / ".aider.chat.history.md"
    path.write_bytes(text[:cut])
    first, cursor = read_new("aider", path, None)
    with path.open("ab") as f:
        f.write(text[cut:])
    second, _ = read_new("aider", path, cursor)
    assert [u.key for u in first] == ["2026-11-22 06:10:01#1"]
    assert [u.key for u in second] == [
        "2026-11-22 06:10:01#2", "2026-11-22 07:00:00#1", "2026-11-22 07:00:00#2",
    ]  # fmt: skip
    assert second[0].model == "anthropic/claude-sonnet-4-5-20250929"


# -- reading in arbitrary pieces ---------------------------------------------------------------


def _read_in_pieces(kind: str, data: bytes, cuts: list[int]) -> list[Usage]:
    out: list[Usage] = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "source"
        path.write_bytes(b"")
        cursor: UsageCursor | None = None
        previous = 0
        for cut in [*sorted(set(cuts)), len(data)]:
            with path.open("ab") as f:
                f.write(data[previous:cut])
            previous = cut
            got, cursor = read_new(kind, path, cursor)  # type: ignore[arg-type]
            out += got
            # What a caller does between calls: store the cursor and load it again.
            cursor = msgspec.json.decode(msgspec.json.encode(cursor), type=UsageCursor)
    return out


@pytest.mark.parametrize(
    ("kind", "source"), [("claude", CLAUDE), ("codex", CODEX), ("aider", AIDER)]
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_reading_in_arbitrary_pieces_gives_the_same_totals(kind: str, source: Path, data) -> None:
    whole = source.read_bytes()
    if kind == "claude":
        whole = whole[: whole.rindex(b"\n") + 1]  # without the partial last line
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(whole)), max_size=12))
    at_once, _ = read_new(kind, source, None)  # type: ignore[arg-type]
    pieces = _read_in_pieces(kind, whole, cuts)
    assert totals(pieces) == totals(at_once)
    assert sorted(u.key for u in pieces) == sorted(u.key for u in at_once)
    assert sum(u.reported_cost_usd or 0 for u in pieces) == pytest.approx(
        sum(u.reported_cost_usd or 0 for u in at_once)
    )


# -- where the records are ---------------------------------------------------------------------


def test_find_source_claude(tmp_path: Path) -> None:
    home, ws = tmp_path / "home", tmp_path / "ws" / "proj"
    ws.mkdir(parents=True)
    assert find_source("claude", home=home, workspace=ws, agent_session=None, environ={}) is None
    folder = home / ".claude" / "projects" / str(ws.resolve()).replace("/", "-")
    folder.mkdir(parents=True)
    old, new = folder / "old-id.jsonl", folder / "new-id.jsonl"
    old.write_text("{}\n")
    new.write_text("{}\n")
    os.utime(old, (1_000_000, 1_000_000))
    assert find_source("claude", home=home, workspace=ws, agent_session=None, environ={}) == new
    assert find_source("claude", home=home, workspace=ws, agent_session="old-id", environ={}) == old
    assert find_source("claude", home=home, workspace=ws, agent_session="gone", environ={}) is None
    assert (
        find_source("claude", home=home, workspace=ws, agent_session="../x", environ={}) is None
    )


def _rollout(day: Path, name: str, cwd: Path) -> Path:
    day.mkdir(parents=True, exist_ok=True)
    path = day / name
    meta = {"type": "session_meta", "payload": {"id": "x", "cwd": str(cwd)}}
    path.write_text(json.dumps(meta) + "\n")
    return path


def test_find_source_codex(tmp_path: Path) -> None:
    home, ws, other = tmp_path / "home", tmp_path / "ws", tmp_path / "other"
    ws.mkdir()
    other.mkdir()
    day = home / ".codex" / "sessions" / "2026" / "11" / "22"
    mine = _rollout(day, "rollout-2026-11-22T06-05-00-aaaa-1111.jsonl", ws)
    _rollout(day, "rollout-2026-11-22T06-09-00-bbbb-2222.jsonl", other)
    assert find_source("codex", home=home, workspace=ws, agent_session=None, environ={}) == mine

    codex_home = tmp_path / "codexhome"
    elsewhere = _rollout(
        codex_home / "sessions" / "2026" / "11" / "21", "rollout-2026-11-21T10-00-00-cccc-3333.jsonl", ws
    )
    env = {"CODEX_HOME": str(codex_home)}
    assert find_source("codex", home=home, workspace=ws, agent_session=None, environ=env) == elsewhere
    # A known thread id names its rollout, whatever its cwd.
    named = find_source("codex", home=home, workspace=ws, agent_session="bbbb-2222", environ={})
    assert named is not None and named.name.endswith("bbbb-2222.jsonl")


def test_find_source_aider(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    assert find_source("aider", home=tmp_path, workspace=ws, agent_session=None, environ={}) is None
    (ws / ".aider.chat.history.md").write_text("# aider chat started at x\n")
    assert (
        find_source("aider", home=tmp_path, workspace=ws, agent_session=None, environ={})
        == ws / ".aider.chat.history.md"
    )
    (ws / "notes").mkdir()
    (ws / "notes" / "chat.md").write_text("")
    env = {"AIDER_CHAT_HISTORY_FILE": "notes/chat.md"}
    assert (
        find_source("aider", home=tmp_path, workspace=ws, agent_session=None, environ=env)
        == ws / "notes" / "chat.md"
    )
