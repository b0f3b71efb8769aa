"""Measure frumious on PyPI-scale inputs: the runs of one mirror along the synthetic journal.

    # a full sync of N projects (a fresh mirror under --base-dir), N = 1000, 10000, 100000 ...
    .venv/bin/python benchmarks/pypi_bench.py full --projects 10000 --max-files 3
    # ... keeping the mirror, then a no-op and a 1-changed run on it (delete BASE_DIR/full-N after)
    .venv/bin/python benchmarks/pypi_bench.py full --projects 700000 --max-files 3 --keep --after noop,changed
    # the incremental, listing-only and no-op runs on a state built by pypi_state.py (same shape args)
    .venv/bin/python benchmarks/pypi_bench.py runs --config /work/tmp/hx/pypi.conf [--projects 700000]
    # a bandersnatch tree taken over: the same state without frumious's record and .frumious/
    .venv/bin/python benchmarks/pypi_bench.py takeover --config /work/tmp/hx/pypi.conf
    # issue 13: full, no-op and incremental syncs read from pages (PyPI-like and PEP 691-only
    # upstreams) next to the Warehouse-JSON sync of a frumious source tree from before it
    .venv/bin/python benchmarks/pypi_bench.py sources --projects 2000 --max-files 3 --journal 100 \
        --today-src /tmp/today/src

Each run is ``frumious -c CONF mirror`` started through launch.py (wall, CPU = user + sys, peak
RSS from ``wait4``, as run.py measures), with the upstream (pypi_upstream.py) in a child process;
the rows also give the upstream's requests during the run (by kind) and its CPU seconds.
``runs`` moves the upstream along the journal "1,0,100,d1" from generation 0 (the state's):
generation 1 changes one project, 2 moves only the listing's serial, then the same listing again
(a 304), 3 changes 100 projects, 4 deletes one. With ``--journal 0,1,0,100,d1`` (the state built
with the same) a listing-only run comes first, so the others run as after a mirror's first run.
``takeover`` first moves ``frumious.sqlite`` and
``.frumious/`` aside (and puts them back after). ``sources`` runs, for each of three setups, a full
sync into a fresh mirror, a no-op run and the run after the journal's first generation: frumious
before issue 13 (``--today-src``, which reads every project from ``/pypi/<name>/json``) against the
PyPI-like upstream; this tree's frumious (project pages) against the same; and this tree's against
the upstream with ``--pep691-only`` (no ``/pypi/``, serials in the pages' meta only). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FRUMIOUS = Path(sys.executable).with_name("frumious")
CONFIG = """[mirror]
directory = {directory}
master = {master}
allow-non-https = true
workers = 3
timeout = 30
global-timeout = 36000
json = false
release-files = true
hash-index = false
simple-format = ALL
compare-method = hash
digest_name = sha256
stop-on-error = false
storage-backend = filesystem
keep_index_versions = 0
cleanup = false
"""


class Upstream:
    def __init__(self, shape_args: list[str]) -> None:
        argv = [sys.executable, str(HERE / "pypi_upstream.py"), *shape_args, "--port", "0"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def call(self, path: str, method: str = "GET") -> dict[str, Any]:
        request = urllib.request.Request(self.url + path, method=method)
        with urllib.request.urlopen(request, timeout=600) as response:
            return dict(json.load(response))

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def run(conf: Path, upstream: Upstream, label: str, log: Path, source: str | None = None) -> dict[str, Any]:
    """One ``frumious mirror`` through launch.py; its figures and the upstream's requests.

    ``source``: a frumious ``src`` directory to run instead of the installed one (PYTHONPATH).
    """
    before = upstream.call("/_stats")
    result = log.with_suffix(".rusage")
    argv = [sys.executable, "-I", "-S", str(HERE / "launch.py"), str(result), str(FRUMIOUS), "-c", str(conf), "mirror"]
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    if source is not None:
        env["PYTHONPATH"] = source
    with log.open("w") as out:
        code = subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
    after = upstream.call("/_stats")
    _status, wall, user, system, rss = result.read_text().split()
    requests = {k: v - before["requests"].get(k, 0) for k, v in after["requests"].items()}
    row = {
        "run": label, "exit": code, "wall_s": float(wall), "cpu_s": float(user) + float(system),
        "rss_mib": int(rss) / 1024, "requests": {k: v for k, v in requests.items() if v},
        "upstream_cpu_s": after["cpu"] - before["cpu"],
    }  # fmt: skip
    print(json.dumps(row), flush=True)
    return row


def write_conf(path: Path, directory: str, master: str) -> None:
    path.write_text(CONFIG.format(directory=directory, master=master), encoding="utf-8")


def with_master(conf: Path, master: str, out: Path) -> Path:
    """A copy of ``conf`` pointing at this run's upstream."""
    lines = [f"master = {master}" if line.startswith("master") else line for line in conf.read_text().splitlines()]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def full(args: argparse.Namespace, shape_args: list[str]) -> None:
    upstream = Upstream(shape_args)
    try:
        if args.keep:  # the mirror stays for a look (and must be deleted by hand: 6M files at 700k)
            tmp = Path(args.base_dir) / f"full-{args.projects}"
            tmp.mkdir()
            full_runs(args, upstream, tmp)
        else:
            with tempfile.TemporaryDirectory(dir=args.base_dir) as name:
                full_runs(args, upstream, Path(name))
    finally:
        upstream.close()


