"""The Emacs package (aod/editors/emacs/ao.el) end to end: `emacs --batch -Q` (Debian's emacs-nox)
loads it and drives its commands against a real aod, with the scripted agent in a real tmux
server. The list shows the sessions and follows a state change from events alone; a message
written in the message buffer reaches the agent byte-exact; kill kills; PR readiness and history
render; the socket's ownership is checked before anything is sent; the connection comes back
after aod restarts; the file byte-compiles without a warning. The screenshot in docs/editors/ is
`emacs -nw` in a tmux pane, captured.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.aod_process import AodProcess, wait_for
from tests.support.fleet import Fleet, config_text, git, make_repo, start_fleet
from tests.support.terminal_shot import terminal_screenshot
from tests.support.tmux import tmux_server

REPO = Path(__file__).resolve().parents[2]
AO_EL = REPO / "aod" / "editors" / "emacs" / "ao.el"
EMACS = shutil.which("emacs")

pytestmark = pytest.mark.skipif(EMACS is None, reason="emacs is not installed (Debian: apt-get install emacs-nox)")

# Helpers the scripts share: a wait on a condition with a deadline (accept-process-output runs
# ao.el's filter and timers meanwhile), and the results written as JSON to $AO_TEST_OUT.
PRELUDE = r"""
(require 'cl-lib)
(setq debug-on-error nil)
(defun ao-test-wait (pred timeout what)
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall pred))
      (when (> (float-time) deadline)
        (error "timed out after %ss waiting for %s" timeout what))
      (accept-process-output nil 0.05))))
(defun ao-test-text (buffer)
  (with-current-buffer buffer (buffer-substring-no-properties (point-min) (point-max))))
(defun ao-test-line (id)
  (with-current-buffer "*ao sessions*"
    (save-excursion
      (goto-char (point-min))
      (and (re-search-forward (concat "^ " (regexp-quote id) " .*$") nil t)
           (match-string-no-properties 0)))))
