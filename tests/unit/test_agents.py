"""Agent plugins: argv/env building, screen reading, first-run preparation, native records.

Screens are the captures measured with the real CLIs (Claude Code 2.1.197, Codex 0.169.0,
opencode 1.18.33), padded the way tmux pads captured lines.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from pathlib import Path

import pytest

from aod.model import ACTIVITIES
from aod.plugins.agent import AgentSettings, LaunchContext, ScreenReading
from aod.plugins.agent.aider import AiderAgent
from aod.plugins.agent.claude_code import (
    ClaudeCodeAgent,
    approve_api_key,
    claude_paths,
    flag_settings,
    latest_session_id,
    mark_trusted,
    transcript_dir,
)
from aod.plugins.agent.codex import CodexAgent
from aod.plugins.agent.custom import AgentConfigError, CustomAgent
from aod.plugins.agent.goose import GooseAgent
from aod.plugins.agent.opencode import OpencodeAgent
from aod.plugins.agent.registry import (
    BUILTIN,
    UnknownAgent,
    available_agent_names,
    get_agent,
)


def pad(screen: str, width: int = 100, height: int = 30) -> str:
    """A screen as `tmux capture-pane` returns it: blank lines above, every line padded."""
    lines = screen.strip("\n").splitlines()
    lines = [""] * max(0, height - len(lines)) + lines
    return "\n".join(line.ljust(width) for line in lines) + "\n"


def ctx(tmp_path: Path, prompt: str = "fix the bug", **kw: object) -> LaunchContext:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return LaunchContext(
        session_id="s-1", workspace=workspace, prompt=prompt, home=home, **kw  # type: ignore[arg-type]
    )


HOSTILE = "it's \"quoted\" $(rm -rf ~) `id` ; && |\nsecond line\t\\n -x --help\n"


# ---------------------------------------------------------------------------------------------
# Claude Code
# ---------------------------------------------------------------------------------------------

CLAUDE_IDLE = """
● Done: hello.py is written.
✻ Cogitated for 8s
────────────────────────────────────────
❯
────────────────────────────────────────
  ? for shortcuts · ← for agents                            ● high · /effort
"""
CLAUDE_IDLE_BYPASS = """
────────────────────────────────────────
❯
────────────────────────────────────────
  ⏵⏵ bypass permissions on (shift+tab to cycle) · ← for agents
"""
CLAUDE_WORKING = """
> create hello.py
✻ Coalescing…
────────────────────────────────────────
❯
────────────────────────────────────────
  esc to interrupt · ← for agents
"""
CLAUDE_WORKING_LATER = """
✢ Coalescing… (5s · ↑ 26 tokens)
────────────────────────────────────────
❯
────────────────────────────────────────
  ⏵⏵ bypass permissions on (shift+tab to cycle)
"""
CLAUDE_PERMISSION = """
● Write(hello.py)
 Create file
 hello.py
  1 print("hello")
 Do you want to create hello.py?
 ❯ 1. Yes
   2. Yes, allow all edits during this session (shift+tab)
   3. No
 Esc to cancel · Tab to amend
"""
CLAUDE_TRUST = """
 Accessing workspace:
 /tmp/realagents/proj-claude
 Is this a project you created or one you trust?
 ❯ 1. Yes, I trust this folder
   2. No, exit
 Enter to confirm · Esc to cancel
"""
CLAUDE_OFFLINE = """
 Welcome to Claude Code
 Unable to connect to Anthropic services
 Failed to connect to api.anthropic.com: ENOTFOUND
"""
CLAUDE_API_KEY = """
 Detected a custom API key in your environment
 ANTHROPIC_API_KEY: sk-ant-...fake
 Do you want to use this API key?
   1. Yes
 ❯ 2. No (recommended)
 Enter to confirm · Esc to cancel
"""
CLAUDE_TYPED = """
────────────────────────────────────────
❯ fix the failing test
────────────────────────────────────────
  ? for shortcuts
"""


@pytest.mark.parametrize(
    ("screen", "activity"),
    [
        (CLAUDE_IDLE, "idle"),
        (CLAUDE_IDLE_BYPASS, "idle"),
        (CLAUDE_WORKING, "active"),
        (CLAUDE_WORKING_LATER, "active"),
        (CLAUDE_PERMISSION, "waiting_input"),
        (CLAUDE_TRUST, "blocked"),
        (CLAUDE_OFFLINE, "blocked"),
        (CLAUDE_API_KEY, "blocked"),
        ("", "unknown"),
        ("$ some shell output\n", "unknown"),
    ],
)
def test_claude_screens(screen: str, activity: str) -> None:
    reading = ClaudeCodeAgent().read_screen(pad(screen))
    assert reading.activity == activity
    assert reading.activity in ACTIVITIES


def test_claude_screen_details() -> None:
    agent = ClaudeCodeAgent()
    assert agent.read_screen(pad(CLAUDE_PERMISSION)).detail == "Do you want to create hello.py?"
    assert agent.read_screen(pad(CLAUDE_TRUST)).detail == "trust dialog"


def test_claude_old_conversation_above_the_tail_does_not_count() -> None:
    # A permission question far up in the scrollback, an idle prompt at the bottom.
    screen = CLAUDE_PERMISSION + "\n".join(f"● line {i}" for i in range(20)) + CLAUDE_IDLE
    assert ClaudeCodeAgent().read_screen(pad(screen, height=60)).activity == "idle"


CLAUDE_TYPED_LINES = """
────────────────────────────────────────
❯ [ao:1a2b3c4d] CI failed on PR #3.
  Failing checks: test.
