"""The whole loop on the local forge, end to end: aod and aoctl as processes, real git, a real
tmux server, the scripted agent.

issue → spawn → the agent commits (with a bug) → aod opens the PR (open_pr: auto) → CI fails →
the agent gets the failing log's tail and fixes it → CI passes → a review asks for changes →
the agent gets the comment and addresses it → approve → aod merges into main (auto_merge) →
cleanup archives the session.

The scripted agent obeys `/fake ...` lines in what it is sent; the project's reaction message
templates carry those lines, standing in for what a model would decide to do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.tmux import tmux_server

CI_SCRIPT = """\
import sys
text = open("app.txt").read() if __import__("os").path.exists("app.txt") else ""
print("running the tests")
if "BUG" in text:
    print("FAILED test_app.py::test_feature - found BUG in app.txt", file=sys.stderr)
    sys.exit(1)
print("1 passed")
"""


def project_config() -> str:
    ci = json.dumps([sys.executable, "ci.py"])
    return f"""\
projects:
  demo:
    ci: {ci}
    ci_timeout: 60s
    open_pr: auto
    auto_merge: true
    reactions:
      ci-failed:
        message: "CI is red: {{checks}}\\n{{logs}}\\n/fake write app.txt feature without the bug\\n/fake commit fix the failing test"
      changes-requested:
        message: "Review says:\\n{{comments}}\\n/fake write NOTES.md reviewed\\n/fake commit address the review"
      pr-merged: {{threshold: 0s}}