def full_runs(args: argparse.Namespace, upstream: Upstream, tmp: Path) -> None:
    """The full sync, then ``--after``'s runs on its result against the same upstream."""
    conf = tmp / "full.conf"
    write_conf(conf, f"{tmp}/mirror", upstream.url)
    with Progress(upstream, args.progress):
        row = run(conf, upstream, f"full sync of {args.projects} projects", tmp / "full.log")
    if row["exit"] != 0 or args.keep_log:
        shutil.copy(tmp / "full.log", Path(args.base_dir) / f"full-{args.projects}.log")
    listed = row["requests"].get("json", 0) + row["requests"].get("simple_page", 0)
    print(f"per project: {row['wall_s'] / listed * 1e3:.2f} ms wall, {row['cpu_s'] / listed * 1e3:.2f} ms CPU")
    for step in filter(None, args.after.split(",")):
        if step == "changed":
            upstream.call("/_generation?g=1", "POST")
        run(conf, upstream, {"noop": "no-op on the result", "changed": "1 project changed"}[step], tmp / f"{step}.log")


class Progress:
    """Every ``every`` seconds (0: never), the pages and files served so far, on stderr (for long runs)."""

    def __init__(self, upstream: Upstream, every: float) -> None:
        self.upstream, self.every = upstream, every
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Progress:
        if self.every > 0:
            self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.done.set()

    def _loop(self) -> None:
        started = time.monotonic()
        while not self.done.wait(self.every):
            served = self.upstream.call("/_stats")["requests"]
            pages = served.get("simple_page", 0) + served.get("json", 0)
            line = f"progress: {time.monotonic() - started:.0f} s, {pages} pages, {served.get('file', 0)} files"
            print(line, file=sys.stderr, flush=True)


def runs(args: argparse.Namespace, shape_args: list[str]) -> None:
    upstream = Upstream(shape_args)
    logs = Path(args.base_dir)
    try:
        conf = with_master(Path(args.config), upstream.url, logs / "runs.conf")
        steps = [(1, "1 project changed"), (2, "listing changed, nothing to sync"), (2, "no-op (same listing)")]
        steps += [(3, "100 projects changed"), (4, "1 project deleted")]
        if args.journal.split(",")[0] == "0":
            # "0,1,0,100,d1": a listing-only generation first, so the runs after it start, as every cron run
            # but a mirror's first does, from the listing its first run merged and remembered.
            steps = [(1, "listing changed, first run"), *((g + 1, label) for g, label in steps)]
        for generation, label in steps[: args.steps]:
            upstream.call(f"/_generation?g={generation}", "POST")
            run(conf, upstream, label, logs / f"run-g{generation}-{label.split()[0]}.log")
    finally:
        upstream.close()


def sources(args: argparse.Namespace, shape_args: list[str]) -> None:
    """Full, no-op and incremental syncs: Warehouse JSON before issue 13, pages after (two upstreams)."""
    ours = str(Path(__file__).resolve().parents[1] / "src")
    setups = [("Warehouse JSON (before)", args.today_src, []), ("pages, PyPI-like", ours, [])]
    setups.append(("pages, PEP 691 only", ours, ["--pep691-only"]))
    for name, source, extra in setups:
        upstream = Upstream([*shape_args, *extra])
        try:
            with tempfile.TemporaryDirectory(dir=args.base_dir) as tmp:
                conf = Path(tmp) / "sources.conf"
                write_conf(conf, f"{tmp}/mirror", upstream.url)
                for label in ("full", "no-op", "incremental"):
                    if label == "incremental":
                        upstream.call("/_generation?g=1", "POST")
                    row = run(conf, upstream, f"{name}: {label}", Path(tmp) / f"{label}.log", source)
                    if row["exit"] != 0:
                        shutil.copy(Path(tmp) / f"{label}.log", Path(args.base_dir) / f"sources-{label}.log")
        finally:
            upstream.close()


def takeover(args: argparse.Namespace, shape_args: list[str]) -> None:
    conf = Path(args.config)
    root = next(
        Path(line.split("=", 1)[1].strip()) for line in conf.read_text().splitlines() if line.startswith("directory")
    )
    aside = root.parent / "frumious-state-aside"
    aside.mkdir(exist_ok=True)
    for name in ("frumious.sqlite", ".frumious"):
        if (root / name).exists():
            os.replace(root / name, aside / name)
    upstream = Upstream(shape_args)
    try:
        run(
            with_master(conf, upstream.url, Path(args.base_dir) / "takeover.conf"),
            upstream,
            "takeover",
            Path(args.base_dir) / "takeover.log",
        )
    finally:
        upstream.close()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["full", "runs", "takeover", "sources"])
    p.add_argument("--today-src", help="sources: the src directory of a frumious that reads Warehouse JSON")
    p.add_argument("--config", help="runs/takeover: the config pypi_state.py built the state with")
    p.add_argument("--base-dir", default="/work/tmp/hx", help="mirrors (full) and logs go here")
    p.add_argument("--steps", type=int, default=None, help="runs: how many of the journal's runs (default: all)")
    p.add_argument("--keep-log", action="store_true")
    p.add_argument("--keep", action="store_true", help="full: keep the mirror in BASE_DIR/full-N (delete it after)")
    p.add_argument("--after", default="", help="full: runs on the result, comma-separated: noop, changed (gen 1)")
    p.add_argument("--progress", type=float, default=0, help="full: pages and files served every S seconds")
    sys.path.insert(0, str(HERE))
    from pypi_upstream import add_shape_args

    add_shape_args(p)
    args = p.parse_args()
    shape_args = [f"--projects={args.projects}", f"--max-files={args.max_files}", f"--size={args.size}"]
    shape_args += [f"--journal={args.journal}", f"--seed={args.seed}"]
    shape_args += ["--spread-names"] if args.spread_names else []
    Path(args.base_dir).mkdir(parents=True, exist_ok=True)
    {"full": full, "runs": runs, "takeover": takeover, "sources": sources}[args.what](args, shape_args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
