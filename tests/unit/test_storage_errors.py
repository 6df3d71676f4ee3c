"""A write the disk refused is an application error (-32040) with what to do, found wherever it
sits in a chain or a group; any other error is not (aod/errors.py)."""

from __future__ import annotations

import errno

import pytest

from aod.errors import storage_error, storage_failure
from aod.protocol import ErrorCode


@pytest.mark.parametrize(
    ("number", "words"),
    [(errno.ENOSPC, "is full"), (errno.EDQUOT, "over its quota"), (errno.EROFS, "is read-only")],
)
def test_each_refusal_says_what_and_what_to_do(number: int, words: str) -> None:
    failure = storage_failure(OSError(number, "the kernel's words"))
    assert failure.code == ErrorCode.STORAGE == -32040
    assert failure.message.startswith("the state directory ") and words in failure.message
    assert "retry" in failure.message and "the kernel's words" in failure.message
    assert failure.data == {"errno": errno.errorcode[number], "path": ""}
    named = storage_failure(OSError(number, "x", "/state/sessions/a/session.json"))
    assert named.message.startswith("cannot write /state/sessions/a/session.json: the disk ")


def test_found_through_causes_and_groups_only_for_those_errnos() -> None:
    full = OSError(errno.ENOSPC, "No space left on device")
    try:
        try:
            raise full
        except OSError:
            raise RuntimeError("while recording the spawn")  # noqa: B904 - the context is the point
    except RuntimeError as wrapped:
        assert storage_error(wrapped) is full
    assert storage_error(ExceptionGroup("tick", [ValueError("x"), full])) is full
    assert storage_error(OSError(errno.EACCES, "Permission denied")) is None
    assert storage_error(ValueError("no")) is None
