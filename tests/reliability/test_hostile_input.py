"""R4: hostile strings in every user-facing input, through aoctl into a real aod, tmux, git and
the scripted agent.

- No shell (and no tmux format) ever interprets them: each carries a `touch` of a canary file
  in `$(...)`, backticks, `;`, `|`, `&&`, quotes, newlines and tmux's own `#(...)`, and no canary
  ever appears.
- Text meant for the agent (tasks, issue titles and bodies, messages, review comments, PR
  titles) arrives byte-exact.
- Names (projects, branches, session and issue ids) that could escape a directory or read as
  options are refused with a clear one-line error: exit status 1 or 2, no traceback, and
  nothing is created for a refused request.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.aod_process import wait_for
from tests.support.fleet import Fleet, git


@pytest.fixture
def canary(tmp_path: Path) -> Iterator[Path]:
    """A directory that must stay empty: every hostile string tries to create a file in it."""
    directory = tmp_path / "canary"
    directory.mkdir()
    yield directory
    assert sorted(p.name for p in directory.iterdir()) == [], "a hostile string was run by a shell"


def payloads(canary: Path) -> list[str]:
    c = canary
    return [
        f"$(touch {c}/dollar)",
        f"`touch {c}/backtick`",
        f"x; touch {c}/semicolon;",
        f"x | touch {c}/pipe",
        f"x && touch {c}/and",
        f"x\ntouch {c}/newline\n",
        f"'; touch {c}/quote; echo '",
        f'"; touch {c}/dquote; echo "',
        f"#(touch {c}/tmux-format) #{{pane_id}} #S",
        f"$(touch${{IFS}}{c}/ifs)",
        "%s %n %x {0} {session} \\ \\\\ \t tab ünïcødé ✓ 🚀",
        "-rf --help ../../../etc/passwd",
    ]


def everything(canary: Path) -> str:
    """All payloads in one text (what the agent must see byte-exact)."""
    return "\n".join(payloads(canary))


def refused(fleet: Fleet, *args: str, says: str) -> None:
    """aod refused it (exit 1, `aoctl: <why>`), or click did (exit 2, `Error: <why>`: a name
    that reads as an option)."""
    result = fleet.aod.aoctl(*args, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    if result.returncode == 2:
        assert "Error:" in result.stderr, (args, result.stderr)
        return
    assert result.returncode == 1, (args, result.returncode, result.stdout, result.stderr)
    assert says in result.stderr and len(result.stderr.strip().splitlines()) <= 3, (args, result.stderr)


def first_prompt(fleet: Fleet, sid: str) -> str:
    wait_for(lambda: fleet.received(sid), 30, f"{sid}'s first prompt")
    return fleet.received(sid)[0]


def no_handler_crashed(fleet: Fleet) -> None:
    log = fleet.aod.log()
    assert '"handler crashed"' not in log and "Traceback" not in log, log[-3000:]


def test_tasks_messages_and_issues_arrive_byte_exact_and_run_nothing(make_fleet: Callable[..., Fleet], canary: Path) -> None:
    fleet = make_fleet()
    text = everything(canary)
    # A task, pasted into the custom agent, and given on the command line to claude-code (a
    # tmux new-session argv: `;` at an argument's end and `#(...)` are tmux syntax).
    pasted = fleet.ok("spawn", "--task", text)["id"]
    argv = fleet.ok("spawn", "--agent", "claude-code", "--task", text)["id"]
    assert text in first_prompt(fleet, pasted)
    assert text in first_prompt(fleet, argv)
    for payload in payloads(canary):
        fleet.ok("send", pasted, "--", payload)  # `--`: a payload may start with `-`
        fleet.wait_received(pasted, payload)
    fleet.ok("send", argv, "-", input=text.encode())
    fleet.wait_received(argv, text)
    # An issue's title and body become the first prompt of the session that works on it.
    title = " ".join(payloads(canary)[:4])  # a title is one line, of at most 500 characters
    assert len(title) <= 500
    issue = fleet.ok("issue", "add", "--title", title, "--body", text, "--label", f"$(touch {canary}/label)")
    shown = fleet.ok("issue", "show", issue["id"])
    assert (shown["title"], shown["body"]) == (title, text)
    listed = fleet.aod.aoctl("issue", "list")  # the human table, with that title in it
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    from_issue = fleet.ok("spawn", issue["id"])["id"]
    prompt = first_prompt(fleet, from_issue)
    assert title in prompt and text in prompt
    status = fleet.aod.aoctl("status")  # human output with those tasks in it
    assert status.returncode == 0 and "Traceback" not in status.stderr
    no_handler_crashed(fleet)


def test_pr_titles_and_review_comments_arrive_byte_exact(make_fleet: Callable[..., Fleet], canary: Path) -> None:
    fleet = make_fleet()
    text = everything(canary)
    sid = fleet.ok("spawn", "--task", "make a change")["id"]
    first_prompt(fleet, sid)
    fleet.ok("send", sid, "/fake write change.txt a change\n/fake commit a change")
    wait_for(lambda: "a change" in git(fleet.repo, "log", "--format=%s", f"ao/{sid}"), 30, "the agent's commit")
    title = payloads(canary)[0] + " " + payloads(canary)[8]
    pr = fleet.ok("pr", "open", sid, "--title", title, "--body", text)
    assert pr["number"]
    fleet.ok("review", sid, "--request-changes", "-m", text)

    def review_message() -> str | None:
        # The reaction quotes each comment indented under its author: every line byte-exact.
        return next((m for m in fleet.received(sid) if "A reviewer asked for changes" in m), None)

    message = wait_for(review_message, 60, "the review comment to reach the agent")
    for line in text.split("\n"):
        assert line in message, (line, message)
    fleet.ok("review", sid, "--comment", "-m", payloads(canary)[1], "--file", "change.txt", "--line", "1")
    wait_for(lambda: any(payloads(canary)[1] in m for m in fleet.received(sid) if m != message), 60, "the line comment")
    no_handler_crashed(fleet)


BAD_PROJECT_NAMES = ["../escape", "a/b", "..", ".", ".hidden", "-rf", "$(touch x)", "a b", "x" * 70, "ok\n", "ünï"]
BAD_BRANCHES = ["../../etc", "a..b", "-x", "x y", "x~1", "x^", "x:y", "x?", "x*", "x[", "x\\y", "@{-1}", "x.lock",
                "/x", "x/", "x.", "HEAD", "x\x1b[31m", "x\u202ey", ""]
BAD_IDS = ["../demo-1", "demo-1/../../x", "$(touch x)", "-rf", "DEMO-1", "demo 1", "demo-1\n", "", "x" * 80]


def test_names_that_could_escape_or_inject_are_refused_clearly(make_fleet: Callable[..., Fleet], canary: Path, tmp_path: Path) -> None:
    fleet = make_fleet()
    state = fleet.aod.state_dir
    before = sorted(str(p.relative_to(state)) for p in state.rglob("*"))
    for name in BAD_PROJECT_NAMES:
        refused(fleet, "project", "add", str(fleet.repo), "--name", name, says="name")
    for branch in BAD_BRANCHES:
        refused(fleet, "spawn", "--task", "x", "--branch", branch, says="branch")
    for bad in BAD_IDS:
        for command in (["send", bad, "hi"], ["kill", bad], ["logs", bad], ["restore", bad], ["history", bad], ["pause", bad]):
            refused(fleet, *command, says="aoctl:")
        refused(fleet, "spawn", bad, says="aoctl:")  # an issue id
        refused(fleet, "issue", "show", bad, says="aoctl:")
    assert fleet.ok("status") == []  # no session came of any refused request
    assert [p["name"] for p in fleet.ok("project", "list")["projects"]] == ["demo"]
    after = sorted(str(p.relative_to(state)) for p in state.rglob("*"))
    assert [p for p in after if p not in before and not p.startswith("counters")] == []
    assert not (tmp_path / "escape").exists() and not (state.parent / "escape").exists()
    # A branch name git accepts is used as it is, shell characters and all: never run.
    odd = f"fix/$(touch${{IFS}}{canary}/branch)"
    spawned = fleet.ok("spawn", "--task", "x", "--branch", odd)
    assert spawned["branch"] == odd
    assert git(fleet.repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{odd}").strip()
    no_handler_crashed(fleet)


def test_a_nul_byte_is_refused_not_truncated(make_fleet: Callable[..., Fleet]) -> None:
    fleet = make_fleet()
    # argv cannot carry NUL: the JSON-RPC request can (aoctl rpc, or an editor).
    task = fleet.aod.call("session.spawn", {"task": "before\x00after"})
    assert task["error"]["code"] == -32602 and "NUL" in task["error"]["message"], task
    sid = fleet.ok("spawn", "--task", "t")["id"]
    sent = fleet.aod.call("session.send", {"id": sid, "message": "before\x00after"})
    assert "error" in sent and "NUL" in sent["error"]["message"], sent
    result = fleet.aod.aoctl("send", sid, "-", input=b"before\x00after")
    assert result.returncode == 1 and "NUL" in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not any("before" in m for m in fleet.received(sid))
    json.dumps(fleet.ok("status"))  # still answers
