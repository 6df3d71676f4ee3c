"""Message framing on a byte stream: newline-delimited JSON, or LSP-style `Content-Length:`.

The framing is chosen per connection by its first bytes, so stock editor JSON-RPC libraries
(which speak LSP framing) and line-oriented scripts (`socat`, `nc -U`) both work unchanged.
"""

from __future__ import annotations

import enum
from typing import Protocol

LSP_PREFIX = b"content-"
MAX_HEADER_BYTES = 8 * 1024
_RECEIVE_CHUNK = 64 * 1024


class Framing(enum.Enum):
    LINE = "line"
    LSP = "lsp"


class FrameTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"message exceeds the limit of {limit} bytes")
        self.limit = limit


class BadFrame(Exception):
    """The framing itself is broken (bad LSP headers); the connection cannot be resynced."""


class ReceiveStream(Protocol):
    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray: ...


class FrameReader:
    def __init__(self, stream: ReceiveStream, max_bytes: int) -> None:
        self._stream = stream
        self._max = max_bytes
        self._buffer = bytearray()
        self._eof = False
        self.framing: Framing | None = None

    async def _fill(self) -> bool:
        """Read more bytes into the buffer; False at end of stream."""
        if self._eof:
            return False
        chunk = await self._stream.receive_some(_RECEIVE_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._buffer += chunk
        return True

    async def _detect(self) -> Framing | None:
        while True:
            head = bytes(self._buffer[: len(LSP_PREFIX)]).lower()
            if len(head) == len(LSP_PREFIX) or not LSP_PREFIX.startswith(head):
                return Framing.LSP if head == LSP_PREFIX else Framing.LINE
            if not await self._fill():
                return Framing.LINE if self._buffer else None

    async def next(self) -> bytes | None:
        """The next message's bytes, or None at a clean end of stream."""
        if self.framing is None:
            self.framing = await self._detect()
            if self.framing is None:
                return None
        if self.framing is Framing.LINE:
            return await self._next_line()
        return await self._next_lsp()

    async def _next_line(self) -> bytes | None:
        scanned = 0
        while True:
            newline = self._buffer.find(b"\n", scanned)
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                if len(line) > self._max:
                    raise FrameTooLarge(self._max)
                line = line.rstrip(b"\r")
                if not line.strip():
                    scanned = 0
                    continue  # blank lines between messages are harmless
                return line
            if len(self._buffer) > self._max:
                raise FrameTooLarge(self._max)
            scanned = len(self._buffer)
            if not await self._fill():
                rest = bytes(self._buffer).strip()
                self._buffer.clear()
                return rest or None  # a last message without its newline still counts

    async def _next_lsp(self) -> bytes | None:
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buffer) > MAX_HEADER_BYTES:
                raise BadFrame("LSP headers longer than 8 KiB")
            if not await self._fill():
                if self._buffer.strip():
                    raise BadFrame("connection closed in the middle of LSP headers")
                return None
        headers = bytes(self._buffer[:end]).split(b"\r\n")
        del self._buffer[: end + 4]
        length = _content_length(headers)
        if length > self._max:
            raise FrameTooLarge(self._max)
        while len(self._buffer) < length:
            if not await self._fill():
                raise BadFrame("connection closed in the middle of a message")
        body = bytes(self._buffer[:length])
        del self._buffer[:length]
        return body


def _content_length(headers: list[bytes]) -> int:
    length: int | None = None
    for header in headers:
        name, sep, value = header.partition(b":")
        if not sep:
            raise BadFrame(f"malformed LSP header {header[:80]!r}")
        if name.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise BadFrame(f"bad Content-Length {value.strip()[:40]!r}") from None
            if length < 0:
                raise BadFrame("negative Content-Length")
    if length is None:
        raise BadFrame("LSP message without Content-Length")
    return length


def frame(framing: Framing, body: bytes) -> bytes:
    if framing is Framing.LSP:
        return b"Content-Length: %d\r\n\r\n" % len(body) + body
    return body + b"\n"
