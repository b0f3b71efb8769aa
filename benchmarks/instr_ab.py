"""Instructions per project and per extra file, source trees of frumious side by side under callgrind (by hand).

CPU time on this shared machine moves 10-20 % between identical runs; the instructions valgrind
counts do not, so a change of 1-2 % shows. For each tree, full syncs of P projects of one file
and of F files, and of 2P projects of one file, each ``--rounds`` times, the trees alternating:
per project = (I(2P, 1) - I(P, 1)) / P (start-up cancels out), per extra file =
(I(P, F) - I(P, 1)) / (P * (F - 1)). ``PYTHONHASHSEED=0`` makes a run repeat itself to about
0.1 % at one file a project; at F files the pipelined fetches depend on how replies arrive, a
few percent: hence the rounds and medians.

Not native figures: valgrind's CPU has no SHA extensions (OpenSSL falls back to plain code: a
20 KB sha256 is about 110 k instructions there), and ``rep movsb`` copies count one instruction
a byte. Changes outside hashing and copying compare fairly; report CPU with ``cpu_ab.py`` too.

    python benchmarks/instr_ab.py --projects 300 --files 5 --rounds 3 /tmp/base/src src
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

from run import KB, Scenario, UpstreamProcess, write_config


def instructions(src: str, url: str, base: Path, timeout: float) -> int:
    """Instructions of one full sync by the frumious of ``src`` into a fresh mirror."""
    shutil.rmtree(base / "run", ignore_errors=True)
    mirror = base / "run" / "mirror"
    mirror.mkdir(parents=True)
    conf = base / "run" / "bench.conf"
    write_config(conf, mirror, url, 3, False)
    out = base / "run" / "callgrind.out"
    env = {**os.environ, "PYTHONPATH": src, "PYTHONHASHSEED": "0", "NO_PROXY": "127.0.0.1"}
    argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-m", "frumious"]
    log = base / "run" / "log.txt"
    with log.open("wb") as sink:
        status = subprocess.call([*argv, "-c", str(conf), "mirror"], stdout=sink, stderr=sink, env=env, timeout=timeout)
    if status != 0:
        raise SystemExit(f"{src}: the sync failed (see {log})")
    summary = next(line for line in out.read_text().splitlines() if line.startswith("summary:"))
    return int(summary.split()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", help="frumious source trees (directories holding frumious/)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--size", type=int, default=20 * KB)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("instr_ab.py needs valgrind (apt-get install valgrind)")
    sources = [str(Path(s).resolve()) for s in args.sources]
    for src in sources:  # what a pip install does; this machine sets PYTHONDONTWRITEBYTECODE
        subprocess.run([sys.executable, "-m", "compileall", "-q", f"{src}/frumious"], check=False, capture_output=True)
    base = Path(tempfile.mkdtemp(prefix="instr-ab-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None))
    shapes = [(args.projects, 1), (2 * args.projects, 1), (args.projects, args.files)]
    ups = {
        s: UpstreamProcess(Scenario("ab", "full", s[0], s[1], args.size), base / f"up{s[0]}x{s[1]}.log") for s in shapes
    }
    counts: dict[str, dict[tuple[int, int], list[int]]] = {src: {s: [] for s in shapes} for src in sources}
    try:
        for round_ in range(args.rounds):
            for src in sources if round_ % 2 == 0 else sources[::-1]:
                for shape in shapes:
                    counts[src][shape].append(instructions(src, ups[shape].url, base, args.timeout))
            print(f"round {round_ + 1}: " + "  ".join(f"{s}: {[c[-1] for c in counts[s].values()]}" for s in sources))
    finally:
        for up in ups.values():
            up.close()
        shutil.rmtree(base, ignore_errors=True)
    p, f = args.projects, args.files
    for src in sources:
        one, two, many = (statistics.median(counts[src][s]) for s in shapes)
        per_project = (two - one) / p
        per_file = (many - one) / (p * (f - 1)) if f > 1 else 0.0
        print(
            f"{src}: I({p}x1) {one / 1e6:.1f} M, I({2 * p}x1) {two / 1e6:.1f} M, I({p}x{f}) {many / 1e6:.1f} M;"
            f" per project {per_project / 1e3:.1f} k, per extra file {per_file / 1e3:.1f} k, start-up"
            f" {(one - p * per_project) / 1e6:.1f} M"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