────────────────────────────────────────
  ? for shortcuts
"""


@pytest.mark.parametrize(
    ("screen", "content"),
    [
        (CLAUDE_IDLE, ""),
        (CLAUDE_WORKING, ""),
        (CLAUDE_TYPED, "fix the failing test"),
        (CLAUDE_TYPED_LINES, "[ao:1a2b3c4d] CI failed on PR #3.\nFailing checks: test."),
        (CLAUDE_PERMISSION, None),  # `❯ 1. Yes` is a menu, not the input line
        (CLAUDE_OFFLINE, None),
    ],
)
def test_claude_read_input(screen: str, content: str | None) -> None:
    assert ClaudeCodeAgent().read_input(pad(screen)) == content


def test_claude_argv_defaults(tmp_path: Path) -> None:
    agent = ClaudeCodeAgent(getuid=lambda: 1000)
    launch = agent.launch(AgentSettings(name="claude-code"), ctx(tmp_path))
    bypass = json.dumps({"skipDangerousModePermissionPrompt": True}, separators=(",", ":"))
    assert launch.argv == ["claude", "--dangerously-skip-permissions", "--settings", bypass, "--", "fix the bug"]
    assert launch.prompt_mode == "argv"
    assert launch.env == {"DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1"}


def test_claude_argv_all_options(tmp_path: Path) -> None:
    settings = AgentSettings(
        name="claude-code",
        model="opus",
        args=["--allowedTools", "Write", "Edit"],
        env={"DISABLE_AUTOUPDATER": "0", "EXTRA": "x"},
    )
    launch = ClaudeCodeAgent(getuid=lambda: 0).launch(settings, ctx(tmp_path, resume="abc-123"))
    assert launch.argv == [
        "claude", "--model", "opus", "--dangerously-skip-permissions", "--resume", "abc-123",
        "--settings", '{"skipDangerousModePermissionPrompt":true}',
        "--allowedTools", "Write", "Edit", "--", "fix the bug",
    ]
    assert launch.env == {
        "DISABLE_AUTOUPDATER": "0",  # the user's env wins
        "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
        "IS_SANDBOX": "1",  # root + bypass
        "EXTRA": "x",
    }


def test_claude_default_permissions_no_bypass_no_sandbox(tmp_path: Path) -> None:
    settings = AgentSettings(name="claude-code", permissions="default")
    launch = ClaudeCodeAgent(getuid=lambda: 0).launch(settings, ctx(tmp_path))
    assert "--dangerously-skip-permissions" not in launch.argv
    assert "IS_SANDBOX" not in launch.env


def test_claude_paste_mode_and_command_override(tmp_path: Path) -> None:
    settings = AgentSettings(
        name="claude-code",
        command=["python3", "tests/support/fake_agent.py", "--style", "claude"],
        prompt="paste",
        permissions="default",
    )
    launch = ClaudeCodeAgent().launch(settings, ctx(tmp_path))
    assert launch.argv == ["python3", "tests/support/fake_agent.py", "--style", "claude"]
    assert launch.prompt_mode == "paste"


@pytest.mark.parametrize(
    "agent",
    [ClaudeCodeAgent(), CodexAgent(environ={}), OpencodeAgent(), AiderAgent(), GooseAgent(),
     CustomAgent()],
    ids=lambda a: a.name,
)
def test_hostile_prompt_is_one_argv_element(tmp_path: Path, agent: object) -> None:
    settings = AgentSettings(name="x", command=["prog"], prompt="argv")
    launch = agent.launch(settings, ctx(tmp_path, prompt=HOSTILE))  # type: ignore[attr-defined]
    assert launch.argv[-1] == HOSTILE
    assert launch.argv.count(HOSTILE) == 1
    assert all(isinstance(arg, str) for arg in launch.argv)


def test_claude_transcript_helpers(tmp_path: Path) -> None:
    config_dir = tmp_path / "home" / ".claude"
    workspace = tmp_path / "work.tree" / "ws"
    workspace.mkdir(parents=True)
    assert latest_session_id(config_dir, workspace) is None
    folder = transcript_dir(config_dir, workspace)
    assert folder.parent == config_dir / "projects"
    assert folder.name == re.sub(r"[^A-Za-z0-9]", "-", os.path.realpath(workspace))
    assert "work-tree-ws" in folder.name
    folder.mkdir(parents=True)
    (folder / "old.jsonl").write_text("{}\n")
    (folder / "new.jsonl").write_text("{}\n")
    (folder / "notes.txt").write_text("")
    os.utime(folder / "old.jsonl", (1_000_000, 1_000_000))
    assert latest_session_id(config_dir, workspace) == "new"


def test_claude_transcript_dir_slash_only_name(tmp_path: Path) -> None:
    config_dir = tmp_path / "home" / ".claude"
    workspace = Path(os.path.realpath(tmp_path)) / "a.b"
    legacy = config_dir / "projects" / str(workspace).replace("/", "-")
    legacy.mkdir(parents=True)
    assert transcript_dir(config_dir, workspace) == legacy


def test_claude_config_dir_is_the_session_s_own(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert claude_paths(home, {}) == type(claude_paths(home, {}))(home / ".claude", home / ".claude.json")
    custom = claude_paths(home, {"CLAUDE_CONFIG_DIR": str(tmp_path / "cc")})
    assert (custom.config_dir, custom.state_file) == (tmp_path / "cc", tmp_path / "cc" / ".claude.json")
    # The agent's own env (agents.claude-code.env) wins over aod's.
    agent = ClaudeCodeAgent(environ={"CLAUDE_CONFIG_DIR": str(tmp_path / "aods")})
    c = ctx(tmp_path, env={"CLAUDE_CONFIG_DIR": str(tmp_path / "cc")})
    assert agent.paths(c).config_dir == tmp_path / "cc"
    agent.prepare(c)
    trusted = json.loads((tmp_path / "cc" / ".claude.json").read_text())["projects"]
    assert trusted == {os.path.realpath(c.workspace): {"hasTrustDialogAccepted": True}}
    assert not (home / ".claude.json").exists() and not (tmp_path / "aods").exists()
    sessions = tmp_path / "cc" / "sessions"
    sessions.mkdir()
    (sessions / "77.json").write_text('{"status": "busy"}')
    assert agent.read_native(c, 77) == ScreenReading("active")


# -- claude prepare ------------------------------------------------------------------------------


def test_claude_prepare_trusts_the_workspace_only(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    ClaudeCodeAgent(environ={}).prepare(c)
    data = json.loads((c.home / ".claude.json").read_text())
    assert data == {"projects": {os.path.realpath(c.workspace): {"hasTrustDialogAccepted": True}}}
    assert stat.S_IMODE((c.home / ".claude.json").stat().st_mode) == 0o600
    assert not (c.home / ".claude").exists()  # settings.json is never written


def test_claude_bypass_warning_and_hooks_go_in_flag_settings(tmp_path: Path) -> None:
    agent = ClaudeCodeAgent(getuid=lambda: 1000, environ={})
    launch = agent.launch(AgentSettings(name="claude-code"), ctx(tmp_path))
    settings = json.loads(launch.argv[launch.argv.index("--settings") + 1])
    assert settings == {"skipDangerousModePermissionPrompt": True}
    plain = agent.launch(AgentSettings(name="claude-code", permissions="default"), ctx(tmp_path))
    assert "--settings" not in plain.argv
    assert flag_settings((), bypass=False) is None


def test_claude_api_key_in_the_session_env_is_approved_ahead(tmp_path: Path) -> None:
    key = "sk-ant-api03-" + "x" * 30 + "0123456789"
    c = ctx(tmp_path, env={"ANTHROPIC_API_KEY": key})
    ClaudeCodeAgent(environ={}).prepare(c)
    data = json.loads((c.home / ".claude.json").read_text())
    assert data["customApiKeyResponses"] == {"approved": [key[-20:]], "rejected": []}
    assert key not in (c.home / ".claude.json").read_text()  # only its last 20 characters
    # A key the user rejected stays rejected.
    state = c.home / ".claude.json"
    state.write_text(json.dumps({"customApiKeyResponses": {"approved": [], "rejected": [key[-20:]]}}))
    assert approve_api_key(state, key) is False
    assert json.loads(state.read_text())["customApiKeyResponses"]["approved"] == []


def test_claude_prepare_preserves_other_keys_and_mode(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    key = os.path.realpath(c.workspace)
    original = {
        "numStartups": 7,
        "userID": "u-1",
        "hasCompletedOnboarding": True,
        "unicode": "é ❯",
        "projects": {
            "/other": {"hasTrustDialogAccepted": False, "allowedTools": ["Bash"]},
            key: {"history": [1, 2], "hasTrustDialogAccepted": False},
        },
    }
    path = c.home / ".claude.json"
    path.write_text(json.dumps(original))
    path.chmod(0o640)

    agent = ClaudeCodeAgent(environ={})
    agent.prepare(c)
    data = json.loads(path.read_text())
    expected = json.loads(json.dumps(original))
    expected["projects"][key]["hasTrustDialogAccepted"] = True
    assert data == expected
    assert list(data) == list(original)  # key order kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o640

    # Idempotent: a second run writes nothing.
    before = (path.stat().st_mtime_ns, path.stat().st_ino)
    assert mark_trusted(path, c.workspace) is False
    agent.prepare(c)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before
    assert not [p for p in c.home.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b'{"projects": []}', b"\xff\xfe"])
def test_claude_prepare_leaves_unreadable_files_untouched(tmp_path: Path, content: bytes) -> None:
    c = ctx(tmp_path)
    path = c.home / ".claude.json"
    path.write_bytes(content)
    ClaudeCodeAgent(environ={}).prepare(c)
    assert path.read_bytes() == content
    assert not [p for p in c.home.rglob("*.tmp")]


def test_claude_prepare_follows_a_symlinked_config(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    real = tmp_path / "dotfiles" / "claude.json"
    real.parent.mkdir()
    real.write_text('{"keep": 1}')
    (c.home / ".claude.json").symlink_to(real)
    mark_trusted(c.home / ".claude.json", c.workspace)
    assert (c.home / ".claude.json").is_symlink()
    assert json.loads(real.read_text())["keep"] == 1
    assert json.loads(real.read_text())["projects"]


# -- claude native ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"status": "idle"}, ScreenReading("idle")),
        ({"status": "busy"}, ScreenReading("active")),
        ({"status": "waiting", "waitingFor": "permission prompt"},
         ScreenReading("waiting_input", "permission prompt")),
        ({"status": "something-new"}, None),
        ({}, None),
    ],
)
def test_claude_session_file(
    tmp_path: Path, record: dict[str, str], expected: ScreenReading | None
) -> None:
    c = ctx(tmp_path)
    sessions = c.home / ".claude" / "sessions"
    sessions.mkdir(parents=True)
    full = {"pid": 4242, "sessionId": "abc", "cwd": str(c.workspace), "kind": "interactive"}
    full.update(record)
    (sessions / "4242.json").write_text(json.dumps(full))
    assert ClaudeCodeAgent().read_native(c, 4242) == expected


def test_claude_session_file_absent_or_torn(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    agent = ClaudeCodeAgent()
    assert agent.read_native(c, 4242) is None
    assert agent.read_native(c, None) is None
    sessions = c.home / ".claude" / "sessions"
    sessions.mkdir(parents=True)
    (sessions / "4242.json").write_text('{"status": "bu')
    assert agent.read_native(c, 4242) is None


# ---------------------------------------------------------------------------------------------
# Codex
# ---------------------------------------------------------------------------------------------

CODEX_IDLE = """
› Ask Codex to do anything
  GPT-5.5 default · /tmp/realagents/proj-codex3
  ← for agents · ? for shortcuts                  ⚠ 1 warning · f2 to view
