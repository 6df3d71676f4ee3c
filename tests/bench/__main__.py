"""Run every benchmark and write the results into docs/performance.md.

    python -m tests.bench [--only status,tick,spawn,forge,reaction,load,events,dashboard,overlap,gitlab,container,hosts,kubernetes] [--no-write]

Each benchmark runs as its own process (so one's children and memory never count in another's
figures); its markdown goes to stdout as it finishes and, unless --no-write, replaces that
benchmark's section between the `bench:results` markers of docs/performance.md, headed by the
machine (nproc, CPU model, RAM), the date and the git commit. With --only, the other sections stay
as they were (each says when and where it was measured). About 15 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

from tests.bench._common import machine

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "performance.md"
BEGIN = "<!-- bench:results:begin (written by `python -m tests.bench`; edits here are lost) -->"
END = "<!-- bench:results:end -->"

BENCHES: dict[str, tuple[str, list[str], bool]] = {
    # name: (module, arguments, prints markdown)
    "status": ("tests.bench.bench_status", [], True),
    "tick": ("tests.bench.bench_tick", [], True),
    "spawn": ("tests.bench.bench_spawn", [], True),
    "forge": ("tests.bench.bench_forge_requests", [], False),
    "reaction": ("tests.bench.bench_reaction", [], True),
    "load": ("tests.bench.bench_tick_load", [], True),
    "events": ("tests.bench.bench_events", [], True),
    "dashboard": ("tests.bench.bench_dashboard", [], True),
    "overlap": ("tests.bench.bench_overlap", [], True),  # issue 19, overlap warnings
    "gitlab": ("tests.bench.bench_gitlab_requests", [], True),  # issue 20, GitLab requests per tick
    "container": ("tests.bench.bench_container", [], True),  # issue 21, container spawn time
    "hosts": ("tests.bench.bench_hosts", [], True),  # issue 21, remote hosts
    "kubernetes": ("tests.bench.bench_kubernetes", [], True),  # issue 21, Kubernetes API requests per tick
}


def run_one(name: str) -> tuple[str, float]:
    module, args, markdown = BENCHES[name]
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True)
    took = time.monotonic() - started
    if result.returncode != 0:
        text = f"### {name}: FAILED (exit {result.returncode})\n\n```text\n{result.stderr[-4000:]}\n```"
    elif markdown:
        text = result.stdout.strip()
    else:
        text = f"### GitHub forge: requests per tick (P3)\n\n```text\n{result.stdout.strip()}\n```"
    return text, took


def write(sections: dict[str, str]) -> None:
    """Replace the given benchmarks' sections in the results block; keep the others."""
    doc = DOC.read_text() if DOC.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN not in doc or END not in doc:
        doc = doc.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    head, rest = doc.split(BEGIN, 1)
    block, tail = rest.split(END, 1)
    kept = {
        m["name"]: m["body"]
        for m in re.finditer(r"<!-- bench:(?P<name>\w+) -->\n(?P<body>.*?)\n<!-- /bench:(?P=name) -->", block, re.S)
    }
    kept.update(sections)
    parts = [f"<!-- bench:{name} -->\n{kept[name]}\n<!-- /bench:{name} -->" for name in BENCHES if name in kept]
    DOC.write_text(f"{head}{BEGIN}\n" + "\n\n".join(parts) + f"\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}")
    info = machine()
    measured = (
        f"*Measured {info['date']} at commit {info['commit']}: {info['nproc']} CPUs ({info['cpu']}), "
        f"{info['ram']} RAM, Python {info['python']}, {info['tmux']}.*"
    )
    sections: dict[str, str] = {}
    failed = False
    total = time.monotonic()
    for name in names:
        print(f"== {name} ...", file=sys.stderr, flush=True)
        text, took = run_one(name)
        failed |= "FAILED (exit" in text.splitlines()[0]
        print(text + "\n", flush=True)
        print(f"== {name}: {took:.0f} s", file=sys.stderr, flush=True)
        title, _, body = text.partition("\n")
        sections[name] = f"{title}\n\n{measured} ({took:.0f} s)\n{body}"
    print(f"== all: {time.monotonic() - total:.0f} s", file=sys.stderr)
    if not args.no_write:
        write(sections)
        print(f"wrote {DOC.relative_to(ROOT)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
