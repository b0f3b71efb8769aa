"""Measure what a mirror costs per file and per project on disk: inodes, the record, the pages.

    .venv/bin/python benchmarks/sizing.py [--projects 2000] [--files 10] [--base-dir /dev/shm]

Writes verify_bench.py's synthetic mirror (``--projects`` x ``--files`` small release files at
PyPI-style blake2b paths, PEP 503/691 pages, ``web/json``, the record), rebuilds the record with
``frumious reindex`` (as a real mirror's record is built), then counts inodes (files, directories
and links under the mirror root, split by part of the tree) and the record's bytes per file, and
prints one table. docs/sizing.md multiplies these by PyPI's published totals. Not a test.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from verify_bench import FRUMIOUS, config, generate

from frumious.settings import MirrorSettings


def inodes(root: Path) -> Counter[str]:
    """Inodes under ``root`` by part: web/packages, web/simple, web/json+pypi, and the rest."""
    counted: Counter[str] = Counter()
    for directory, dirs, files in os.walk(root):
        rel = Path(directory).relative_to(root).parts
        part = "/".join(rel[:2]) if rel[:1] == ("web",) else "other"
        part = "web/json" if part == "web/pypi" else part
        counted[part] += len(dirs) + len(files)
    return counted


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--files", type=int, default=10, help="release files per project")
    parser.add_argument("--base-dir", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.base_dir) as tmp:
        base = Path(tmp)
        root = base / "mirror"
        generate(root, args.projects, args.files, MirrorSettings(directory=str(root)))
        subprocess.run(
            [str(FRUMIOUS), "-c", str(config(base, root, "stat")), "reindex"], check=True, capture_output=True
        )
        counted = inodes(root)
        files = args.projects * args.files
        record = sum(p.stat().st_size for p in root.glob("frumious.sqlite*"))
        print(f"| {args.projects} projects x {args.files} files | per release file | per project |")
        print("|---|---|---|")
        for part in ("web/packages", "web/simple", "web/json"):
            print(f"| inodes in {part} | {counted[part] / files:.2f} | {counted[part] / args.projects:.2f} |")
        total = sum(counted.values())
        print(f"| inodes, whole tree | {total / files:.2f} | {total / args.projects:.2f} |")
        print(f"| record (frumious.sqlite) bytes | {record / files:.0f} | {record / args.projects:.0f} |")


if __name__ == "__main__":
    main()