"""
CODEX_WORKING = """
› create hello.py
• Working (2s • esc to interrupt)
› Ask Codex to do anything
  ← for agents · ? for shortcuts
"""
CODEX_WORKING_ALT = """
◦ Working (3s • esc to interrupt)
"""
CODEX_APPROVAL = """
  Would you like to make the following edits?
  Description: Apply proposed file edits
  Destination: /tmp/realagents/proj-codex3/hello.py
› 1. Yes, proceed (y)
  2. Yes, and don't ask again for these files (a)
  3. No, and tell Codex what to do differently (esc)
  Press enter to confirm or esc to cancel
"""
CODEX_TRUST = """
  Folder access /tmp/realagents/proj-codex3
  Trust this folder?
› 1. Trust and continue
  2. Back to Agent Command Center
  enter continue · esc back
"""
CODEX_UPGRADE = """
  Meet GPT-6 Sol
› 1. Try new model
  2. Use existing model
"""
CODEX_DONE = """
• Added hello.py (+1 -0)
• Done: hello.py is written.
  Worked for 6s • 06:04
› Ask Codex to do anything
  ← for agents · ? for shortcuts
"""
CODEX_TYPED = """
› fix the tests please
  ← for agents · ? for shortcuts
"""


@pytest.mark.parametrize(
    ("screen", "activity"),
    [
        (CODEX_IDLE, "idle"),
        (CODEX_DONE, "idle"),
        (CODEX_WORKING, "active"),
        (CODEX_WORKING_ALT, "active"),
        (CODEX_APPROVAL, "waiting_input"),
        (CODEX_TRUST, "blocked"),
        (CODEX_UPGRADE, "blocked"),
        ("", "unknown"),
    ],
)
def test_codex_screens(screen: str, activity: str) -> None:
    assert CodexAgent(environ={}).read_screen(pad(screen)).activity == activity


def test_codex_approval_detail() -> None:
    reading = CodexAgent(environ={}).read_screen(pad(CODEX_APPROVAL))
    assert reading.detail == "Would you like to make the following edits?"


@pytest.mark.parametrize(
    ("screen", "content"),
    [(CODEX_IDLE, ""), (CODEX_TYPED, "fix the tests please"), (CODEX_APPROVAL, None), (CODEX_WORKING_ALT, None)],
)
def test_codex_read_input(screen: str, content: str | None) -> None:
    assert CodexAgent(environ={}).read_input(pad(screen)) == content


def trust_flag(workspace: Path) -> list[str]:
    return ["-c", f'projects={{{json.dumps(os.path.realpath(workspace))}={{trust_level="trusted"}}}}']


def test_codex_argv(tmp_path: Path) -> None:
    agent = CodexAgent(environ={})
    c = ctx(tmp_path)
    launch = agent.launch(AgentSettings(name="codex"), c)
    assert launch.argv == ["codex", "--no-daemon", "--dangerously-bypass-approvals-and-sandbox", *trust_flag(c.workspace)]
    assert launch.prompt_mode == "paste"
    assert launch.env == {}
    settings = AgentSettings(
        name="codex", model="gpt-5.5", permissions="default", args=["-c", "x=1"],
        prompt="argv", env={"CODEX_HOME": "/h"},
    )
    launch = agent.launch(settings, c)
    assert launch.argv == ["codex", "--no-daemon", "-m", "gpt-5.5", *trust_flag(c.workspace), "-c", "x=1", "--", "fix the bug"]
    assert launch.env == {"CODEX_HOME": "/h"}
    assert launch.prompt_mode == "argv"
    wrapped = agent.launch(AgentSettings(name="codex", command=["my-codex"]), c)
    assert wrapped.argv[:2] == ["my-codex", "--no-daemon"]
    assert agent.supports_resume is False


def test_codex_trust_is_a_per_session_override_that_parses_as_toml(tmp_path: Path) -> None:
    workspace = tmp_path / 'we"ird\\ dir.x'
    workspace.mkdir()
    c = LaunchContext(session_id="s-1", workspace=workspace, prompt="", home=tmp_path)
    argv = CodexAgent(environ={}).launch(AgentSettings(name="codex"), c).argv
    override = argv[argv.index("-c") + 1]
    assert tomllib.loads(override) == {"projects": {os.path.realpath(workspace): {"trust_level": "trusted"}}}
    CodexAgent(environ={}).prepare(c)
    assert list(tmp_path.iterdir()) == [workspace]  # no config.toml written anywhere


def test_codex_home_is_the_session_s_own(tmp_path: Path) -> None:
    agent = CodexAgent(environ={"CODEX_HOME": str(tmp_path / "aods")})
    assert agent.home_of(ctx(tmp_path)) == tmp_path / "aods"
    assert agent.home_of(ctx(tmp_path, env={"CODEX_HOME": str(tmp_path / "mine")})) == tmp_path / "mine"
    assert CodexAgent(environ={}).home_of(ctx(tmp_path)) == tmp_path / "home" / ".codex"


# -- rollouts ----------------------------------------------------------------------------------


def _line(kind: str, payload: dict[str, object]) -> bytes:
    record = {"timestamp": "2026-11-22T06:04:00Z", "type": kind, "payload": payload}
    return (json.dumps(record) + "\n").encode()


def _meta(cwd: Path | str) -> bytes:
    return _line("session_meta", {"id": "t", "cwd": str(cwd), "base_instructions": "x" * 5000})


def _event(kind: str) -> bytes:
    return _line("event_msg", {"type": kind, "turn_id": "1"})


def _codex_env(tmp_path: Path) -> tuple[CodexAgent, LaunchContext, Path]:
    c = ctx(tmp_path)
    codex_home = tmp_path / "codex-home"
    return CodexAgent(environ={"CODEX_HOME": str(codex_home)}), c, codex_home / "sessions"


def test_codex_rollout_turn_markers_and_incremental_reads(tmp_path: Path) -> None:
    agent, c, sessions = _codex_env(tmp_path)
    day = sessions / "2026" / "11" / "22"
    day.mkdir(parents=True)
    path = day / "rollout-2026-11-22T06-04-00-aaaa.jsonl"
    assert agent.read_native(c, None) is None  # no rollout yet

    head = _meta(c.workspace) + _line("turn_context", {"cwd": str(c.workspace)})
    path.write_bytes(head)
    assert agent.read_native(c, None) is None  # no turn yet
    assert agent.cursors[path].offset == len(head)

    started = _event("task_started")
    tool = _line("response_item", {"type": "function_call", "name": "exec_command"})
    complete = _event("task_complete")
    # The turn starts; the completion is only half written.
    with path.open("ab") as handle:
        handle.write(started + tool + complete[:20])
    assert agent.read_native(c, None) == ScreenReading("active")
    assert agent.cursors[path].offset == len(head + started + tool)  # partial line not consumed

    with path.open("ab") as handle:
        handle.write(complete[20:])
    assert agent.read_native(c, None) == ScreenReading("idle")
    assert agent.cursors[path].offset == len(head + started + tool + complete)

    # Nothing new: nothing read, same answer.
    assert agent.read_native(c, None) == ScreenReading("idle")
    assert agent.cursors[path].offset == path.stat().st_size


def test_codex_rollout_second_call_reads_only_new_bytes(tmp_path: Path) -> None:
    agent, c, sessions = _codex_env(tmp_path)
    day = sessions / "2026" / "11" / "22"
    day.mkdir(parents=True)
    path = day / "rollout-2026-11-22T06-04-00-aaaa.jsonl"
    head = _meta(c.workspace)
    started = _line("event_msg", {"type": "task_started", "turn_id": "12"})
    path.write_bytes(head + started)
    assert agent.read_native(c, None) == ScreenReading("active")
    offset = agent.cursors[path].offset
    assert offset == len(head + started)
    # Rewrite the bytes already read, same length, to say something else: a reader that went
    # over them again would now answer idle.
    forged = _line("event_msg", {"type": "task_complete", "turn_id": "1"})
    assert len(forged) == len(started)
    path.write_bytes(head + forged)
    assert agent.read_native(c, None) == ScreenReading("active")
    assert agent.cursors[path].offset == offset
    with path.open("ab") as handle:
        handle.write(_event("task_started") + _event("task_complete"))
    assert agent.read_native(c, None) == ScreenReading("idle")
    assert agent.cursors[path].offset == path.stat().st_size


def test_codex_rollout_picks_newest_for_this_workspace(tmp_path: Path) -> None:
    agent, c, sessions = _codex_env(tmp_path)
    old_day = sessions / "2026" / "11" / "21"
    day = sessions / "2026" / "11" / "22"
    old_day.mkdir(parents=True)
    day.mkdir(parents=True)
    (old_day / "rollout-2026-11-21T10-00-00-a.jsonl").write_bytes(
        _meta(c.workspace) + _event("task_started")
    )
    # Newer, but another workspace.
    (day / "rollout-2026-11-22T09-00-00-b.jsonl").write_bytes(
        _meta(tmp_path / "elsewhere") + _event("task_complete")
    )
    assert agent.read_native(c, None) == ScreenReading("active")

    newer = day / "rollout-2026-11-22T10-00-00-c.jsonl"
    newer.write_bytes(_meta(c.workspace) + _event("task_started") + _event("task_complete"))
    assert agent.read_native(c, None) == ScreenReading("idle")
    assert agent.find_rollout(sessions, c.workspace) == newer


def test_codex_rollout_removed_is_forgotten(tmp_path: Path) -> None:
    agent, c, sessions = _codex_env(tmp_path)
    day = sessions / "2026" / "11" / "22"
    day.mkdir(parents=True)
    path = day / "rollout-2026-11-22T06-04-00-aaaa.jsonl"
    path.write_bytes(_meta(c.workspace) + _event("task_started"))
    assert agent.read_native(c, None) == ScreenReading("active")
    path.unlink()
    assert agent.read_native(c, None) is None


def test_codex_rollout_header_written_in_pieces(tmp_path: Path) -> None:
    agent, c, sessions = _codex_env(tmp_path)
    day = sessions / "2026" / "11" / "22"
    day.mkdir(parents=True)
    path = day / "rollout-2026-11-22T06-04-00-aaaa.jsonl"
    meta = _meta(c.workspace)
    path.write_bytes(meta[:100])
    assert agent.read_native(c, None) is None
    path.write_bytes(meta + _event("task_started"))
    assert agent.read_native(c, None) == ScreenReading("active")


def test_codex_home_defaults_to_dot_codex(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    day = c.home / ".codex" / "sessions" / "2026" / "01" / "02"
    day.mkdir(parents=True)
    (day / "rollout-x.jsonl").write_bytes(_meta(c.workspace) + _event("task_started"))
    assert CodexAgent(environ={}).read_native(c, None) == ScreenReading("active")


# -- codex prepare -------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# opencode
# ---------------------------------------------------------------------------------------------

SCREENS = Path(__file__).resolve().parents[1] / "fixtures" / "screens"


def captured(cli: str, name: str) -> str:
    """A screen captured from the real CLI in tmux (see the fixture folder's files)."""
    return (SCREENS / cli / f"{name}.txt").read_text()


@pytest.mark.parametrize(
    ("name", "activity", "content"),
    [
        ("idle-before-first-turn", "idle", ""),
        ("typed", "idle", "please create the file"),
        ("working", "active", ""),
        ("idle-after-one-turn", "idle", ""),  # the placeholder is gone after the first turn
        ("idle-after-two-turns", "idle", ""),
        ("permission", "waiting_input", None),
    ],
)
def test_opencode_screens_captured_from_the_real_cli(name: str, activity: str, content: str | None) -> None:
    agent = OpencodeAgent()
    screen = captured("opencode", name)
    assert agent.read_screen(screen).activity == activity
    assert agent.read_input(screen) == content


def test_opencode_unknown_screens() -> None:
    agent = OpencodeAgent()
    assert agent.read_screen(pad("booting")).activity == "unknown"
    assert agent.read_input(pad("booting")) is None


def test_opencode_argv_and_permissions(tmp_path: Path) -> None:
    agent = OpencodeAgent()
    settings = AgentSettings(name="opencode", model="fake/fake", args=["--x"])
    launch = agent.launch(settings, ctx(tmp_path))
    assert launch.argv == ["opencode", "--model", "fake/fake", "--x"]
    assert launch.prompt_mode == "paste"
    assert launch.env["OPENCODE_DISABLE_AUTOUPDATE"] == "1"
    assert json.loads(launch.env["OPENCODE_PERMISSION"]) == {"edit": "allow", "bash": "allow", "webfetch": "allow"}
    kept = agent.launch(AgentSettings(name="opencode", permissions="default"), ctx(tmp_path))
    assert "OPENCODE_PERMISSION" not in kept.env  # opencode's own settings decide
    assert agent.supports_resume is False


# ---------------------------------------------------------------------------------------------
# aider, goose, custom
# ---------------------------------------------------------------------------------------------


def test_aider(tmp_path: Path) -> None:
    agent = AiderAgent()
    settings = AgentSettings(name="aider", model="sonnet", args=["--no-git"])
    launch = agent.launch(settings, ctx(tmp_path))
    assert launch.argv == ["aider", "--model", "sonnet", "--yes-always", "--no-git"]
    assert launch.prompt_mode == "paste"
    plain = agent.launch(AgentSettings(name="aider", permissions="default"), ctx(tmp_path))
    assert plain.argv == ["aider"]
    assert agent.read_screen(pad("Aider v0.80\nRepo-map: on\n> ")).activity == "idle"
    assert agent.read_screen(pad("architect> ")).activity == "idle"
    question = "Add hello.py to the chat? (Y)es/(N)o/(D)on't ask again [Yes]: "
    assert agent.read_screen(pad(question)) == ScreenReading("waiting_input", question.strip())
    assert agent.read_screen(pad("Applied edit to hello.py")).activity == "unknown"
    assert agent.read_input(pad("> ")) == ""
    assert agent.read_input(pad("> fix it")) == "fix it"
    assert agent.read_input(pad("streaming text")) is None


def test_goose(tmp_path: Path) -> None:
    agent = GooseAgent()
    launch = agent.launch(AgentSettings(name="goose", model="m1", args=["--debug"]), ctx(tmp_path))
    assert launch.argv == ["goose", "session", "--debug"]
    assert launch.env == {"GOOSE_MODEL": "m1", "GOOSE_MODE": "auto"}
    assert launch.prompt_mode == "paste"
    fake = AgentSettings(name="goose", command=["fake", "--style", "goose"])
    wrapped = agent.launch(fake, ctx(tmp_path))
    assert wrapped.argv == ["fake", "--style", "goose"]
    assert agent.read_screen(pad("starting session\n( O)> ")).activity == "idle"
    assert agent.read_screen(pad("(O)>")).activity == "idle"
    assert agent.read_screen(pad("thinking...")).activity == "unknown"
    assert agent.read_input(pad("( O)> ")) == ""
    assert agent.read_input(pad("( O)> do it")) == "do it"


def test_custom(tmp_path: Path) -> None:
    agent = CustomAgent("mine")
    settings = AgentSettings(name="mine", command=["my-agent", "--flag"], args=["-v"], env={"A": "1"})
    launch = agent.launch(settings, ctx(tmp_path))
    assert launch.argv == ["my-agent", "--flag", "-v"]
    assert launch.env == {"A": "1"}
    assert launch.prompt_mode == "paste"
    in_argv = agent.launch(AgentSettings(name="mine", command=["a"], prompt="argv"), ctx(tmp_path))
    assert in_argv.argv == ["a", "fix the bug"]
    with pytest.raises(AgentConfigError, match="command"):
        agent.launch(AgentSettings(name="mine"), ctx(tmp_path))
    for prompt in ["> ", "user@host:~/x$ ", "❯", "› ", "% "]:
        assert agent.read_screen(pad("output\n" + prompt)) == ScreenReading("idle", guess=True), prompt
        assert agent.read_input(pad("output\n" + prompt)) == "", prompt
    assert agent.read_screen(pad("> half typed")).activity == "unknown"
    assert agent.read_input(pad("> half typed")) == "half typed"
    assert agent.read_screen(pad("working on it")).activity == "unknown"
    assert agent.read_input(pad("working on it")) is None
    assert agent.read_native(ctx(tmp_path), 1) is None


def test_every_agent_reads_blank_screens_as_unknown() -> None:
    for factory in BUILTIN.values():
        agent = factory()
        assert agent.read_screen("").activity == "unknown"
        assert agent.read_screen(" " * 80 + "\n" * 40).activity == "unknown"
        assert agent.read_input("") is None


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------


def test_registry_builtins_and_defaults() -> None:
    for name in ("claude-code", "codex", "aider", "goose", "opencode"):
        agent, settings = get_agent(name, {})
        assert agent.name == name
        assert settings == AgentSettings(name=name)
    assert get_agent("claude-code", {})[0].executable == "claude"
    mine = AgentSettings(name="codex", model="o3")
    agent, settings = get_agent("codex", {"codex": mine})
    assert isinstance(agent, CodexAgent) and settings is mine


def test_registry_custom_names() -> None:
    table = {
        "my-bot": AgentSettings(name="my-bot", command=["bot"]),
        "half": AgentSettings(name="half"),
    }
    agent, settings = get_agent("my-bot", table)
    assert isinstance(agent, CustomAgent) and agent.name == "my-bot"
    assert settings is table["my-bot"]
    assert available_agent_names(table) == [
        "aider", "claude-code", "codex", "goose", "my-bot", "opencode",
    ]
    custom = {"custom": AgentSettings(name="custom", command=["x"])}
    assert isinstance(get_agent("custom", custom)[0], CustomAgent)
    assert "custom" in available_agent_names(custom)
    with pytest.raises(UnknownAgent, match="agents.custom.command"):
        get_agent("custom", {})
    with pytest.raises(UnknownAgent):
        get_agent("custom", {"custom": AgentSettings(name="custom")})


def test_registry_unknown_lists_valid_names() -> None:
    table = {"half": AgentSettings(name="half"), "bot": AgentSettings(name="bot", command=["b"])}
    for name in ("nope", "half"):
        with pytest.raises(UnknownAgent) as info:
            get_agent(name, table)
        assert info.value.name == name
        assert info.value.valid_names == ["aider", "bot", "claude-code", "codex", "goose", "opencode"]
        message = str(info.value)
        assert repr(name) in message
        for valid in info.value.valid_names:
            assert valid in message


def test_claude_resumes_the_newest_conversation_of_the_workspace(tmp_path: Path) -> None:
    from aod.plugins.agent.claude_code import ClaudeCodeAgent, transcript_dir

    workspace = tmp_path / "work" / "web-1"
    folder = transcript_dir(tmp_path / "home" / ".claude", workspace)
    folder.mkdir(parents=True)
    old = folder / "aaaa.jsonl"
    new = folder / "bbbb.jsonl"
    old.write_text("{}\n")
    new.write_text("{}\n")
    os.utime(old, (1, 1))
    agent = ClaudeCodeAgent(environ={})

    def at(home: Path) -> LaunchContext:
        return LaunchContext(session_id="s-1", workspace=workspace, prompt="", home=home)

    assert agent.resume_id(at(tmp_path / "home")) == "bbbb"
    assert agent.resume_id(at(tmp_path / "elsewhere")) is None


def test_codex_rollout_lookup_keeps_codex_homes_apart(tmp_path: Path) -> None:
    from aod.plugins.agent.codex import CodexAgent

    workspace = tmp_path / "ws"
    workspace.mkdir()
    found = []
    agent = CodexAgent(environ={})
    for home in ("one", "two"):
        day = tmp_path / home / "sessions" / "2026" / "12" / "02"
        day.mkdir(parents=True)
        rollout = day / f"rollout-2026-12-02T10-00-00-{home}.jsonl"
        rollout.write_text(json.dumps({"type": "session_meta", "payload": {"cwd": str(workspace)}}) + "\n")
        found.append((agent.find_rollout(tmp_path / home / "sessions", workspace), rollout))
    assert [f for f, _ in found] == [r for _, r in found]
    assert agent.find_rollout(tmp_path / "one" / "sessions", workspace) == found[0][1]


# ---------------------------------------------------------------------------------------------
# a custom agent's questions, and the user's screen patterns over any plugin
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "Overwrite config.json? (y/n)",
        "Apply the patch? [Y/n] ",
        "Delete 3 files? (yes/no)",
        "Press Enter to continue",
        "Do you want to run `make test`?",
        "Are you sure you want to reset the branch?",
        "Allow creating hello.py? [Enter]",
    ],
)
def test_a_custom_agent_s_question_is_waiting_input(question: str) -> None:
    reading = CustomAgent("mine").read_screen(pad("some output\n" + question))
    assert reading == ScreenReading("waiting_input", question.strip())


