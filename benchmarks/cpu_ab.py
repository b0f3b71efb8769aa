"""CPU per extra file and per project, two source trees of frumious alternating (run by hand).

One upstream per file count (``upstream.py --projects P --files F``, started once, not per run),
then rounds: in each round every source tree does a full sync of F = ``--files`` and of F = 1 into
a fresh mirror, the trees' order reversed every other round. CPU (user + sys) is the tool's own,
from ``launch.py`` as in ``run.py``. Per extra file = (CPU(F) - CPU(1)) / (P * (F - 1)); per project
= CPU(1) / P less one file (start-up included: about 0.25-0.3 s a run, 125-150 us a project at 2,000).

Compare trees of the same code in different states (``git archive <commit> src | tar -x -C DIR``)::

    python benchmarks/cpu_ab.py --rounds 7 /tmp/base/src src

The ratio column is new/old per round (medians): on a shared machine the rounds' own spread
is the figure to trust, not one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import KB, Scenario, UpstreamProcess, run_child, write_config


def sync_cpu(src: str, url: str, base: Path, tag: str, timeout: float) -> float:
    """One full sync by the frumious of ``src`` into a fresh mirror; its CPU seconds."""
    mirror = base / tag / "mirror"
    shutil.rmtree(mirror.parent, ignore_errors=True)
    mirror.mkdir(parents=True)
    conf = mirror.parent / "bench.conf"
    write_config(conf, mirror, url, 3, False)
    os.environ["PYTHONPATH"] = src  # child_env() copies the environment
    argv = [sys.executable, "-m", "frumious", "-c", str(conf), "mirror"]
    run = run_child(argv, mirror.parent / "log.txt", timeout)
    if run.status != 0:
        raise SystemExit(f"{src}: the sync failed (see {mirror.parent / 'log.txt'})")
    shutil.rmtree(mirror.parent, ignore_errors=True)
    return run.user + run.sys


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", help="frumious source trees (directories holding frumious/)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--size", type=int, default=20 * KB)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    sources = [str(Path(s).resolve()) for s in args.sources]
    for src in sources:  # what a pip install does; this machine sets PYTHONDONTWRITEBYTECODE
        subprocess.run([sys.executable, "-m", "compileall", "-q", f"{src}/frumious"], check=False, capture_output=True)
    base = Path(tempfile.mkdtemp(prefix="cpu-ab-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None))
    counts = (args.files, 1)
    ups = {f: UpstreamProcess(Scenario("ab", "full", args.projects, f, args.size), base / f"up{f}.log") for f in counts}
    cpu: dict[str, dict[int, list[float]]] = {src: {f: [] for f in counts} for src in sources}
    try:
        for round_ in range(args.rounds):
            for src in sources if round_ % 2 == 0 else sources[::-1]:
                for f in counts:
                    cpu[src][f].append(sync_cpu(src, ups[f].url, base, "run", args.timeout))
            print(
                f"round {round_ + 1}: "
                + "  ".join(f"{s}: {cpu[s][args.files][-1]:.2f}/{cpu[s][1][-1]:.2f}" for s in sources)
            )
    finally:
        for up in ups.values():
            up.close()
        shutil.rmtree(base, ignore_errors=True)
    extra = args.projects * (args.files - 1)
    for src in sources:
        many, one = (statistics.median(cpu[src][f]) for f in counts)
        per_file = (many - one) / extra * 1e6
        spread = {f: f"{min(cpu[src][f]):.2f}-{max(cpu[src][f]):.2f}" for f in counts}
        print(
            f"{src}: CPU({args.files}) median {many:.2f} s ({spread[args.files]}),"
            f" CPU(1) median {one:.2f} s ({spread[1]});"
            f" per extra file {per_file:.0f} us, per project {one / args.projects * 1e6 - per_file:.0f} us"
        )
    if len(sources) == 2:
        old, new = sources
        for f in counts:
            ratios = [b / a for a, b in zip(cpu[old][f], cpu[new][f], strict=True)]
            print(f"F={f}: new/old per round {[round(r, 3) for r in ratios]}, median {statistics.median(ratios):.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
