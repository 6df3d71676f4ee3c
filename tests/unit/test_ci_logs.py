"""ci_logs.excerpt on GitHub Actions job logs as the Actions runner writes them, and on the plain
output of any other CI (the local forge's); ci_logs.shorten for a message's share."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aod.ci_logs import clean, excerpt, failing_step, shorten

STAMP = "2024-05-01T10:00:{:02d}.{:07d}Z "


def actions_log(*sections: tuple[str, list[str]], bom: bool = True) -> str:
    """A raw job log: each section is a step (`##[group]Run ...` + its output)."""
    lines = [
        "Current runner version: '2.316.1'",
        "##[group]Operating System",
        "Ubuntu",
        "22.04.4",
        "LTS",
        "##[endgroup]",
        "##[group]Runner Image",
        "Image: ubuntu-22.04",
        "##[endgroup]",
    ]
    for header, output in sections:
        lines += [f"##[group]{header}", header.removeprefix("Run "), "shell: /usr/bin/bash -e {0}", "env:", "  CI: true", "##[endgroup]"]
        lines += output
    lines += ["Post job cleanup.", "Cleaning up orphan processes"]
    stamped = [STAMP.format(i % 60, i * 1234 % 10_000_000) + line for i, line in enumerate(lines)]
    return ("\ufeff" if bom else "") + "\r\n".join(stamped) + "\r\n"


CHECKOUT = ("Run actions/checkout@v4", ["Syncing repository: acme/shop", "Getting Git version info", "[command]/usr/bin/git version", "git version 2.45.1"])
INSTALL = ("Run pip install -e '.[test]'", [f"Collecting package-{i}" for i in range(40)] + ["Successfully installed shop-0.1.0"])
PYTEST_OUTPUT = [
    "============================= test session starts ==============================",
    "platform linux -- Python 3.12.3, pytest-8.2.0, pluggy-1.5.0",
    "collected 212 items",
    "",
    "tests/test_cart.py ....F...                                               [  4%]",
    "tests/test_checkout.py " + "." * 60 + "                [ 32%]",
    *[f"tests/test_module_{i}.py ......                                        [ {40 + i}%]" for i in range(30)],
    "=================================== FAILURES ===================================",
    "_________________________________ test_total __________________________________",
    "",
    "    def test_total():",
    "        cart = Cart([Item(price=1), Item(price=2)])",
    ">       assert cart.total() == 4",
    "E       assert 3 == 4",
    "E        +  where 3 = <bound method Cart.total of Cart(items=2)>()",
    "",
    "tests/test_cart.py:14: AssertionError",
    *[f"    padding line {i} of captured output" for i in range(60)],
    "=========================== short test summary info ============================",
    "FAILED tests/test_cart.py::test_total - assert 3 == 4",
    "======================== 1 failed, 211 passed in 4.21s =========================",
    "##[error]Process completed with exit code 1.",
]
PYTEST = ("Run pytest -q", PYTEST_OUTPUT)


def test_clean_strips_timestamps_bom_escapes_and_carriage_returns() -> None:
    raw = "\ufeff2024-05-01T10:00:00.1234567Z \x1b[31mred\x1b[0m\r\n2024-05-01T10:00:01.0000000Z plain\r\n"

    assert clean(raw) == ["red", "plain"]


def test_failing_step_is_the_one_with_the_first_error() -> None:
    step = failing_step(clean(actions_log(CHECKOUT, INSTALL, PYTEST)))

    assert step.name == "Run pytest -q"
    assert step.lines[0].startswith("=====")  # the group's header (command, env) is not output
    assert "shell: /usr/bin/bash -e {0}" not in step.lines


def test_the_excerpt_names_the_step_and_keeps_the_errors_and_the_tail() -> None:
    text = excerpt(actions_log(CHECKOUT, INSTALL, PYTEST), max_chars=2000)

    assert len(text) <= 2000
    assert text.startswith("Failing step: Run pytest -q\n")
    assert "E       assert 3 == 4" in text
    assert "tests/test_cart.py:14: AssertionError" in text
    assert "FAILED tests/test_cart.py::test_total - assert 3 == 4" in text
    assert text.rstrip().endswith("##[error]Process completed with exit code 1.")
    assert "…" in text  # the padding between was left out, and says so
    assert "padding line 10 of captured output" not in text
    # Nothing from other steps or from the job's set-up, and no timestamps.
    assert "Collecting package-1" not in text
    assert "Syncing repository" not in text
    assert "2024-05-01T" not in text


def test_the_first_error_wins_over_later_ones_when_space_is_short() -> None:
    output = ["src/cart.c:10:5: error: 'total' undeclared (first use in this function)"]
    output += [f"src/other_{i}.c:1:1: error: consequence {i}" for i in range(300)]
    output += ["make: *** [Makefile:12: all] Error 1", "##[error]Process completed with exit code 2."]
    text = excerpt(actions_log(("Run make", output)), max_chars=1200)

    assert len(text) <= 1200
    assert "error: 'total' undeclared" in text
    assert "make: *** [Makefile:12: all] Error 1" in text
    assert "consequence 299" in text  # in the tail
    assert "consequence 150" not in text


def test_a_python_traceback_keeps_its_frames() -> None:
    output = ["running migrations"] * 50 + [
        "Traceback (most recent call last):",
        '  File "/app/manage.py", line 22, in <module>',
        "    main()",
        '  File "/app/db.py", line 7, in connect',
        "    raise ConnectionError('no database at localhost:5432')",
        "ConnectionError: no database at localhost:5432",
    ] + ["cleanup"] * 40 + ["##[error]Process completed with exit code 1."]
    text = excerpt(actions_log(("Run python manage.py migrate", output)), max_chars=1500)

    assert 'File "/app/db.py", line 7, in connect' in text
    assert "ConnectionError: no database at localhost:5432" in text


def test_a_log_without_steps_or_errors_gives_its_last_lines() -> None:
    raw = "\n".join(f"2024-05-01T10:00:00.0000000Z line {i}" for i in range(200))
    text = excerpt(raw, max_chars=300)

    assert len(text) <= 300
    assert text.rstrip().endswith("line 199")
    assert "Failing step" not in text


def test_tiny_budgets_and_empty_logs() -> None:
    assert excerpt("", 100) == ""
    assert excerpt(actions_log(PYTEST), max_chars=0) == ""
    assert len(excerpt(actions_log(PYTEST), max_chars=20)) <= 20
    one_huge_line = actions_log(("Run big", ["x" * 100_000, "##[error]boom"]))
    assert len(excerpt(one_huge_line, max_chars=500)) <= 500


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=60), st.integers(min_value=0, max_value=5000))
def test_never_longer_than_asked(lines: list[str], limit: int) -> None:
    assert len(excerpt("\n".join(lines), max_chars=limit)) <= limit


def test_without_an_error_marker_the_last_real_step_is_shown() -> None:
    step = failing_step(clean(actions_log(CHECKOUT, ("Run ./build.sh", ["building", "killed by signal 9"]))))

    assert step.name == "Run ./build.sh"
    assert step.lines == ["building", "killed by signal 9"]


def test_a_step_whose_group_never_closes_still_shows_its_output() -> None:
    log = (
        "2026-12-02T10:00:00.0000000Z ##[group]Run pytest\n"
        "2026-12-02T10:00:02.0000000Z FAILED tests/test_cart.py::test_empty_cart - AssertionError: 0 != 1\n"
        "2026-12-02T10:00:02.1000000Z ##[error]Process completed with exit code 1.\n"
    )
    text = excerpt(log)
    assert text.startswith("Failing step: Run pytest")
    assert "FAILED tests/test_cart.py::test_empty_cart - AssertionError: 0 != 1" in text


# -- any CI's plain output (the local forge's) ---------------------------------------------------

PLAIN_FAILURE = [
    "collecting ...",
    "Traceback (most recent call last):",
    '  File "/repo/tests/test_cart.py", line 9, in test_total',
    "    assert total([1, 2]) == 4",
    "AssertionError: assert 3 == 4",
    "FAILED tests/test_cart.py::test_total - AssertionError: assert 3 == 4",
] + [f"teardown: removing fixture {i} of 400" for i in range(400)]


def test_an_error_printed_first_survives_400_lines_of_teardown() -> None:
    text = excerpt("\n".join(PLAIN_FAILURE), max_chars=4000)

    assert len(text) <= 4000
    assert "FAILED tests/test_cart.py::test_total - AssertionError: assert 3 == 4" in text
    assert 'File "/repo/tests/test_cart.py", line 9, in test_total' in text
    assert "AssertionError: assert 3 == 4" in text
    assert text.rstrip().endswith("removing fixture 399 of 400")  # and the end, for context
    assert "removing fixture 200 of 400" not in text
    assert "Failing step" not in text  # no steps outside Actions


def test_shorten_keeps_the_failing_step_and_the_first_errors() -> None:
    full = excerpt(actions_log(("Run pytest -q", PLAIN_FAILURE + ["##[error]Process completed with exit code 1."])))
    assert len(full) > 1500
    short = shorten(full, 1500)

    assert len(short) <= 1500
    assert short.startswith("Failing step: Run pytest -q\n")
    assert "FAILED tests/test_cart.py::test_total" in short
    assert "##[error]Process completed with exit code 1." in short
    assert "…\n…" not in short  # one gap where lines were left out, never two
    assert shorten(full, len(full)) == full
    assert shorten(full, 0) == ""


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=200), max_size=60), st.integers(min_value=0, max_value=5000))
def test_shorten_is_never_longer_than_asked(lines: list[str], limit: int) -> None:
    assert len(shorten(excerpt("\n".join(lines), 6000), max_chars=limit)) <= limit