def test_an_old_question_scrolled_up_is_not_waiting() -> None:
    screen = "Overwrite config.json? (y/n) y\nwrote config.json\nall done\n> "
    assert CustomAgent("mine").read_screen(pad(screen)) == ScreenReading("idle", guess=True)


def test_screen_patterns_come_first_and_leave_the_rest_to_the_plugin() -> None:
    from aod.plugins.agent import ScreenPatterns
    from aod.plugins.agent.patterns import with_patterns

    patterns = ScreenPatterns(
        idle=(r"^mybot ready$",), working=(r"Thinking",), waiting=(r"\(approve\?\)",), input=r"^mb: (?P<input>.*)$"
    )
    agent = with_patterns(CustomAgent("mybot"), patterns)
    assert agent.read_screen(pad("hello\nmybot ready")).activity == "idle"
    assert agent.read_screen(pad("Thinking hard\nmybot ready")).activity == "active"
    assert agent.read_screen(pad("rm -rf build (approve?)")).activity == "waiting_input"
    assert agent.read_screen(pad("other\n> ")) == ScreenReading("idle", guess=True)  # the plugin's own
    assert agent.read_input(pad("mb: fix it")) == "fix it"
    assert agent.read_input(pad("> typed")) == "typed"
    assert agent.reads_its_prompt and not CustomAgent("mybot").reads_its_prompt
    assert agent.name == "mybot" and agent.read_native(None, None) is None  # type: ignore[arg-type]
    assert with_patterns(CustomAgent("x"), ScreenPatterns()).__class__ is CustomAgent


