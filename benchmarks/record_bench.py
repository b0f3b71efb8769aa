"""Measure the record (frumious.sqlite): bytes per file, ``record()`` cost, commits, migration time.

    .venv/bin/python benchmarks/record_bench.py [--projects 40000] [--files 5] [--base-dir /dev/shm]

Builds a record through ``MirrorRecord.record`` as a full sync does (one call per project) with
PyPI-shaped rows: keys ``web/packages/<aa>/<bb>/<60 hex>/<file>``, sha256 digests, upload times
with microseconds, and a PEP 658 sidecar for every wheel (each project: one sdist, the rest
wheels). Prints bytes per release file, per row (sidecars counted as files, as the record's rows
were) and per project, the mean ``record()`` call, and the commits made (counted by SQLite's
trace callback). ``--migrate`` also writes the same rows in the old schema (1) and times
opening it, which converts it in place. Not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from frumious.models import StoredFile
from frumious.record.db import MirrorRecord, ProjectRow

TAGS = ("py3-none-any", "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64", "cp311-cp311-win_amd64")


def rows(index: int, files: int) -> tuple[ProjectRow, list[StoredFile]]:
    name = f"bench-pkg-{index:06d}"
    found: list[StoredFile] = []
    for n in range(files):
        version = f"1.{n}.0"
        filename = (
            f"bench_pkg_{index:06d}-{version}.tar.gz"
            if n == 0
            else f"bench_pkg_{index:06d}-{version}-{TAGS[n % len(TAGS)]}.whl"
        )
        path = hashlib.blake2b(f"{name}/{filename}".encode(), digest_size=32).hexdigest()
        key = f"web/packages/{path[:2]}/{path[2:4]}/{path[4:]}/{filename}"
        digest = hashlib.sha256(key.encode()).hexdigest()
        uploaded = 1_600_000_000 + index * 97.123457 + n
        found.append(StoredFile(key, name, version, 20_000 + n, "sha256", digest, uploaded))
        if n:
            sidecar = hashlib.sha256(digest.encode()).hexdigest()
            found.append(StoredFile(key + ".metadata", name, version, None, "sha256", sidecar, uploaded, True))
    return ProjectRow(name, name.replace("-", "_") if index % 10 == 0 else name, index + 1, time.time()), found


def size_of(path: str) -> int:
    return sum(os.stat(p).st_size for p in (path, path + "-wal") if os.path.exists(p))


def build(path: str, projects: int, files: int) -> tuple[float, int, int]:
    """(seconds in record(), commits, rows)."""
    record = MirrorRecord(path)
    commits = 0

    def trace(statement: str) -> None:
        nonlocal commits
        commits += statement.strip().upper().startswith("COMMIT")

    record.db.set_trace_callback(trace)
    spent, count = 0.0, 0
    for index in range(projects):
        project, found = rows(index, files)
        count += len(found)
        start = time.perf_counter()
        record.record(project, found)
        spent += time.perf_counter() - start
    record.db.set_trace_callback(None)
    record.close()
    return spent, commits, count


def old_schema(path: str, projects: int, files: int) -> int:
    """The same rows in schema 1 (hex digests, text keys, one row per sidecar); the row count."""
    count = 0
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
            "CREATE TABLE projects (name TEXT PRIMARY KEY, display TEXT NOT NULL, serial INTEGER NOT NULL,"
            " synced REAL, parsed INTEGER NOT NULL DEFAULT 1) WITHOUT ROWID;"
            "CREATE TABLE files (key TEXT PRIMARY KEY, project TEXT NOT NULL, version TEXT, size INTEGER,"
            " algorithm TEXT NOT NULL, digest TEXT NOT NULL, uploaded REAL, metadata INTEGER NOT NULL DEFAULT 0);"
            "CREATE INDEX files_by_project ON files (project);"
            "INSERT INTO meta VALUES ('schema', '1'), ('built', '1'), ('open', '0');"
        )
        for index in range(projects):
            project, found = rows(index, files)
            db.execute(
                "INSERT INTO projects VALUES (?, ?, ?, ?, 1)", (project.name, project.display, project.serial, 0)
            )
            db.executemany(
                "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(f.key, f.project, f.version, f.size, f.algorithm, f.digest, f.uploaded, f.metadata) for f in found],
            )
            count += len(found)
    return count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=40_000)
    parser.add_argument("--files", type=int, default=5, help="release files per project (one sdist, the rest wheels)")
    parser.add_argument("--base-dir", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    parser.add_argument("--migrate", action="store_true", help="also time the conversion of a schema-1 record")
    args = parser.parse_args()
    releases = args.projects * args.files
    with tempfile.TemporaryDirectory(dir=args.base_dir) as tmp:
        path = f"{tmp}/frumious.sqlite"
        spent, commits, count = build(path, args.projects, args.files)
        size = size_of(path)
        print(f"| {args.projects} projects x {args.files} files ({count} rows) | value |")
        print("|---|---|")
        print(f"| bytes per release file | {size / releases:.0f} |")
        print(f"| bytes per row (sidecars counted as files) | {size / count:.0f} |")
        print(f"| bytes per project | {size / args.projects:.0f} |")
        print(f"| record() per call (a project of {args.files} files) | {spent / args.projects * 1e6:.0f} us |")
        print(f"| commits | {commits} |")
        if args.migrate:
            old = f"{tmp}/old.sqlite"
            old_rows = old_schema(old, args.projects, args.files)
            before = size_of(old)
            start = time.perf_counter()
            MirrorRecord(old).close()
            seconds = time.perf_counter() - start
            print(f"| schema-1 record: bytes per row | {before / old_rows:.0f} |")
            print(f"| migration: seconds per million rows | {seconds / old_rows * 1e6:.1f} s |")
            print(f"| migrated record: bytes per release file | {size_of(old) / releases:.0f} |")


if __name__ == "__main__":
    main()
