"""The real agent CLIs, for tests/agents: where they are installed, and how each is configured to
talk to the loopback model stub (tests/support/model_stub.py) instead of a real model.

`tests/agents/install` puts them in tests/agents/node_modules and tests/agents/.venv-aider at the
pinned versions (`.ci/run` runs it). `AOD_AGENTS_DIR` points at another install of the same
layout (the canary: `python -m tests.agents --latest`). Without an install the tests are skipped,
saying how to install.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


def agents_dir() -> Path:
    return Path(os.environ.get("AOD_AGENTS_DIR") or HERE)


@dataclass(frozen=True)
class Cli:
    agent: str
    """The aod agent (plugin) name."""
    executable: Path

    @property
    def installed(self) -> bool:
        return self.executable.is_file() and os.access(self.executable, os.X_OK)


def clis() -> dict[str, Cli]:
    root = agents_dir()
    bins = root / "node_modules" / ".bin"
    return {
        "claude-code": Cli("claude-code", bins / "claude"),
        "codex": Cli("codex", bins / "codex"),
        "opencode": Cli("opencode", bins / "opencode"),
        "aider": Cli("aider", root / ".venv-aider" / "bin" / "aider"),
    }


def agent_config(cli: Cli, stub_url: str, home: Path) -> dict[str, object]:
    """`agents.<name>` for the CLI pointed at the stub, as a user would write it. Where a CLI
    keeps its files is moved into the test's HOME through the agent's own env (Claude's
    CLAUDE_CONFIG_DIR, Codex's CODEX_HOME): aod must honour them."""
    v1 = f"{stub_url}/v1"
    if cli.agent == "claude-code":
        return {
            "command": [str(cli.executable)],
            "env": {
                "ANTHROPIC_BASE_URL": stub_url,
                # An API key (not a token) makes Claude ask whether to use it: aod answers ahead.
                "ANTHROPIC_API_KEY": "sk-ant-api03-fake-test-key-00000000000000000000",
                "CLAUDE_CONFIG_DIR": str(home / "claude-config"),
                "DISABLE_TELEMETRY": "1",
                "DISABLE_ERROR_REPORTING": "1",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            },
        }
    if cli.agent == "codex":
        return {
            "command": [str(cli.executable)],
            "model": "fake-model",
            "env": {"CODEX_HOME": str(home / "codex-home")},
            "args": [
                "-c", "model_provider=fake",
                "-c", 'model_providers.fake.name="Fake"',
                "-c", f'model_providers.fake.base_url="{v1}"',
                "-c", 'model_providers.fake.wire_api="responses"',
                "-c", "check_for_update_on_startup=false",
            ],
        }  # fmt: skip
    if cli.agent == "opencode":
        provider = {
            "model": "fake/fake", "small_model": "fake/fake", "autoupdate": False, "share": "disabled",
            "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                                  "options": {"baseURL": v1, "apiKey": "sk-fake"},
                                  "models": {"fake": {"name": "Fake", "tool_call": True}}}},
        }  # fmt: skip
        return {
            "command": [str(cli.executable)],
            "env": {
                "OPENCODE_CONFIG_CONTENT": json.dumps(provider),
                "OPENCODE_DISABLE_MODELS_FETCH": "1",
                "OPENCODE_DISABLE_LSP_DOWNLOAD": "1",
            },
        }
    if cli.agent == "aider":
        return {
            "command": [str(cli.executable)],
            "args": [
                "--model", "openai/fake", "--openai-api-base", v1, "--openai-api-key", "sk-fake",
                "--edit-format", "whole", "--no-check-update", "--no-analytics", "--no-show-model-warnings",
                "--no-show-release-notes", "--no-gitignore", "--map-tokens", "0",
                # Its history files go to the user's HOME, not into the worktree as dirt.
                "--chat-history-file", str(home / "aider.chat.md"),
                "--input-history-file", str(home / "aider.input.history"),
            ],
        }  # fmt: skip
    raise ValueError(cli.agent)


def seed_home(cli: Cli, home: Path) -> None:
    """What a user of the CLI already has before aod ever runs it (a finished first-run)."""
    if cli.agent == "claude-code":
        folder = home / "claude-config"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".claude.json").write_text(json.dumps({"hasCompletedOnboarding": True, "lastOnboardingVersion": "2.1.197"}))
        (folder / "settings.json").write_text(json.dumps({"theme": "dark"}, indent=2) + "\n")
    elif cli.agent == "codex":
        folder = home / "codex-home"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.toml").write_text('# my settings\n[tui]\nscreen_reader_detection_done = true\n')
    elif cli.agent == "opencode":
        folder = home / ".config" / "opencode"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "opencode.json").write_text('{"$schema": "https://opencode.ai/config.json"}\n')
    elif cli.agent == "aider":
        (home / ".aider.conf.yml").write_text("dark-mode: true\n")


def settings_files(cli: Cli, home: Path) -> list[Path]:
    """The user's own settings of the CLI: aod must leave them byte for byte (issue 13 item 7).
    Claude's `.claude.json` is its state file (it rewrites it on every start), not settings."""
    return {
        "claude-code": [home / "claude-config" / "settings.json"],
        "codex": [home / "codex-home" / "config.toml"],
        "opencode": [home / ".config" / "opencode" / "opencode.json"],
        "aider": [home / ".aider.conf.yml"],
    }[cli.agent] + [home / ".gitconfig"]
