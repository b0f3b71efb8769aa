"""The "listing changed, nothing to sync" run (or the 1-changed run), two source trees alternating.

    # a state (pypi_state.py ... --config CONF), then, per round, each tree on a fresh copy of it
    .venv/bin/python benchmarks/listing_body.py --config CONF --trees /tmp/base/src src --rounds 8

The upstream (pypi_upstream.py, the state's shape arguments) is moved to generation 1 and the
first tree runs once (the 1-changed run, which remembers the listing); that mirror is the state
each round copies. The upstream then moves to generation 2 (only the listing's serial changes)
and every round runs ``frumious mirror`` on a fresh copy with each tree in turn (the order
alternating), through launch.py: CPU = user + sys, peak RSS from ``wait4``. ``--changed``
measures the 1-changed run instead, each round on a fresh copy of the state as built (run it
first: the listing-changed mode leaves the state one run on). Not a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pypi_bench import Upstream, run, with_master  # noqa: E402
from pypi_upstream import add_shape_args  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True, help="the config pypi_state.py built the state with")
    p.add_argument("--trees", nargs=2, required=True, help="two frumious src directories (before, after)")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--work", default="/dev/shm/listing-body", help="copies of the state and logs go here")
    p.add_argument("--changed", action="store_true", help="measure the 1-changed run (generation 1) instead")
    add_shape_args(p)
    args = p.parse_args()
    shape = [f"--projects={args.projects}", f"--max-files={args.max_files}", f"--size={args.size}"]
    shape += [f"--journal={args.journal}", f"--seed={args.seed}"]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    state = Path(_directory(Path(args.config)))
    upstream = Upstream(shape)
    rows: dict[str, list[tuple[float, float]]] = {tree: [] for tree in args.trees}
    try:
        conf = with_master(Path(args.config), upstream.url, work / "base.conf")
        upstream.call("/_generation?g=1", "POST")
        if not args.changed:  # the state then is the 1-changed run's result, which remembers the listing
            run(conf, upstream, "1 project changed", work / "g1.log", args.trees[0])
            upstream.call("/_generation?g=2", "POST")
        label = "1 project changed" if args.changed else "listing changed"
        copy = work / "copy"
        moved = conf.read_text().replace(f"directory = {state}", f"directory = {copy}")
        (work / "copy.conf").write_text(moved, encoding="utf-8")
        for round_ in range(args.rounds):
            order = args.trees if round_ % 2 == 0 else args.trees[::-1]
            for tree in order:
                shutil.rmtree(copy, ignore_errors=True)
                shutil.copytree(state, copy, symlinks=True)
                row = run(work / "copy.conf", upstream, f"{label} ({tree})", work / "run.log", tree)
                rows[tree].append((row["cpu_s"], row["rss_mib"]))
        shutil.rmtree(copy, ignore_errors=True)
    finally:
        upstream.close()
    for tree, got in rows.items():
        cpu, rss = [c for c, _ in got], [r for _, r in got]
        summary = {"tree": tree, "cpu_median": statistics.median(cpu), "cpu_range": [min(cpu), max(cpu)]}
        summary |= {"rss_median": statistics.median(rss), "rss_range": [min(rss), max(rss)]}
        print(json.dumps(summary), flush=True)
    return 0


def _directory(conf: Path) -> str:
    for line in conf.read_text().splitlines():
        if line.startswith("directory"):
            return line.split("=", 1)[1].strip()
    raise SystemExit(f"{conf}: no directory")


if __name__ == "__main__":
    sys.exit(main())
