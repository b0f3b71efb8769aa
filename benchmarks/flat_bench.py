"""Issue 12, item 3: a full sync killed with SIGKILL halfway through, then resumed from its ``todo``.

    python benchmarks/flat_bench.py --projects 100000 --max-files 3 --base-dir /dev/shm/flat

Starts pypi_upstream.py (the PyPI-shaped upstream, as pypi_bench.py does) and ``frumious mirror``
into a fresh mirror; when half the listed projects' pages were served it sends SIGKILL (no
clean stop: the last ``todo`` checkpoint is all the next run has), counts the projects the
``todo`` still names, then runs ``frumious mirror`` again through launch.py (wall, CPU, peak
RSS). Redone work = pages served in both runs less the projects listed (each page once in a
clean run); in seconds at the first run's pace (pages a second). The checkpoint interval is
10 s (``state.TodoCheckpoint``), so the redone work should stay under 10 s of it. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pypi_bench import FRUMIOUS, Upstream, run, write_conf  # noqa: E402
from pypi_upstream import add_shape_args  # noqa: E402

PAGES = ("simple_page", "json")


def pages(upstream: Upstream) -> int:
    requests = upstream.call("/_stats")["requests"]
    return sum(int(requests.get(kind, 0)) for kind in PAGES)


def listed(url: str) -> int:
    request = urllib.request.Request(url + "/simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=600) as response:
        return len(json.load(response)["projects"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base-dir", default="/dev/shm/flat")
    p.add_argument("--share", type=float, default=0.5, help="kill when this share of the pages was served")
    add_shape_args(p)
    args = p.parse_args()
    shape = [f"--projects={args.projects}", f"--max-files={args.max_files}", f"--size={args.size}"]
    shape += [f"--journal={args.journal}", f"--seed={args.seed}"]
    Path(args.base_dir).mkdir(parents=True, exist_ok=True)
    upstream = Upstream(shape)
    try:
        with tempfile.TemporaryDirectory(dir=args.base_dir) as tmp:
            conf = Path(tmp) / "full.conf"
            write_conf(conf, f"{tmp}/mirror", upstream.url)
            count = listed(upstream.url)
            env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
            with (Path(tmp) / "killed.log").open("w") as log:
                started = time.monotonic()
                child = subprocess.Popen([str(FRUMIOUS), "-c", str(conf), "mirror"], stdout=log, stderr=log, env=env)
                first = None
                while pages(upstream) < count * args.share and child.poll() is None:
                    if first is None and pages(upstream):
                        first = time.monotonic()  # the queue started (listing fetched, plan made)
                    time.sleep(0.2)
                child.send_signal(signal.SIGKILL)
                child.wait()
                killed = time.monotonic()
            served = pages(upstream)
            todo = (Path(tmp) / "mirror" / "todo").read_text().split("\n")
            pace = served / (killed - (first or started))
            row = run(conf, upstream, "resumed after SIGKILL", Path(tmp) / "resumed.log")
            again = sum(int(row["requests"].get(kind, 0)) for kind in PAGES)
            redone = served + again - count
            summary = {
                "projects_listed": count, "pages_before_kill": served, "todo_left": len(todo) - 1,
                "pages_after_resume": again, "redone_projects": redone, "pace_pages_per_s": round(pace, 1),
                "redone_seconds": round(redone / pace, 2), "checkpoint_interval_s": 10,
            }  # fmt: skip
            print(json.dumps(summary), flush=True)
            if row["exit"] != 0:
                for name in ("killed.log", "resumed.log"):
                    shutil.copy(Path(tmp) / name, Path(args.base_dir) / name)
    finally:
        upstream.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