def test_claude_hooks_are_flag_settings_quoted_for_the_shell(tmp_path: Path) -> None:
    import shlex

    hook = ["/opt/my venv/bin/python", "-I", "-m", "aoctl", "hook", "claude-code"]
    launch = ClaudeCodeAgent().launch(AgentSettings(name="claude-code", permissions="default"), ctx(tmp_path, hook=hook))
    settings = json.loads(launch.argv[launch.argv.index("--settings") + 1])
    commands = {event: groups[0]["hooks"][0]["command"] for event, groups in settings["hooks"].items()}
    assert set(commands) == {"UserPromptSubmit", "PostToolUse", "Stop", "Notification"}
    assert shlex.split(commands["Stop"]) == [*hook, "Stop"]
    assert launch.argv[-2:] == ["--", "fix the bug"]
    assert "--settings" not in ClaudeCodeAgent().launch(AgentSettings(name="claude-code", permissions="default"), ctx(tmp_path)).argv


@pytest.mark.parametrize(
    ("event", "kind", "message", "activity"),
    [
        ("UserPromptSubmit", "", "", "active"),
        ("PostToolUse", "", "", "active"),
        ("Stop", "", "", "idle"),
        ("Notification", "permission_prompt", "Claude needs your permission to use Bash", "waiting_input"),
        ("Notification", "", "Claude needs your permission to use Bash", "waiting_input"),
        ("Notification", "idle_prompt", "Claude is waiting for your input", "idle"),
        ("SessionEnd", "", "", None),
    ],
)
def test_claude_hook_events(event: str, kind: str, message: str, activity: str | None) -> None:
    reading = ClaudeCodeAgent().read_hook(event, kind, message)
    assert (reading.activity if reading else None) == activity