"""


def test_issue_to_merged_pr_on_the_local_forge(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(config_text(tmux, records, project_config()))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        (repo / "ci.py").write_text(CI_SCRIPT)
        git(repo, "add", "ci.py")
        git(repo, "commit", "-q", "-m", "add CI")
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))

        issue = fleet.ok(
            "issue", "add", "-p", "demo", "--title", "Add the feature",
            "--body", "/fake write app.txt feature with a BUG\n/fake commit add the feature",
        )
        assert issue["id"] == "1"
        sid = fleet.ok("spawn", "1")["id"]
        assert fleet.session(sid)["title"] == "Add the feature"

        def state(s: str, timeout: float = 60) -> dict[str, object]:
            try:
                return fleet.wait_state(sid, lambda info: info["state"] == s, f"state {s}", timeout)
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {fleet.session(sid)}\n{fleet.aod.log()[-4000:]}") from None

        # The agent commits a bug; aod opens the PR once it is idle; CI fails on that head.
        failed = state("ci_failed")
        assert failed["pr_number"] == "2" and "checks failing: ci" in failed["reason"]
        # The agent got the failing log's tail (not just a link), and fixed it.
        wait_for(lambda: any("found BUG in app.txt" in m for m in fleet.received(sid)), 60, "the CI failure message")
        ci_message = next(m for m in fleet.received(sid) if "found BUG in app.txt" in m)
        assert ci_message.startswith("[ao:") and "CI is red: ci" in ci_message
        state("review_pending")

        reviewed = fleet.ok("review", sid, "--request-changes", "-m", "Please also write NOTES.md; `rm -rf /` is not a plan")
        assert reviewed["review"] == "changes_requested"
        wait_for(lambda: any("Please also write NOTES.md" in m for m in fleet.received(sid)), 60, "the review comment")
        review_message = next(m for m in fleet.received(sid) if "Please also write NOTES.md" in m)
        assert "`rm -rf /` is not a plan" in review_message
        wait_for(lambda: "address the review" in git(repo, "log", "--format=%s", f"ao/{sid}"), 60, "the review fix commit")

        # Not yet approved: a merge is refused with the reason.
        refused = fleet.fails("merge", sid)
        assert "not approved" in refused.stderr

        fleet.ok("review", sid, "--approve")
        merged_or_archived = wait_for(lambda: _archived(fleet, sid) or None, 90, "merge and cleanup")
        assert merged_or_archived
        assert git(repo, "log", "-1", "--format=%s", "main").startswith("Merge PR #2: Add the feature")
        assert (repo / "app.txt").read_text() == "feature without the bug\n"  # the checked-out main moved
        assert (repo / "NOTES.md").exists()
        assert fleet.ok("issue", "show", "1", "-p", "demo")["state"] == "closed"  # "Closes #1"
        # Each reaction message went once.
        assert sum("found BUG in app.txt" in m for m in fleet.received(sid)) == 1
        assert sum("Please also write NOTES.md" in m for m in fleet.received(sid)) == 1
        history = json.loads((aod.state_dir / "archive" / sid / "reactions.json").read_text())
        done = {(i["key"], i["kind"]) for i in history["intents"] if i["state"] == "done"}
        assert {("ci-failed", "send-to-agent"), ("changes-requested", "send-to-agent"), ("approved-and-green", "auto-merge"), ("pr-merged", "cleanup")} <= done


def _archived(fleet: Fleet, sid: str) -> bool:
    return (fleet.aod.state_dir / "archive" / sid / "session.json").exists()


def test_issue_commands_and_their_errors(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        aod = make_aod()
        aod.write_config(config_text(tmux, aod.root))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        body = tmp_path / "body.md"
        body.write_text("Steps:\n1. \x1b[31mred\x1b[0m\n2. $(whoami)\n")
        added = fleet.ok("issue", "add", "--title", "Crash on `save`; $(id)", "--file", str(body), "-l", "bug")
        assert (added["title"], added["labels"]) == ("Crash on `save`; $(id)", ["bug"])
        listed = fleet.aod.aoctl("issue", "list")
        assert listed.returncode == 0 and "#1" in listed.stdout and "Crash on" in listed.stdout
        shown = fleet.aod.aoctl("issue", "show", "1")
        assert "\x1b" not in shown.stdout and "$(whoami)" in shown.stdout  # escapes neutralised
        assert fleet.ok("--json", "issue", "close", "1")["state"] == "closed"
        assert fleet.ok("issue", "list")["issues"] == []
        missing = fleet.fails("issue", "show", "9")
        assert "no issue 9" in missing.stderr and missing.returncode == 1
        unknown = fleet.fails("spawn", "9")
        assert "no issue 9" in unknown.stderr
        assert fleet.ok("status") == []  # nothing was created
        no_title = fleet.aod.aoctl("issue", "add", "--title", "  ")
        assert no_title.returncode == 1 and "needs a title" in no_title.stderr
        outside = subprocess.run([sys.executable, "-m", "aoctl", "pr", "open"], env={**aod.env(), "AO_SESSION_ID": ""}, capture_output=True, text=True)
        assert outside.returncode == 2 and "AO_SESSION_ID" in outside.stderr


def test_every_comment_of_a_review_round_reaches_the_agent(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    # An inline comment, a request for changes and a third comment, each seen on its own tick,
    # then a fourth later: new feedback is never a retry, so none of them is held back.
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(config_text(tmux, records, "projects:\n  demo: {open_pr: auto}\n"))
        aod.start()
        fleet = Fleet(aod, tmux, make_repo(tmp_path / "demo"))
        fleet.ok("project", "add", str(fleet.repo))
        sid = fleet.ok("spawn", "--task", "/fake write app.txt feature\n/fake commit add the feature")["id"]
        fleet.wait_state(sid, lambda s: s["state"] == "review_pending", "the PR waiting for review", 60)

        def announced() -> list[dict[str, object]]:
            return [e for e in fleet.ok("history", sid, "-n", "500")["entries"]
                    if e["kind"] == "reaction.done" and e["key"] == "review-pending"]

        # "Ready for review" is told to a person once for this head.
        wait_for(announced, 30, "the ready-for-review notification")

        said = [
            ("--comment", "Rename `x` to `total`, please", "--file", "app.txt", "--line", "1"),
            ("--request-changes", "Please split this change in two"),
            ("--comment", "And add a test for the feature"),
        ]
        for action, text, *where in said:
            fleet.ok("review", sid, action, "-m", text, *where)
            wait_for(lambda text=text: any(text in m for m in fleet.received(sid)), 60, f"the agent to get {text!r}")
        fleet.ok("review", sid, "--comment", "-m", "One more: update the README")
        wait_for(lambda: any("update the README" in m for m in fleet.received(sid)), 60, "the fourth comment")

        for text in ["Rename `x` to `total`", "split this change", "add a test for the feature", "update the README"]:
            assert sum(text in m for m in fleet.received(sid)) == 1, text
        history = fleet.ok("history", sid, "-n", "500")["entries"]
        assert not [e for e in history if e["kind"] == "reaction.intent" and "escalate" in e["subject"]]
        assert [(e["action"], e["state"]) for e in announced()] == [("notify", "done")]


def test_a_refused_merge_is_retried_once_its_cause_is_fixed(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    # The local forge refuses to move a checked-out main with uncommitted changes. The session
    # parks in merge_failed; once the user commits or reverts them, a retry on the backoff merges.
    config = (
        "projects:\n  demo:\n    open_pr: auto\n    auto_merge: true\n"
        "    reactions:\n      approved-and-green: {threshold: 1s, retries: 50}\n      pr-merged: {threshold: 0s}\n"
    )
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        aod.write_config(config_text(tmux, records, config))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))
        sid = fleet.ok("spawn", "--task", "/fake write app.txt feature\n/fake commit add the feature")["id"]
        fleet.wait_state(sid, lambda s: s["state"] == "review_pending", "the PR waiting for review", 60)

        (repo / "README.md").write_text("an edit nobody committed\n")
        fleet.ok("review", sid, "--approve")
        fleet.wait_state(sid, lambda s: s["state"] == "merge_failed", "the refused merge", 60)

        def merge_intents() -> list[dict[str, object]]:
            return [e for e in fleet.ok("history", sid, "-n", "1000")["entries"]
                    if e["kind"] == "reaction.done" and e["action"] == "auto-merge"]

        # Retried while the cause stays, and refused again: main never moved over the edit.
        wait_for(lambda: len(merge_intents()) >= 2, 60, "a retry of the merge")
        assert {e["state"] for e in merge_intents()} == {"failed"}
        assert "uncommitted changes" in str(merge_intents()[0]["outcome"])
        assert "Merge PR" not in git(repo, "log", "-1", "--format=%s", "main")
        git(repo, "checkout", "--", "README.md")

        wait_for(lambda: _archived(fleet, sid), 90, "the merge and the cleanup")
        assert git(repo, "log", "-1", "--format=%s", "main").startswith("Merge PR")
        assert (repo / "app.txt").read_text() == "feature\n"
        # Archived, and still saying how it ended; its history is read from the archive.
        record = json.loads((aod.state_dir / "archive" / sid / "session.json").read_text())
        assert record["state"] == "archived" and record["reason"].startswith("merged: ")
        history = fleet.ok("history", sid, "-n", "1000")
        assert history["archived"] is True
        merges = [e["state"] for e in history["entries"] if e["kind"] == "reaction.done" and e["action"] == "auto-merge"]
        assert merges[-1] == "done" and set(merges[:-1]) == {"failed"}
