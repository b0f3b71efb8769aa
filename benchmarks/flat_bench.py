"""Issue 12, item 3: a full sync killed with SIGKILL halfway through, then resumed from its ``todo``.

    python benchmarks/flat_bench.py --projects 100000 --max-files 3 --base-dir /dev/shm/flat

Starts pypi_upstream.py (the PyPI-shaped upstream, as pypi_bench.py does) and ``frumious mirror``
into a fresh mirror; when half the listed projects' pages were served it sends SIGKILL (no
clean stop: the last ``todo`` checkpoint is all the next run has), counts the projects the
``todo`` still names, then runs ``frumious mirror`` again; both runs go through launch.py (wall,
CPU, peak RSS; the SIGKILL goes to the frumious it forked). ``--keep`` keeps the mirror (delete it
by hand), ``--after noop`` runs once more on the result, ``--every S`` prints frumious's RSS.
Redone work = pages served in both runs less the projects listed (each page once in a
clean run); in seconds at the first run's pace (pages a second). The checkpoint interval is
``state.INTERVAL`` (5 s, printed with the result), so the redone work should stay under 10 s. Not a test.
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
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pypi_bench import FRUMIOUS, Upstream, run, write_conf  # noqa: E402
from pypi_upstream import add_shape_args  # noqa: E402

from frumious import state  # noqa: E402

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
    p.add_argument("--keep", action="store_true", help="keep the mirror in BASE_DIR/kill-N (delete it after)")
    p.add_argument("--after", default="", help="runs on the result after the resume, comma-separated: noop")
    p.add_argument("--every", type=float, default=0, help="print pages served and frumious's RSS every S seconds")
    add_shape_args(p)
    args = p.parse_args()
    shape = [f"--projects={args.projects}", f"--max-files={args.max_files}", f"--size={args.size}"]
    shape += [f"--journal={args.journal}", f"--seed={args.seed}"]
    Path(args.base_dir).mkdir(parents=True, exist_ok=True)
    upstream = Upstream(shape)
    try:
        if args.keep:  # 6M files at 700,000 projects: deleted by hand, not by the harness
            tmp = Path(args.base_dir) / f"kill-{args.projects}"
            tmp.mkdir()
            measure(args, upstream, tmp)
        else:
            with tempfile.TemporaryDirectory(dir=args.base_dir) as name:
                measure(args, upstream, Path(name))
    finally:
        upstream.close()
    return 0


def measure(args: argparse.Namespace, upstream: Upstream, tmp: Path) -> None:
    conf = tmp / "full.conf"
    write_conf(conf, f"{tmp}/mirror", upstream.url)
    count = listed(upstream.url)
    with Sampler(upstream, conf, args.every):
        first, pace = killed_run(args, upstream, conf, tmp, count)
        served = pages(upstream)
        todo = (tmp / "mirror" / "todo").read_text().split("\n")
        row = run(conf, upstream, "resumed after SIGKILL", tmp / "resumed.log")
    again = sum(int(row["requests"].get(kind, 0)) for kind in PAGES)
    redone = served + again - count
    summary = {
        "projects_listed": count, "pages_before_kill": served, "todo_left": len(todo) - 1,
        "pages_after_resume": again, "redone_projects": redone, "pace_pages_per_s": round(pace, 1),
        "redone_seconds": round(redone / pace, 2), "checkpoint_interval_s": state.INTERVAL,
        "both_runs_cpu_s": round(first["cpu_s"] + row["cpu_s"], 2),
        "both_runs_wall_s": round(first["wall_s"] + row["wall_s"], 2),
    }  # fmt: skip
    print(json.dumps(summary), flush=True)
    if row["exit"] != 0:
        for name in ("killed.log", "resumed.log"):
            shutil.copy(tmp / name, Path(args.base_dir) / name)
    for step in filter(None, args.after.split(",")):
        assert step == "noop", step
        run(conf, upstream, "no-op on the result", tmp / f"{step}.log")


def killed_run(
    args: argparse.Namespace, upstream: Upstream, conf: Path, tmp: Path, count: int
) -> tuple[dict[str, Any], float]:
    """The first run through launch.py (its CPU and peak RSS up to the kill); SIGKILL to frumious alone."""
    result = tmp / "killed.rusage"
    argv = [sys.executable, "-I", "-S", str(HERE / "launch.py"), str(result), str(FRUMIOUS), "-c", str(conf), "mirror"]
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    with (tmp / "killed.log").open("w") as log:
        started = time.monotonic()
        launcher = subprocess.Popen(argv, stdout=log, stderr=log, env=env)
        child = launched(launcher)
        first = None
        while pages(upstream) < count * args.share and launcher.poll() is None:
            if first is None and pages(upstream):
                first = time.monotonic()  # the queue started (listing fetched, plan made)
            time.sleep(0.2)
        os.kill(child, signal.SIGKILL)
        launcher.wait()
        killed = time.monotonic()
    _status, wall, user, system, rss = result.read_text().split()
    row = {"run": "killed", "wall_s": float(wall), "cpu_s": float(user) + float(system), "rss_mib": int(rss) / 1024}
    print(json.dumps(row), flush=True)
    return row, pages(upstream) / (killed - (first or started))


def launched(launcher: subprocess.Popen[bytes]) -> int:
    """The pid of the command launch.py forked (its only child)."""
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
    while not (text := children.read_text().split()):
        time.sleep(0.01)
    return int(text[0])


class Sampler:
    """Every ``every`` seconds (0: never): pages and files served, and the RSS of the frumious running ``conf``."""

    def __init__(self, upstream: Upstream, conf: Path, every: float) -> None:
        self.upstream, self.conf, self.every = upstream, str(conf), every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Sampler:
        if self.every > 0:
            self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()

    def _loop(self) -> None:
        started = time.monotonic()
        while not self.done.wait(self.every):
            served = self.upstream.call("/_stats")["requests"]
            line = f"at {time.monotonic() - started:.0f} s: {pages(self.upstream)} pages, {served.get('file', 0)} files"
            print(f"{line}, frumious RSS {self.rss()}", file=sys.stderr, flush=True)

    def rss(self) -> str:
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                if self.conf.encode() in argv and not any(a.endswith(b"launch.py") for a in argv):
                    status = (proc / "status").read_text()
                    return next(line.split(":")[1].strip() for line in status.splitlines() if line.startswith("VmRSS"))
            except (OSError, ValueError, StopIteration):
                continue
        return "-"


if __name__ == "__main__":
    sys.exit(main())
