"""A project's own Python outside HTTP, step by step, in one process (run by hand).

2,000 distinct five-file pages shaped as ``upstream.py`` serves them (two wheels, three sdists,
three releases; every name differs, as in a full sync, so no cache sees a name twice) go through
the steps ``sync_project`` takes: the page parsed (``read_project_page``), the files' keys
(``stored_files``), both pages rendered, and the record's part for a new project (its row looked
up, the keys' holders, ``record``). CPU time (``process_time``) per project, median and range of
``--passes`` passes, caches cleared before each. Compare two source trees alternately::

    for i in 1 2 3; do for s in /tmp/base/src src; do PYTHONPATH=$s python benchmarks/project_parts.py; done; done
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from frumious.config import loads
from frumious.models import Project
from frumious.project import stored_files
from frumious.protocol import render
from frumious.protocol.simple691 import read_project_page
from frumious.record.db import MirrorRecord, ProjectRow

BASE = "http://127.0.0.1:1"
FILES = [("1.0.0", "py3-none-any.whl"), ("1.0.0", "tar.gz"), ("1.1.0", "py3-none-any.whl"), ("1.1.0", "tar.gz")]
FILES.append(("1.2.0", "tar.gz"))


def page(n: int) -> tuple[str, bytes]:
    name = f"bench-pkg-{n:06d}"
    stem = name.replace("-", "_")
    files = []
    for version, ending in FILES:
        filename = f"{stem}-{version}-{ending}" if ending.endswith(".whl") else f"{stem}-{version}.{ending}"
        h = hashlib.sha256(filename.encode()).hexdigest()
        files.append({
            "filename": filename, "url": f"{BASE}/packages/{h[:2]}/{h[2:4]}/{h[4:]}/{filename}",
            "hashes": {"sha256": hashlib.sha256(h.encode()).hexdigest()}, "requires-python": ">=3.8",
            "size": 20480, "upload-time": "2023-11-14T22:19:21.000000Z", "yanked": False,
            "core-metadata": False, "data-dist-info-metadata": False,
        })  # fmt: skip
    document = {"meta": {"api-version": "1.1", "_last-serial": n + 1}, "name": name, "files": files}
    document["versions"] = ["1.0.0", "1.1.0", "1.2.0"]
    return name, json.dumps(document, separators=(",", ":")).encode()


def clear_caches() -> None:
    for module in list(sys.modules.values()):
        for value in list(vars(module).values()) if module and module.__name__.startswith("frumious") else ():
            if isinstance(value, functools._lru_cache_wrapper):
                value.cache_clear()


def timed(passes: int, step: Callable[[], float | None], count: int) -> list[float]:
    """CPU microseconds a project: the step's own seconds when it counts them, else the whole call's."""
    runs = []
    for _ in range(passes):
        clear_caches()
        start = time.process_time()
        spent = step()
        runs.append((spent if spent is not None else time.process_time() - start) / count * 1e6)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--passes", type=int, default=5)
    args = parser.parse_args()
    pages = [page(n) for n in range(args.projects)]
    settings = loads(f"[mirror]\ndirectory = /tmp/x\nmaster = {BASE}\nallow-non-https = true\n").mirror
    projects: list[Project] = []

    def parse() -> None:
        projects[:] = [
            read_project_page(b, json_page=True, expected=n, base_url=f"{BASE}/simple/{n}/").project for n, b in pages
        ]

    options: dict[str, Any] = {"digest_name": "sha256", "root_uri": "", "core_metadata": True}
    options["has_metadata"] = lambda dist: True

    def keys() -> None:
        for p in projects:
            stored_files(settings, p)

    def pages_of() -> float:
        # Each project's keys are known when its pages are rendered (``stored_files`` made them just
        # before, in file_place's cache); here 10,000 keys would not fit that cache, so each project's
        # keys are made again first, untimed.
        spent = 0.0
        for p in projects:
            stored_files(settings, p)
            start = time.process_time()
            render.project_html(p, raw_name=p.name, **options)
            render.project_json(p, **options)
            spent += time.process_time() - start
        return spent

    steps: dict[str, Callable[[], float | None]] = {"parse": parse, "stored_files": keys, "render": pages_of}
    for label, step in steps.items():
        runs = timed(args.passes, step, len(pages))
        print(f"{label:14s} median {statistics.median(runs):6.1f} us a project ({min(runs):.1f}-{max(runs):.1f})")
    rows = [
        (ProjectRow(p.canonical, p.name, p.serial, 1.7e9), [f for _d, f, _s in stored_files(settings, p)])
        for p in projects
    ]
    runs = []
    for _ in range(args.passes):
        with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
            record = MirrorRecord(f"{tmp}/frumious.sqlite")
            start = time.process_time()
            for row, files in rows:
                record.project(row.name)
                record.holders([f.key for f in files])
                record.record(row, files, new=True, claimed=True)
            record.commit()
            runs.append((time.process_time() - start) / len(rows) * 1e6)
            record.db.close()
    print(f"{'record':14s} median {statistics.median(runs):6.1f} us a project ({min(runs):.1f}-{max(runs):.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