(defun ao-test-write (file text)
  (let ((coding-system-for-write 'utf-8-unix)) (write-region text nil file nil 'silent)))
(defun ao-test-out (obj)
  (ao-test-write (getenv "AO_TEST_OUT") (json-serialize obj)))
(defun ao-test-read (file)
  (with-temp-buffer
    (let ((coding-system-for-read 'utf-8-unix)) (insert-file-contents file))
    (buffer-string)))
"""

HOSTILE = "fix `rm -rf /` and $(whoami); echo 'quoted' \"double\" \\ back\nline two ünïcødé ✓ 日本語\n  indented third"


@pytest.fixture
def fleet(make_aod: Callable[..., AodProcess], tmp_path: Path) -> Iterator[Fleet]:
    with tmux_server() as tmux:
        yield start_fleet(make_aod, tmp_path, tmux)


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / f"script-{len(list(tmp_path.glob('script-*')))}.el"
    path.write_text(PRELUDE + body, encoding="utf-8")
    return path


def _emacs_argv(script: Path) -> list[str]:
    assert EMACS is not None
    return [EMACS, "--batch", "-Q", "-l", str(AO_EL), "-l", str(script)]


def _env(fleet: Fleet, out: Path) -> dict[str, str]:
    return {**fleet.aod.env(), "AO_TEST_OUT": str(out)}


def run_emacs(fleet: Fleet, tmp_path: Path, body: str, timeout: float = 120) -> Any:
    """Run `body` in `emacs --batch -Q` with ao.el loaded; return what it wrote with ao-test-out."""
    out = tmp_path / "out.json"
    out.unlink(missing_ok=True)
    done = subprocess.run(
        _emacs_argv(_script(tmp_path, body)), env=_env(fleet, out),
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"emacs failed ({done.returncode}):\n{done.stderr}\n{fleet.aod.log()[-2000:]}"
    return json.loads(out.read_text(encoding="utf-8"))


def _worker(fleet: Fleet, task: str = "build the thing") -> str:
    sid = fleet.ok("spawn", "--task", task)["id"]
    wait_for(lambda: fleet.received(sid), 30, "the first prompt")
    fleet.wait_state(sid, lambda s: s["state"] == "working" and s["activity"] in ("idle", "ready"), "the agent at rest")
    return sid


def test_the_list_shows_the_sessions_and_follows_a_state_change_from_events(fleet: Fleet, tmp_path: Path) -> None:
    sid = _worker(fleet)
    other = _worker(fleet, "another thing")
    listed = tmp_path / "listed.txt"
    out = tmp_path / "out.json"
    body = f"""
(ao-sessions)
(ao-mode 1)
(ao-test-wait (lambda () (ao-test-line {json.dumps(sid)})) 30 "the session in the list")
(ao-test-write {json.dumps(str(listed))}
  (concat (ao-test-text "*ao sessions*") "\\n--lighter--\\n" (ao-mode-line)))
;; No refresh from here on: only aod's events can bring the change.
(ao-test-wait (lambda () (string-match-p "needs_input" (or (ao-test-line {json.dumps(sid)}) "")))
              60 "the state change in the list")
(ao-test-out `((line . ,(ao-test-line {json.dumps(sid)}))
               (other . ,(ao-test-line {json.dumps(other)}))
               (lighter . ,(ao-mode-line))
               (header . ,(with-current-buffer "*ao sessions*" (format "%s" header-line-format)))
               (notified . ,(vconcat (mapcar (lambda (n) (vconcat n)) ao-notifications)))))
"""
    proc = subprocess.Popen(
        _emacs_argv(_script(tmp_path, body)), env=_env(fleet, out),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(listed.exists, 60, "emacs to list the sessions")
        text = listed.read_text(encoding="utf-8")
        rows = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith(" demo")}
        assert set(rows) >= {sid, other}, text
        # id, host (empty here: this machine), state, activity, PR (none yet), age
        assert rows[sid][1] == "working" and rows[sid][-1].endswith(("s", "m")), text
        assert rows[sid][2] in ("idle", "ready", "active"), text
        assert text.rstrip().endswith("ao:0"), text  # nobody needs a human yet

        reported = fleet.aod.result("session.report", {"id": sid, "status": "needs_input", "message": "which database?"})
        assert reported["status"] == "needs_input"
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["line"].split()[:2] == [sid, "needs_input"], result
    assert result["other"].split()[:2] == [other, "working"], result
    assert result["lighter"] == " ao:1"
    assert "2 sessions, 1 need you" in result["header"]
    (notice,) = [n for n in result["notified"] if n[0] == sid]
    assert notice[1] == f"{sid} needs input" and "which database?" in notice[2]
    assert f"aod: {sid} needs input" in stderr  # no D-Bus here: told in the echo area


def test_send_from_the_message_buffer_reaches_the_agent_byte_exact_and_kill_kills(fleet: Fleet, tmp_path: Path) -> None:
    sid = _worker(fleet)
    message = tmp_path / "message.txt"
    message.write_text(HOSTILE, encoding="utf-8")
    second = "second message: ✓ \"done\""
    result = run_emacs(fleet, tmp_path, f"""
(ao-sessions)
(goto-char (point-min))
(ao-test-wait (lambda () (ao-test-line {json.dumps(sid)})) 30 "the session in the list")
(set-buffer
 (with-current-buffer "*ao sessions*"
   (goto-char (point-min))
   (re-search-forward (concat "^ " (regexp-quote {json.dumps(sid)}) " "))
   (ao-send-compose (tabulated-list-get-id))))
(insert (ao-test-read {json.dumps(str(message))}))
(let ((sent (ao-send-commit))
      (direct (ao-send {json.dumps(sid)} {json.dumps(second)})))
  (ao-test-out `((sent . ,sent) (direct . ,direct)
                 (buffer_gone . ,(if (get-buffer (format "*ao message to %s*" {json.dumps(sid)})) :false t)))))
""")
    assert result["sent"]["id"] == sid and result["direct"]["seq"] > result["sent"]["seq"]
    assert result["buffer_gone"] is True
    fleet.wait_received(sid, HOSTILE)
    fleet.wait_received(sid, second)
    assert fleet.received(sid)[-2:] == [HOSTILE, second]  # byte for byte, in order

    killed = run_emacs(fleet, tmp_path, f"""
(ao-sessions)
(let ((session (ao-kill {json.dumps(sid)} t)))
  (ao-test-wait (lambda () (string-match-p "killed" (or (ao-test-line {json.dumps(sid)}) ""))) 30
                "killed in the list")
  (ao-test-out `((state . ,(alist-get 'state session)) (line . ,(ao-test-line {json.dumps(sid)})))))
""")
    assert killed["state"] == "killed" and killed["line"].split()[:2] == [sid, "killed"]
    assert fleet.session(sid)["state"] == "killed"
    wait_for(lambda: sid not in " ".join(fleet.tmux_sessions()), 20, "the agent's tmux session gone")

    refused = run_emacs(fleet, tmp_path, """
(ao-test-out `((error . ,(condition-case err (progn (ao-send "demo-99" "hi") "sent")
                           (ao-error (error-message-string err))))))
""")
    assert "session.send" in refused["error"] and "demo-99" in refused["error"]


CI_SCRIPT = """\
import os, sys
text = open("app.txt").read() if os.path.exists("app.txt") else ""
if "BUG" in text:
    print("FAILED test_app.py::test_feature - found BUG in app.txt", file=sys.stderr)
    sys.exit(1)
print("1 passed")
"""


def _ci_fleet(make_aod: Callable[..., AodProcess], tmp_path: Path, tmux: str, project: str = "") -> Fleet:
    """A fleet whose project runs CI_SCRIPT as its CI and opens PRs on the local forge."""
    aod = make_aod()
    records = aod.root / "records"
    records.mkdir()
    ci = json.dumps([sys.executable, "ci.py"])
    aod.write_config(config_text(tmux, records, f"projects:\n  demo: {{ci: {ci}, ci_timeout: 60s, open_pr: auto{project}}}\n"))
    aod.start()
    repo = make_repo(tmp_path / "demo")
    (repo / "ci.py").write_text(CI_SCRIPT)
    git(repo, "add", "ci.py")
    git(repo, "commit", "-q", "-m", "add CI")
    fleet = Fleet(aod, tmux, repo)
    fleet.ok("project", "add", str(repo))
    return fleet


def _failing_pr(fleet: Fleet) -> str:
    """A session whose agent commits a bug: its PR opens and CI fails."""
    sid = fleet.ok("spawn", "--task", "/fake write app.txt feature with a BUG\n/fake commit add the feature")["id"]
    fleet.wait_state(sid, lambda s: s["state"] == "ci_failed", "CI to fail on the PR", 90)
    return sid


def test_pr_readiness_and_history_render(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    with tmux_server() as tmux:
        fleet = _ci_fleet(make_aod, tmp_path, tmux)
        aod = fleet.aod
        sid = _failing_pr(fleet)
        fleet.ok("review", sid, "--comment", "-m", "Rename this\nsecond line", "--file", "app.txt", "--line", "1")
        wait_for(lambda: aod.result("pr.show", {"id": sid})["pr"]["review_comments"], 30, "the comment in pr.show")

        result = run_emacs(fleet, tmp_path, f"""
(ao-sessions)
(ao-test-out `((pr . ,(ao-test-text (ao-pr-show {json.dumps(sid)})))
               (history . ,(ao-test-text (ao-history {json.dumps(sid)})))
               (line . ,(ao-test-line {json.dumps(sid)}))))
""")
        pr = result["pr"]
        assert pr.startswith(f"PR #1 of {sid} [open]"), pr
        assert "checks failing   review none" in pr
        assert "Failing checks (1):\n  ci (failure)" in pr
        assert "    FAILED test_app.py::test_feature - found BUG in app.txt" in pr  # the excerpt, indented
        assert "Unresolved review comments (1):" in pr and " on app.txt:1" in pr
        assert "    Rename this\n    second line" in pr
        assert "Not ready to merge: CI failing: ci; review required" in pr
        assert "#1 open ci:failing" in result["line"]

        history = result["history"]
        assert history.startswith(f"History of {sid}\n")
        kinds = [e["kind"] for e in aod.result("session.history", {"id": sid})["entries"]]
        assert "state.changed" in kinds
        assert "state.changed" in history and "ci_failed" in history


def test_a_ci_failure_the_agent_cannot_fix_is_told(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    """ci-failed with no retries escalates at the first failure: the lane becomes needs_you."""
    with tmux_server() as tmux:
        fleet = _ci_fleet(make_aod, tmp_path, tmux, ", reactions: {ci-failed: {retries: 0}}")
        sid = _worker(fleet, "wait for instructions")
        listed = tmp_path / "listed"
        out = tmp_path / "out.json"
        body = f"""
(ao-mode 1)
(ao-sessions)
(ao-test-wait (lambda () (ao-test-line {json.dumps(sid)})) 30 "the session in the list")
(ao-test-write {json.dumps(str(listed))} (ao-mode-line))
(ao-test-wait (lambda () (assoc {json.dumps(sid)} ao-notifications)) 120 "the notification")
(ao-test-out `((notified . ,(vconcat (assoc {json.dumps(sid)} ao-notifications)))
               (line . ,(ao-test-line {json.dumps(sid)})) (lighter . ,(ao-mode-line))))
"""
        proc = subprocess.Popen(
            _emacs_argv(_script(tmp_path, body)), env=_env(fleet, out),
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            wait_for(listed.exists, 60, "emacs to list the sessions")
            assert listed.read_text() == " ao:0"
            fleet.ok("send", sid, "/fake write app.txt feature with a BUG\n/fake commit add the feature")
            _, stderr = proc.communicate(timeout=150)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 0, stderr + fleet.aod.log()[-3000:]
        result = json.loads(out.read_text(encoding="utf-8"))
        assert result["notified"][:2] == [sid, f"{sid}: CI failed, the agent could not fix it"]
        assert result["line"].split()[:2] == [sid, "ci_failed"] and "#1 open ci:failing" in result["line"]
        assert result["lighter"] == " ao:1"
        assert fleet.session(sid)["lane"] == "needs_you"


def test_the_keys_of_the_sessions_buffer(fleet: Fleet, tmp_path: Path) -> None:
    """The keys as a person presses them (execute-kbd-macro); `k` asks first (the answers, no
    then yes, stand in for the person's)."""
    sid = _worker(fleet)
    typed = "typed with keys: ✓ \"ok\""
    out = tmp_path / "out.json"
    at_row = f"""
(ao-sessions)
(defun ao-test-at-row ()
  ;; Keys go to the selected window's buffer, as when a person types them.
  (switch-to-buffer "*ao sessions*")
  (goto-char (point-min))
  (re-search-forward (concat "^ " (regexp-quote {json.dumps(sid)}) " "))
  (beginning-of-line))
"""
    script = _script(tmp_path, at_row + f"""
(ao-test-at-row)
(execute-kbd-macro (kbd "r"))
(let ((pr (ao-test-text (format "*ao PR %s*" {json.dumps(sid)}))))
  (ao-test-at-row)
  (execute-kbd-macro (kbd "h"))
  (let ((history (ao-test-text (format "*ao history %s*" {json.dumps(sid)}))))
    (ao-test-at-row)
    (execute-kbd-macro (kbd "s"))
    (let ((compose (buffer-name)))
      (insert {json.dumps(typed)})
      (execute-kbd-macro (kbd "C-c C-c"))
      (ao-test-at-row)
      (execute-kbd-macro (kbd "RET"))
      (ao-test-out `((pr . ,pr) (history . ,history) (compose . ,compose)
                     (dired . ,(vconcat (list (symbol-name major-mode) default-directory))))))))
""")
    done = subprocess.run(_emacs_argv(script), env=_env(fleet, out), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["pr"] == f"{sid} has no PR yet.\n"
    assert result["history"].startswith(f"History of {sid}\n") and "spawned" in result["history"]
    assert result["compose"] == f"*ao message to {sid}*"
    assert result["dired"][0] == "dired-mode"
    assert Path(result["dired"][1]) == Path(fleet.session(sid)["workspace"])
    # Delivered before the kill below: a kill right after a send could stop the agent before
    # its outbox got the message to it.
    fleet.wait_received(sid, typed)

    killing = _script(tmp_path, at_row + f"""
(ao-test-at-row)
;; The person's answers to yes-or-no-p: first no (nothing happens), then yes.
(let* ((asked nil) (answer nil)
       (refused (cl-letf (((symbol-function 'yes-or-no-p)
                           (lambda (prompt) (push prompt asked) answer)))
                  (execute-kbd-macro (kbd "k"))
                  (ao-sessions-refresh)
                  (ao-test-line {json.dumps(sid)}))))
  (setq answer t)
  (ao-test-at-row)
  (cl-letf (((symbol-function 'yes-or-no-p)
             (lambda (prompt) (push prompt asked) answer)))
    (execute-kbd-macro (kbd "k")))
  (ao-test-wait (lambda () (string-match-p "killed" (or (ao-test-line {json.dumps(sid)}) ""))) 30 "killed")
  (ao-test-out `((refused . ,refused) (asked . ,(vconcat asked)) (line . ,(ao-test-line {json.dumps(sid)})))))
""")
    done = subprocess.run(_emacs_argv(killing), env=_env(fleet, out), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["refused"].split()[:2] == [sid, "working"]  # answered no: still running
    assert result["asked"] == [f"Kill {sid}? Its agent stops; the worktree stays. "] * 2
    assert result["line"].split()[:2] == [sid, "killed"] and fleet.session(sid)["state"] == "killed"


def test_no_pr_yet_is_said_plainly(fleet: Fleet, tmp_path: Path) -> None:
    sid = _worker(fleet)
    result = run_emacs(fleet, tmp_path, f"""
(ao-test-out `((pr . ,(ao-test-text (ao-pr-show {json.dumps(sid)})))
               (worktree . ,(with-current-buffer (ao-open-worktree {json.dumps(sid)})
                              (vector (symbol-name major-mode) default-directory)))))
""")
    assert result["pr"] == f"{sid} has no PR yet.\n"
    mode, directory = result["worktree"]
    assert mode == "dired-mode"
    assert Path(directory) == Path(fleet.session(sid)["workspace"])


def test_a_socket_in_a_directory_others_can_write_is_refused_before_connecting(fleet: Fleet, tmp_path: Path) -> None:
    shared = Path(fleet.aod.root / "shared")
    shared.mkdir()
    os.chmod(shared, 0o777)
    os.symlink(fleet.aod.socket_path, shared / "aod.sock")  # it would reach the real aod
    out = tmp_path / "out.json"
    script = _script(tmp_path, """
(ao-test-out `((path . ,(ao-socket-path))
               (error . ,(condition-case err (progn (ao-sessions-refresh) "connected")
                           (ao-error (error-message-string err))))
               (connected . ,(if (ao-connected-p) t :false))))
""")
    done = subprocess.run(
        _emacs_argv(script), env={**_env(fleet, out), "AOD_SOCKET": str(shared / "aod.sock")},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert result["path"] == str(shared / "aod.sock")
    assert "writable by others" in result["error"] and "AOD_SOCKET" in result["error"]
    assert result["connected"] is False


def test_socket_discovery_follows_aoctl(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    script = _script(tmp_path, "(ao-test-out `((path . ,(ao-socket-path))))")

    def found(**env: str) -> str:
        base = {k: v for k, v in os.environ.items() if k not in ("AOD_SOCKET", "XDG_RUNTIME_DIR", "TMPDIR")}
        done = subprocess.run(_emacs_argv(script), env={**base, "AO_TEST_OUT": str(out), **env},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(out.read_text())["path"]

    # As aod.wire.default_socket_path: the temp-dir fallback is $TMPDIR's (tempfile.gettempdir()).
    uid = os.getuid()
    assert found(AOD_SOCKET="/x/y.sock", XDG_RUNTIME_DIR="/run/user/5") == "/x/y.sock"
    assert found(XDG_RUNTIME_DIR="/run/user/5") == "/run/user/5/ao/aod.sock"
    assert found(XDG_RUNTIME_DIR="relative", TMPDIR=str(tmp_path)) == f"{tmp_path}/ao-{uid}/aod.sock"
    assert found(TMPDIR=str(tmp_path)) == f"{tmp_path}/ao-{uid}/aod.sock"


def test_the_connection_comes_back_after_aod_restarts(fleet: Fleet, tmp_path: Path) -> None:
    sid = _worker(fleet)
    lost = tmp_path / "lost"
    out = tmp_path / "out.json"
    body = f"""
(ao-sessions)
(ao-mode 1)
(ao-test-wait (lambda () (ao-test-line {json.dumps(sid)})) 30 "the session in the list")
(ao-test-wait (lambda () (not (ao-connected-p))) 60 "the connection to drop")
(let ((lighter (ao-mode-line)))
  (ao-test-write {json.dumps(str(lost))} lighter)
  (ao-test-wait #'ao-connected-p 60 "the connection to come back")
  (ao-test-wait (lambda () ao--subscription) 30 "subscribed again")
  (ao-test-out `((lighter_while_lost . ,lighter) (lighter . ,(ao-mode-line))
                 (line . ,(ao-test-line {json.dumps(sid)})))))
"""
    proc = subprocess.Popen(
        _emacs_argv(_script(tmp_path, body)), env=_env(fleet, out),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_for(lambda: proc.poll() is not None or fleet.aod.result("daemon.status")["subscribers"] >= 1, 30, "emacs to subscribe")
        fleet.aod.stop()
        wait_for(lost.exists, 30, "emacs to see the connection lost")
        fleet.aod.start()
        _, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    result = json.loads(out.read_text())
    assert result["lighter_while_lost"] == " ao:-"
    assert result["lighter"] == " ao:0"
    assert result["line"].split()[0] == sid


def test_the_package_byte_compiles_without_warnings(tmp_path: Path) -> None:
    assert EMACS is not None
    copy = tmp_path / "ao.el"
    shutil.copy(AO_EL, copy)
    done = subprocess.run(
        [EMACS, "--batch", "-Q", "--eval", "(setq byte-compile-error-on-warn t)", "-f", "batch-byte-compile", str(copy)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "Error" not in done.stderr, done.stderr
    assert (tmp_path / "ao.elc").exists()
    head = AO_EL.read_text().splitlines()
    assert head[0].startswith(";;; ao.el --- ") and "lexical-binding: t" in head[0]
    assert ';; Package-Requires: ((emacs "27.1"))' in head
    assert head[-1] == ";;; ao.el ends here"
    # Self-contained: `aoctl editor install emacs` copies this directory as it is.
    assert sorted(p.name for p in AO_EL.parent.iterdir() if not p.name.endswith(".elc")) == ["ao.el"]


def test_screenshot_of_the_sessions_buffer_in_a_terminal(make_aod: Callable[..., AodProcess], tmp_path: Path) -> None:
    """`emacs -nw -Q -l ao.el -f ao-sessions` in a tmux pane, captured into docs/editors/."""
    with tmux_server() as tmux:
        fleet = _ci_fleet(make_aod, tmp_path, tmux)
        _screenshot(fleet)


def _screenshot(fleet: Fleet) -> None:
    pr = _failing_pr(fleet)
    first = _worker(fleet, "add a health endpoint")
    second = _worker(fleet, "fix the flaky login test")
    fleet.aod.result("session.report", {"id": second, "status": "needs_input", "message": "which test database?"})
    fleet.wait_state(second, lambda s: s["state"] == "needs_input", "needs_input")
    with tmux_server() as shot:
        env = {**fleet.aod.env(), "TERM": "xterm-256color"}
        assert EMACS is not None
        subprocess.run(
            ["tmux", "-L", shot, "-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "16",
             EMACS, "-nw", "-Q", "-l", str(AO_EL), "--eval", "(ao-mode 1)", "-f", "ao-sessions"],
            env=env, check=True, capture_output=True, timeout=30,
        )

        def capture() -> str:
            return subprocess.run(["tmux", "-L", shot, "capture-pane", "-p", "-t", "0"],
                                  capture_output=True, text=True, env=env).stdout

        screen = wait_for(lambda: (c := capture()) and first in c and "needs_input" in c and "ao:1" in c and c,
                          30, "emacs showing the sessions")
        coloured = subprocess.run(["tmux", "-L", shot, "capture-pane", "-p", "-e", "-t", "0"], capture_output=True, text=True, env=env).stdout
    assert second in screen and "1 need you" in screen
    assert any(line.split()[:1] == [pr] and "#1 open ci:failing" in line for line in screen.splitlines()), screen
    # The picture (docs/editors/emacs.png): the pane's capture with its colours, drawn by
    # xterm.js in Chromium, when $AOD_SCREENSHOTS says where.
    terminal_screenshot(coloured, "emacs.png", cols=100, rows=16)
