"""Applying a changed file filter to every mirrored project from stored metadata (run by hand).

    .venv/bin/python benchmarks/recheck_bench.py [--projects 100000] [--files 2] [--size 200] [--workers 3]

Starts the synthetic upstream (``upstream.py``) in this process, builds a mirror with
``frumious mirror`` (untimed; ``exclude_platform`` with ``platforms = windows``, which drops none
of its files, and ``prune-filtered = true``), then times three plain runs, each a child process:

1. ``platforms = py3``: tightened (every ``py3-none-any`` wheel goes, the sdists stay);
2. ``platforms = windows``: loosened back (the wheels come back);
3. the same config again: nothing changed.

For each: wall seconds, upstream requests by kind (the upstream's ``/_stats``) and files in the
mirror. Also the cost of the stored copies: the record's ``offered`` table, bytes per project.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from upstream import ThreadedUpstream, Upstream  # noqa: E402

FRUMIOUS = [sys.executable, "-m", "frumious"]


def config(directory: Path, url: str, platforms: str, workers: int) -> Path:
    path = directory / "frumious.conf"
    path.write_text(
        f"[mirror]\ndirectory = {directory / 'mirror'}\nmaster = {url}\nallow-non-https = true\n"
        f"workers = {workers}\nprune-filtered = true\nmax-delete-file-share = 1\nmax-delete-share = 1\n"
        f"[plugins]\nenabled =\n    exclude_platform\n[blocklist]\nplatforms = {platforms}\n"
    )
    return path


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_stats") as response:
        found = json.loads(response.read())
    return {key: value for key, value in found.get("requests", found).items() if isinstance(value, int)}


def mirror(conf: Path, url: str) -> tuple[float, dict[str, int]]:
    before = stats(url)
    started = time.perf_counter()
    done = subprocess.run([*FRUMIOUS, "-c", str(conf), "mirror"], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"frumious mirror failed ({done.returncode}):\n{done.stderr[-2000:]}")
    after = stats(url)
    return wall, {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}


def files(root: Path) -> int:
    return sum(len([f for f in names if not f.endswith(".metadata")]) for _, _, names in os.walk(root / "web/packages"))


def offered_bytes(root: Path) -> tuple[int, int]:
    with sqlite3.connect(root / "frumious.sqlite") as db:
        count, total = db.execute("SELECT count(*), coalesce(sum(length(data)), 0) FROM offered").fetchone()
    return int(count), int(total)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--size", type=int, default=200)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--base-dir", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(dir=args.base_dir) as tmp,
        ThreadedUpstream(Upstream(args.projects, args.files, args.size)) as url,
    ):
        work, root = Path(tmp), Path(tmp) / "mirror"
        wall, requests = mirror(config(work, url, "windows", args.workers), url)
        count, total = offered_bytes(root)
        print(f"initial full sync: {wall:.1f} s, {requests}, {files(root)} files")
        print(f"stored copies: {count} projects, {total} bytes, {total / max(count, 1):.0f} bytes/project")
        print(f"record: {(root / 'frumious.sqlite').stat().st_size} bytes")
        print("| run | wall (s) | upstream requests | files after |")
        print("|---|---|---|---|")
        runs = (("tightened (py3)", "py3"), ("loosened (windows)", "windows"), ("unchanged", "windows"))
        for label, platforms in runs:
            wall, requests = mirror(config(work, url, platforms, args.workers), url)
            shown = ", ".join(f"{k} {v}" for k, v in sorted(requests.items())) or "none"
            print(f"| {label} | {wall:.1f} | {shown} | {files(root)} |")


if __name__ == "__main__":
    main()
