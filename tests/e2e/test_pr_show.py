"""`pr.show` / `aoctl pr show`, end to end on the local forge: aod and aoctl as processes, real
git, a real tmux server, the scripted agent, the project's real CI command.

The agent commits a bug, aod opens the PR, CI fails; a reviewer comments on a line. pr.show
then tells what aod last saw: the failing check with the excerpt of its log (the one the agent
was sent), the unresolved comment with its file and line, and why the PR cannot be merged —
secrets taken out everywhere. A session without a PR has `pr: null`; an unknown one is NOT_FOUND.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo
from tests.support.tmux import tmux_server

# Shaped like a GitHub token, so the default redaction patterns take it out.
FAKE_TOKEN = "ghp_" + "Q7w9ZkT3mLpX2vB8nR4sY6dF1gH5jK0aCeUi"
CI_SCRIPT = f"""\
import os, sys
text = open("app.txt").read() if os.path.exists("app.txt") else ""
print("running the tests with GITHUB_TOKEN={FAKE_TOKEN}")
if "BUG" in text:
    print("FAILED test_app.py::test_feature - found BUG in app.txt", file=sys.stderr)
    sys.exit(1)
print("1 passed")
"""
NOT_FOUND = -32020


def test_pr_show_tells_the_failing_check_the_comment_and_the_blockers(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        aod = make_aod()
        records = aod.root / "records"
        records.mkdir()
        ci = json.dumps([sys.executable, "ci.py"])
        aod.write_config(config_text(tmux, records, f"projects:\n  demo: {{ci: {ci}, ci_timeout: 60s, open_pr: auto}}\n"))
        aod.start()
        repo = make_repo(tmp_path / "demo")
        (repo / "ci.py").write_text(CI_SCRIPT)
        git(repo, "add", "ci.py")
        git(repo, "commit", "-q", "-m", "add CI")
        fleet = Fleet(aod, tmux, repo)
        fleet.ok("project", "add", str(repo))

        # A session that never commits never gets a PR.
        idle = fleet.ok("spawn", "--task", "look around, change nothing")["id"]
        fleet.wait_state(idle, lambda s: s["state"] == "working", "the idle session to start", 60)
        assert aod.result("pr.show", {"id": idle}) == {"session": idle, "pr": None}
        assert fleet.aod.aoctl("pr", "show", idle).stdout.strip() == f"{idle} has no PR yet"

        unknown = aod.call("pr.show", {"id": "demo-99"})
        assert unknown["error"]["code"] == NOT_FOUND and "demo-99" in unknown["error"]["message"]
        missing = fleet.fails("pr", "show", "demo-99")
        assert missing.returncode == 1 and "demo-99" in missing.stderr

        sid = fleet.ok("spawn", "--task", "/fake write app.txt feature with a BUG\n/fake commit add the feature")["id"]
        fleet.wait_state(sid, lambda s: s["state"] == "ci_failed", "CI to fail on the PR", 90)

        def shown() -> dict[str, object]:
            return aod.result("pr.show", {"id": sid})

        result = shown()
        assert result["session"] == sid
        pr = result["pr"]
        assert (pr["number"], pr["state"], pr["checks"], pr["review"]) == ("1", "open", "failing", "none")
        (check,) = pr["failing"]
        assert check["name"] == "ci" and check["conclusion"] == "failure"
        excerpt = check["log_excerpt"]
        assert "FAILED test_app.py::test_feature - found BUG in app.txt" in excerpt
        assert FAKE_TOKEN not in excerpt and "[redacted" in excerpt
        assert pr["blockers"] == ["CI failing: ci", "review required"]
        assert pr["review_comments"] == [] and pr["comments"] == 0
        # The excerpt is the one the agent was sent about this failure.
        wait_for(lambda: any("found BUG in app.txt" in m for m in fleet.received(sid)), 60, "the CI failure message")
        assert any(excerpt in m for m in fleet.received(sid))
        # What pr.show read is what the tick kept on disk, redacted there too.
        kept = (aod.state_dir / "sessions" / sid / "pr.json").read_text()
        assert "found BUG in app.txt" in kept and FAKE_TOKEN not in kept

        secret_comment = f"Rename this; and never paste {FAKE_TOKEN} in a review"
        reviewed = fleet.ok("review", sid, "--comment", "-m", secret_comment + "\nsecond line", "--file", "app.txt", "--line", "1")
        assert reviewed["review_comments"][0]["path"] == "app.txt"  # pr.review returns the same view
        pr = wait_for(lambda: (p := shown()["pr"]) and p["review_comments"] and p, 30, "the comment in pr.show")
        (comment,) = pr["review_comments"]
        assert (comment["path"], comment["line"], comment["resolved"]) == ("app.txt", 1, False)
        assert comment["author"] and comment["created_at"].startswith("20")
        assert comment["body"].startswith("Rename this; and never paste [redacted") and FAKE_TOKEN not in comment["body"]
        assert pr["comments"] == 1

        fleet.ok("review", sid, "--request-changes", "-m", "Fix the bug first")
        pr = wait_for(lambda: (p := shown()["pr"]) and p["review"] == "changes_requested" and p, 30, "the request for changes")
        assert pr["blockers"] == ["CI failing: ci", "changes requested"]
        assert [c["body"] for c in pr["review_comments"]][-1] == "Fix the bug first"

        # aoctl pr show: the same, for a person.
        human = fleet.aod.aoctl("pr", "show", sid)
        assert human.returncode == 0, human.stderr
        text = human.stdout
        assert text.startswith(f"PR #1 of {sid} [open] local:demo#1\n")
        assert "checks failing   review changes_requested   mergeable" in text
        assert "failing: ci (failure)" in text
        assert "\n    FAILED test_app.py::test_feature - found BUG in app.txt\n" in text  # the excerpt, indented
        assert "unresolved review comments (2):" in text
        assert " on app.txt:1" in text and "    Rename this; and never paste [redacted" in text and "    second line" in text
        assert text.rstrip().endswith("not ready to merge: CI failing: ci; changes requested")
        assert FAKE_TOKEN not in text and "\x1b" not in text
        as_json = json.loads(fleet.aod.aoctl("pr", "show", sid, "--json").stdout)
        assert as_json == shown()
