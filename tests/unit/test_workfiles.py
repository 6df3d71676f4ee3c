"""Which ignored files are work: aod/workfiles.py's patterns, as values."""

from __future__ import annotations

import pytest

from aod.workfiles import DEFAULT_DISPOSABLE, is_disposable, listed, pattern_problem, work_left


@pytest.mark.parametrize(
    ("relative", "is_dir", "expected"),
    [
        ("node_modules", True, True),
        ("web/node_modules", True, True),
        ("web/node_modules/x/index.js", False, True),  # below a disposable directory
        ("pkg/__pycache__/m.cpython-312.pyc", False, True),
        ("m.pyc", False, True),
        ("target", True, True),
        ("target", False, False),  # `target/` means a directory; a file named target is work
        ("build/notes.txt", False, False),
        ("build", True, False),
        ("run.log", False, False),
        (".env", False, False),
        ("docs/.DS_Store", False, True),
        ("src/app.egg-info", True, True),
    ],
)
def test_the_default_patterns(relative: str, is_dir: bool, expected: bool) -> None:
    assert is_disposable(relative, is_dir, DEFAULT_DISPOSABLE) is expected


def test_anchored_patterns_match_from_the_root_only() -> None:
    assert is_disposable("docs/_build", True, ["docs/_build/"])
    assert not is_disposable("lib/docs/_build", True, ["docs/_build/"])
    assert is_disposable("out/a.bin", False, ["/out"])
    assert not is_disposable("src/out", True, ["/out"])
    assert is_disposable("x/y/trace.log", False, ["*.log"])


@pytest.mark.parametrize("bad", ["", "/", "../x", "a/../../b", "a\x00b"])
def test_bad_patterns_are_named(bad: str) -> None:
    assert pattern_problem(bad) is not None


def test_messages_name_the_files() -> None:
    assert listed(["run.log", ".env", "build/notes.txt"]) == ".env, build/notes.txt, run.log"
    assert listed([f"f{n}" for n in range(12)], limit=2) == "f0, f1 and 10 more"
    assert work_left(True, {}, saved=True) == "uncommitted changes"
    text = work_left(False, {"big.bin": 300 * 1024 * 1024}, saved=False)
    assert "big.bin" in text and "300 MB" in text and "too large" in text
