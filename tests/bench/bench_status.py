"""P1: what one `aoctl` command costs as a whole process: wall time and peak RSS of
`aoctl --json status` with 0, 10 and 100 sessions and of `aoctl ping`, against
`python -c pass` and `python -c "import click, msgspec"` measured in the same run
(interleaved, median of N runs), plus the import-time breakdown of `aoctl --help`.

    python -m tests.bench.bench_status [--runs 25] [--markdown]

Target: `aoctl status --json` within 20 ms of `import click, msgspec`.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from tests.bench._common import Bench, fmt, md_table, median, seed_sessions, timed

TARGET_MS = 20.0


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


def run(runs: int) -> str:
    env_base = None
    status_imports = (float("nan"), 0, float("nan"))
    results: dict[str, list[tuple[float, int]]] = {}
    commands: dict[str, list[str]] = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import click, msgspec'": [sys.executable, "-c", "import click, msgspec"],
    }
    aoctl = aoctl_argv()
    for sessions in (0, 10, 100):
        with Bench(poll_interval="1h") as bench:
            seed_sessions(bench.aod.state_dir, sessions)
            bench.start()
            env = bench.aod.env()
            env_base = env_base or env
            plan = dict(commands)
            plan[f"aoctl --json status ({sessions} sessions)"] = [*aoctl, "--json", "status"]
            if sessions == 0:
                plan["aoctl ping"] = [*aoctl, "ping"]
                status_imports = import_summary(["--json", "status"], env)
            # warm the page cache and the .pyc files once
            for argv in plan.values():
                timed(argv, env)
            for _ in range(runs):
                for name, argv in plan.items():  # interleaved: drift hits every command alike
                    wall, rss, _status = timed(argv, env)
                    results.setdefault(name, []).append((wall, rss))
    assert env_base is not None
    baseline = median([w for w, _ in results["python -c 'import click, msgspec'"]]) * 1000
    rows = []
    for name, samples in results.items():
        wall = median([w for w, _ in samples]) * 1000
        rss = median([r for _, r in samples]) / 1024
        over = wall - baseline
        verdict = ""
        if name.startswith("aoctl --json status"):
            verdict = "met" if over <= TARGET_MS else "**missed**"
        rows.append([f"`{name}`", len(samples), fmt(wall), fmt(over), fmt(wall / baseline, 2), fmt(rss), verdict])
    out = [
        "### P1: `aoctl` start-up (whole process)",
        "",
        f"Median of {runs} runs per command and state (the two baselines run beside each of the three), "
        "interleaved; wall time from fork to exit, peak RSS from the child's own rusage (`os.wait4`). "
        "*over* = wall time minus `import click, msgspec`. "
        f"Target: `aoctl --json status` within {TARGET_MS:.0f} ms of `import click, msgspec`.",
        "",
        md_table(["command", "runs", "wall ms", "over ms", "ratio", "max RSS MB", "target"], rows),
        "",
        f"`python -X importtime -m aoctl --json status` (the command timed above; median of 7): "
        f"{status_imports[0]:.1f} ms of imports in all; {status_imports[1]} modules that `import click, msgspec` "
        f"does not load, {status_imports[2]:.1f} ms of their own (self) import time.",
        "",
        *import_breakdown(env_base),
    ]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--markdown", action="store_true", help="(the output is always markdown)")
    print(run(parser.parse_args().runs))


if __name__ == "__main__":
    main()
