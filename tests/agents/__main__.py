"""The canary: the agent-CLI tests against the newest release of each CLI (not in the default run).

    python -m tests.agents --latest [--keep DIR]

Installs the latest Claude Code, Codex and opencode from npm and the latest aider from PyPI into
a scratch folder laid out like tests/agents (node_modules/, .venv-aider/), prints the pinned and
the latest versions side by side, and runs tests/agents against the latest ones
(`AOD_AGENTS_DIR`). A CLI whose screens or flags changed fails its lifecycle test with its screen
and the model requests in the report: the plugin (and the pins in tests/agents) need a look
before users hit the change. Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
NPM = {"claude": "@anthropic-ai/claude-code", "codex": "@openai/codex", "opencode": "opencode-ai"}


def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=True, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]


def install_latest(root: Path) -> None:
    (root / "package.json").write_text(json.dumps({"name": "aod-agent-canary", "private": True}))
    run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", *(f"{p}@latest" for p in NPM.values())], cwd=root)
    run([sys.executable, "-m", "venv", str(root / ".venv-aider")])
    run([str(root / ".venv-aider" / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "aider-chat"])


def version(executable: Path) -> str:
    try:
        return run([str(executable), "--version"], timeout=60).stdout.strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return f"(not runnable: {exc})"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.agents", description=__doc__.split("\n\n")[0])
    parser.add_argument("--latest", action="store_true", required=True, help="test the newest releases")
    parser.add_argument("--keep", type=Path, help="install into this folder and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="aod-agent-canary-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"installing the latest CLIs into {root} ...", flush=True)
    install_latest(root)
    print(f"{'cli':10} {'pinned':28} latest")
    for name in (*NPM, "aider"):
        sub = Path(".venv-aider/bin/aider") if name == "aider" else Path("node_modules/.bin") / name
        print(f"{name:10} {version(HERE / sub):28} {version(root / sub)}")
    env = {**os.environ, "AOD_AGENTS_DIR": str(root)}
    return subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE)], env=env)


if __name__ == "__main__":
    sys.exit(main())