def test_codex_notify_is_a_per_session_override(tmp_path: Path) -> None:
    hook = ["/py", "-I", "-m", "aoctl", "hook", "codex"]
    launch = CodexAgent(environ={}).launch(AgentSettings(name="codex"), ctx(tmp_path, hook=hook))
    value = launch.argv[len(launch.argv) - 1 - launch.argv[::-1].index("-c") + 1]
    assert value.startswith("notify=")
    assert tomllib.loads(value)["notify"] == hook
    agent = CodexAgent(environ={})
    assert agent.read_hook("agent-turn-complete", "", "") == ScreenReading("idle")
    assert agent.read_hook("something-else", "", "") is None


def test_claude_transcript_shows_a_message(tmp_path: Path) -> None:
    c = ctx(tmp_path)
    folder = transcript_dir(c.home / ".claude", c.workspace)
    folder.mkdir(parents=True)
    line = {"type": "user", "message": {"role": "user", "content": 'say "hi" ✓ [ao:abcdef12] CI failed'}}
    (folder / "s1.jsonl").write_text(json.dumps(line) + "\n" + json.dumps({"type": "assistant", "x": "[ao:ffffffff]"}) + "\n")
    agent = ClaudeCodeAgent(environ={})
    assert agent.saw_message(c, "[ao:abcdef12]") is True
    assert agent.saw_message(c, 'say "hi" ✓') is True
    assert agent.saw_message(c, "[ao:ffffffff]") is False  # not a user message
    (tmp_path / "other").mkdir()
    assert agent.saw_message(ctx(tmp_path / "other"), "[ao:abcdef12]") is None
