"""P1: what one `aoctl` command costs as a whole process: wall time and peak RSS of
`aoctl --json status` with 0, 100 and 1,000 sessions and of `aoctl ping`, against
`python -c pass` and `python -c "import click, msgspec"` measured in the same run
(interleaved, median of N runs), plus the import-time breakdown of `aoctl --help`.

Twice: with a bytecode cache (as a user's machine has one: Python writes `.pyc` files on the
first run; here into a private PYTHONPYCACHEPREFIX, warmed first) and without one
(PYTHONDONTWRITEBYTECODE=1, as this environment sets it: every module of aoctl and aod.protocol
is compiled on each run; installed packages keep the `.pyc` files pip wrote).

    python -m tests.bench.bench_status [--runs 15] [--markdown]

Target: `aoctl status --json` within 10 ms of `import click, msgspec` with a bytecode cache, flat
in sessions.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.bench._common import Bench, fmt, md_table, median, seed_sessions, timed

TARGET_MS = 10.0


def aoctl_argv() -> list[str]:
    script = Path(sys.executable).parent / "aoctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "aoctl"]


def importtime(args: list[str], env: dict[str, str]) -> list[tuple[int, int, int, str]]:
    """(self us, cumulative us, depth, module) for every import `python -X importtime ARGS` makes."""
    result = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True, text=True, env=env, check=False)
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            rows.append((int(match[1]), int(match[2]), (len(match[3]) - 1) // 2, match[4]))
    return rows


def import_summary(args: list[str], env: dict[str, str], runs: int = 7) -> tuple[float, int, float]:
    """For `python -X importtime -m aoctl ARGS`: (ms of imports in all, modules beyond
    `import click, msgspec`, their self ms), medians of N runs."""
    base = {m for _s, _c, _d, m in importtime(["-c", "import click, msgspec"], env)}
    samples = [importtime(["-m", "aoctl", *args], env) for _ in range(runs)]
    total = median([sum(c for _s, c, d, _m in rows if d == 0) for rows in samples])
    extra = median([len({m for _s, _c, _d, m in rows} - base) for rows in samples])
    extra_self = median([sum(s for s, _c, _d, m in rows if m not in base) for rows in samples])
    return total / 1000, int(extra), extra_self / 1000


def import_breakdown(env: dict[str, str], runs: int = 7) -> list[str]:
    """What `aoctl --help` imports beyond `import click, msgspec`, median self time of N runs."""
    base = {m for _s, _c, _d, m in importtime(["-c", "import click, msgspec"], env)}
    samples = [importtime(["-m", "aoctl", "--help"], env) for _ in range(runs)]
    total = median([sum(c for _s, c, d, _m in rows if d == 0) for rows in samples])
    extra: dict[str, list[int]] = {}
    children: dict[str, list[int]] = {}
    for rows in samples:
        # importtime lists a module after everything it imported, one level deeper.
        pending: dict[int, list[tuple[str, int]]] = {}
        for self_us, cumulative, depth, module in rows:
            if module not in base:
                extra.setdefault(module, []).append(self_us)
            mine = pending.pop(depth + 1, [])
            if module == "aoctl.cli":
                for child, child_cumulative in mine:
                    children.setdefault(child, []).append(child_cumulative)
            pending.setdefault(depth, []).append((module, cumulative))
    extra_ms = {m: median(v) / 1000 for m, v in extra.items()}
    child_ms = {m: median(v) / 1000 for m, v in children.items()}
    top_children = sorted(child_ms.items(), key=lambda kv: kv[1], reverse=True)[:15]
    top_extra = sorted(extra_ms.items(), key=lambda kv: kv[1], reverse=True)[:15]
    eager = [m for m in child_ms if m.startswith("aoctl.commands.")]
    commands_note = (
        f"all {len(eager)} command modules together: {sum(child_ms[m] for m in eager):.1f} ms"
        if eager else "no command module: each is imported when its command runs"
    )
    return [
        f"`python -X importtime -m aoctl --help` (median of {runs}): {total / 1000:.1f} ms of imports in all; "
        f"{len(extra_ms)} modules that `import click, msgspec` does not load, {sum(extra_ms.values()):.1f} ms of "
        "their own (self) import time.",
        "",
        f"What `aoctl.cli` imports directly, by cumulative time (top 15; {commands_note}):",
        "",
        md_table(["module", "cumulative ms"], [[f"`{m}`", fmt(ms, 2)] for m, ms in top_children]),
        "",
        "Top 15 of the modules beyond `import click, msgspec`, by self time:",
        "",
        md_table(["module", "self ms"], [[f"`{m}`", fmt(ms, 2)] for m, ms in top_extra]),
    ]


def with_cache(env: dict[str, str], cache: str | None) -> dict[str, str]:
    """`env` with a bytecode cache in directory `cache`, or with none (None)."""
    env = dict(env)
    if cache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.pop("PYTHONPYCACHEPREFIX", None)
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
    return env


def run(runs: int, sizes: tuple[int, ...] = (0, 100, 1000)) -> str:
    env_base = None
    status_imports: dict[str, tuple[float, int, float]] = {}
    results: dict[tuple[str, str], list[tuple[float, int]]] = {}
    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import click, msgspec'": [sys.executable, "-c", "import click, msgspec"],
    }
    aoctl = aoctl_argv()
    modes = ("with a bytecode cache", "without one")
    with tempfile.TemporaryDirectory(prefix="aob-pyc-") as cache:
        for sessions in sizes:
            with Bench(poll_interval="1h") as bench:
                seed_sessions(bench.aod.state_dir, sessions)
                bench.start()
                envs = {modes[0]: with_cache(bench.aod.env(), cache), modes[1]: with_cache(bench.aod.env(), None)}
                env_base = env_base or envs[modes[0]]
                plan = dict(commands)
                plan[f"aoctl --json status ({sessions} sessions)"] = [*aoctl, "--json", "status"]
                if sessions == 0:
                    plan["aoctl ping"] = [*aoctl, "ping"]
                    status_imports = {mode: import_summary(["--json", "status"], env) for mode, env in envs.items()}
                # warm the page cache and the .pyc files once
                for env in envs.values():
                    for argv in plan.values():
                        timed(argv, env)
                for _ in range(runs):
                    for mode, env in envs.items():
                        for name, argv in plan.items():  # interleaved: drift hits every command alike
                            wall, rss, _status = timed(argv, env)
                            results.setdefault((mode, name), []).append((wall, rss))
        assert env_base is not None
        breakdown = import_breakdown(env_base)
    rows = []
    for mode in modes:
        baseline = median([w for w, _ in results[(mode, "python -c 'import click, msgspec'")]]) * 1000
        for (m, name), samples in results.items():
            if m != mode:
                continue
            wall = median([w for w, _ in samples]) * 1000
            rss = median([r for _, r in samples]) / 1024
            over = wall - baseline
            verdict = ""
            if name.startswith("aoctl --json status") and mode == modes[0]:
                verdict = "met" if over <= TARGET_MS else "**missed**"
            rows.append([mode, f"`{name}`", len(samples), fmt(wall), fmt(over), fmt(wall / baseline, 2), fmt(rss), verdict])
    out = [
        "### P1: `aoctl` start-up (whole process)",
        "",
        f"Median of {runs} runs per command, state and cache mode (the two baselines run beside each), "
        "interleaved; wall time from fork to exit, peak RSS from the child's own rusage (`os.wait4`). "
        "*over* = wall time minus `import click, msgspec` in the same mode. *with a bytecode cache*: Python "
        "may write `.pyc` files (a private PYTHONPYCACHEPREFIX, warmed), as on a user's machine; *without one*: "
        "PYTHONDONTWRITEBYTECODE=1, as this environment sets it, so aoctl's own modules and `aod.protocol` "
        f"are compiled on every run. Target: `aoctl --json status` within {TARGET_MS:.0f} ms of "
        "`import click, msgspec` with a bytecode cache, flat in sessions.",
        "",
        md_table(["bytecode", "command", "runs", "wall ms", "over ms", "ratio", "max RSS MB", "target"], rows),
        "",
    ]
    for mode, (total, extra, extra_self) in status_imports.items():
        out.append(
            f"`python -X importtime -m aoctl --json status` {mode} (median of 7): {total:.1f} ms of imports in all; "
            f"{extra} modules that `import click, msgspec` does not load, {extra_self:.1f} ms of their own (self) import time."
        )
        out.append("")
    out += [f"With a bytecode cache: {breakdown[0]}", *breakdown[1:]]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--markdown", action="store_true", help="(the output is always markdown)")
    print(run(parser.parse_args().runs))


if __name__ == "__main__":
    main()
