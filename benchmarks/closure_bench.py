"""Dependency closure on a synthetic upstream with a dependency graph (in memory, no sockets).

    PYTHONPATH=src python benchmarks/closure_bench.py [--projects 3000] [--seed 1]

The upstream (``fakepypi``'s catalogue builder, served by ``frumious.testing``'s in-memory
HTTP) has N projects ``p-NNNNN``, each one release with one wheel and its PEP 658 metadata;
project i requires 0-4 projects with a larger index (a DAG), a tenth of them behind a
``sys_platform == "win32"`` marker and a tenth behind an extra. Scenarios: a lock-sized
allowlist of 300 roots, and two roots with django- and airflow-sized trees (about 5 and 150
projects). For each: the first run (wall, upstream requests, closure size), an unchanged
run, and a run after 1% of the closure published a new release that adds one dependency.
Two targets: cp312-manylinux_2_28_x86_64 and cp311-win_amd64.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakepypi import FakeIndex, make_wheel, mem_index
from frumious.testing.harness import Bench

TARGETS = "cp312-manylinux_2_28_x86_64, cp311-win_amd64"


def requires(rng: random.Random, i: int, n: int, fanout: int) -> list[str]:
    found = []
    for _ in range(rng.randint(0, fanout)):
        j = rng.randint(i + 1, min(n - 1, i + 400)) if i + 1 < n else None
        if j is None:
            break
        kind = rng.random()
        marker = '; sys_platform == "win32"' if kind < 0.1 else ('; extra == "x"' if kind < 0.2 else "")
        found.append(f"p-{j:05d}>=1{marker}")
    return found


def build(n: int, seed: int) -> tuple[FakeIndex, dict[str, list[str]]]:
    rng = random.Random(seed)
    index, graph = FakeIndex(), {}
    for i in range(n):
        name = f"p-{i:05d}"
        graph[name] = requires(rng, i, n, 4 if i % 50 else 12)
        index.add(name, "1.0", make_wheel(name, "1.0", requires=graph[name]))
    return index, graph


def sections(roots: list[str]) -> str:
    lines = "\n    ".join(roots)
    return f"""
[plugins]
enabled = allowlist_project

[allowlist]
closure = true
packages =
    {lines}

[closure]
environments = {TARGETS}
"""


async def scenario(label: str, index: FakeIndex, roots: list[str], seed: int) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench.create(Path(tmp), mem_index(index), sections(roots))
        for run in ("first", "unchanged", "1% changed"):
            if run == "1% changed":
                rng = random.Random(seed)
                held = sorted(bench.stored_projects())
                for name in rng.sample(held, max(1, len(held) // 100)):
                    index.add(name, "2.0", make_wheel(name, "2.0", requires=["p-new-dep"]))
                index.add("p-new-dep", "1.0", make_wheel("p-new-dep", "1.0"))
                bench.index = mem_index(index)
            started = time.perf_counter()
            report = await bench.mirror()
            wall = time.perf_counter() - started
            json_requests = sum("/pypi/" in url for url in bench.requests)
            rows.append(
                f"| {label} | {run} | {wall:.2f} | {len(bench.requests)} | {json_requests} |"
                f" {len(report.synced)} | {len(bench.stored_projects())} |"
            )
    return rows


def stored_projects(bench: Bench) -> set[str]:
    return {key.split("/")[2] for key in bench.stored("web/simple/") if key.count("/") == 3}


Bench.stored_projects = stored_projects  # type: ignore[attr-defined]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print("| scenario | run | wall s | requests | JSON requests | projects synced | projects mirrored |")
    print("|---|---|---|---|---|---|---|")
    for label, roots in (
        ("lock of 300", [f"p-{i:05d}" for i in range(0, args.projects, args.projects // 300)][:300]),
        ("django-sized + airflow-sized", [f"p-{args.projects - 40:05d}", f"p-{args.projects - 1200:05d}"]),
    ):
        index, _graph = build(args.projects, args.seed)
        for row in await scenario(label, index, roots, args.seed):
            print(row, flush=True)


if __name__ == "__main__":
    asyncio.run(main())
