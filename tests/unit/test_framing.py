"""Framing edge cases, fed through a real trio stream pair."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from aod.framing import BadFrame, Framing, FrameReader, FrameTooLarge, frame


async def read_all(chunks: list[bytes], limit: int = 1024) -> tuple[list[bytes], Framing | None]:
    send, receive = trio.testing.memory_stream_pair()
    for chunk in chunks:
        await send.send_all(chunk)
    await send.aclose()
    reader = FrameReader(receive, limit)
    messages = []
    while (message := await reader.next()) is not None:
        messages.append(message)
    return messages, reader.framing


async def test_lines_split_anywhere_and_blank_lines_skipped() -> None:
    messages, framing = await read_all([b'{"a"', b':1}\r\n\n  \n{"b":2}', b"\n[3]"])
    assert framing is Framing.LINE
    assert messages == [b'{"a":1}', b'{"b":2}', b"[3]"]


async def test_lsp_detection_needs_only_the_prefix_case_insensitively() -> None:
    messages, framing = await read_all(
        [b"CONTENT-", b"length: 2\r\n", b"\r\n{}", b"Content-Length:3\r\n\r\n[1]"]
    )
    assert framing is Framing.LSP
    assert messages == [b"{}", b"[1]"]


async def test_a_short_non_json_start_is_line_framing() -> None:
    messages, framing = await read_all([b"Co\n"])
    assert framing is Framing.LINE
    assert messages == [b"Co"]


async def test_empty_connection() -> None:
    assert await read_all([]) == ([], None)


@pytest.mark.parametrize(
    "chunks",
    [[b"x" * 1025 + b"\n"], [b"x" * 2000], [b"Content-Length: 1025\r\n\r\n"]],
)
async def test_over_the_limit(chunks: list[bytes]) -> None:
    with pytest.raises(FrameTooLarge):
        await read_all(chunks)


@pytest.mark.parametrize(
    "chunks",
    [
        [b"Content-Length: x\r\n\r\n"],
        [b"Content-Type: a\r\n\r\n"],
        [b"Content-Length: 10\r\n\r\n{}"],
        [b"Content-Length: 2\r\nbroken header\r\n\r\n{}"],
        [b"Content-" + b"a" * 9000],
    ],
)
async def test_broken_lsp(chunks: list[bytes]) -> None:
    with pytest.raises(BadFrame):
        await read_all(chunks, limit=100_000)


def test_frame_round_trip() -> None:
    assert frame(Framing.LINE, b"{}") == b"{}\n"
    assert frame(Framing.LSP, b"{}") == b"Content-Length: 2\r\n\r\n{}"


class Chunks:
    """A byte source that hands out one chunk per read, as a slow writer's packets arrive: the
    reader sees a line's body before its newline."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""


async def read_chunks(chunks: list[bytes], limit: int = 1024) -> list[bytes]:
    reader = FrameReader(Chunks(chunks), limit)
    messages = []
    while (message := await reader.next()) is not None:
        messages.append(message)
    return messages


@pytest.mark.parametrize(
    "chunks",
    [
        [b"x" * 1024 + b"\n"],
        [b"x" * 1024, b"\n"],  # the body alone fills the buffer to the limit: not over it
        [b"x" * 1000, b"x" * 24, b"\n{}\n"],
        [b"x" * 1024],  # the last message, without its newline
        [b"Content-Length: 1024\r\n\r\n" + b"x" * 1024],
        [b"Content-Length: 1024\r\n\r\n", b"x" * 1024],
    ],
)
async def test_exactly_the_limit_is_accepted(chunks: list[bytes]) -> None:
    messages = await read_chunks(chunks)
    assert messages[0] == b"x" * 1024


@pytest.mark.parametrize(
    "chunks",
    [
        [b"x" * 1025 + b"\n"],
        [b"x" * 1025],  # no newline yet: over the limit is over, whatever comes next
        [b"x" * 1024, b"x\n"],
        [b"Content-Length: 1025\r\n\r\n" + b"x" * 1025],
    ],
)
async def test_one_byte_over_the_limit_is_refused(chunks: list[bytes]) -> None:
    with pytest.raises(FrameTooLarge):
        await read_chunks(chunks)
