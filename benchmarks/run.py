"""Benchmark frumious against bandersnatch, side by side, on the synthetic upstream (run by hand).

Each scenario starts ``benchmarks/upstream.py`` in its own process, then runs every tool into its
own fresh mirror directory (tmpfs by default) with the same bandersnatch config (``api-method =
simple``, ``allow-non-https = true``, same ``workers``). A tool is a child process; its wall time,
CPU (user + sys) and peak RSS come from ``os.wait4`` in ``launch.py``, a tiny launcher (forked
straight from the harness, a child's ``ru_maxrss`` would include the harness's own RSS). A tool
that fails, hangs (``--timeout``) or is missing is reported as such; the harness carries on.

Scenarios:

* ``full-small``: full sync of 2000 projects x 5 files x 20 KB.
* ``full-large``: full sync of 5000 x 10 x 20 KB.
* ``incremental``: full sync of 2000 x 5 (untimed), bump 1 % of the projects (new serial and one
  new file each), timed second run.
* ``noop-listing``: 20 real projects x 3 files plus 700,000 projects that are only in the listing.
  The full sync (untimed) runs with those hidden; then they are shown with serials older than the
  mirror's. ``noop-listing-cold`` is the first run that sees the big listing, ``noop-listing`` is
  the run after it with nothing changed at all (frumious is expected to send ``If-None-Match``
  and get a 304).

``--quick`` shrinks everything (200 x 3; 10,000 listing-only projects) to check the harness.

Usage::

    .venv/bin/python benchmarks/run.py --quick
    .venv/bin/python benchmarks/run.py --scenario full-small --tools bandersnatch
    .venv/bin/python benchmarks/run.py --scenario all --repeat 3 --json-out results.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
UPSTREAM_SCRIPT = HERE / "upstream.py"
LAUNCHER = HERE / "launch.py"
DEFAULT_BANDERSNATCH = Path("/work/bs-venv/bin/bandersnatch")
DEFAULT_FRUMIOUS = REPO / ".venv" / "bin" / "frumious"
TOOLS = ("bandersnatch", "frumious")
KB = 1000


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "full" | "incremental" | "noop"
    projects: int
    files: int
    size: int
    extras: int = 0
    bump_percent: float = 1.0


SCENARIOS = {
    "full-small": Scenario("full-small", "full", 2000, 5, 20 * KB),
    "full-large": Scenario("full-large", "full", 5000, 10, 20 * KB),
    "incremental": Scenario("incremental", "incremental", 2000, 5, 20 * KB),
    "noop-listing": Scenario("noop-listing", "noop", 20, 3, 20 * KB, extras=700_000),
}
QUICK = {
    "full-small": Scenario("full-small", "full", 200, 3, 20 * KB),
    "full-large": Scenario("full-large", "full", 400, 3, 20 * KB),
    "incremental": Scenario("incremental", "incremental", 200, 3, 20 * KB),
    "noop-listing": Scenario("noop-listing", "noop", 10, 3, 20 * KB, extras=10_000),
}
DEFAULT_ORDER = ("full-small", "full-large", "incremental", "noop-listing")
QUICK_ORDER = ("full-small", "incremental", "noop-listing")


@dataclass
class Result:
    scenario: str
    tool: str
    status: str  # "ok", "incomplete", "exit N", "signal N", "timeout", "missing", "setup ...", "error: ..."
    exit_code: int | None = None
    wall: float | None = None
    cpu_user: float | None = None
    cpu_sys: float | None = None
    maxrss_mib: float | None = None
    files: int | None = None
    package_files: int | None = None
    expected_package_files: int | None = None
    requests: dict[str, int] = field(default_factory=dict)
    upstream_cpu: float | None = None
    log: str = ""

    @property
    def cpu(self) -> float | None:
        if self.cpu_user is None or self.cpu_sys is None:
            return None
        return self.cpu_user + self.cpu_sys

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# --------------------------------------------------------------------------- helpers

_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def child_env() -> dict[str, str]:
    """The tools talk to 127.0.0.1: make sure no proxy from the environment gets in the way."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


class UpstreamProcess:
    """``upstream.py`` in a child process, driven through its admin endpoints."""

    def __init__(
        self, scenario: Scenario, log_path: Path, *, gzip: bool = False, hide_extras: bool = False,
        metadata: bool = False,
    ) -> None:  # fmt: skip
        argv = [
            sys.executable,
            str(UPSTREAM_SCRIPT),
            "--projects",
            str(scenario.projects),
            "--files",
            str(scenario.files),
            "--size",
            str(scenario.size),
            "--listing-only-extra",
            str(scenario.extras),
            "--port",
            "0",
        ]
        if gzip:
            argv.append("--gzip")
        if hide_extras:
            argv.append("--hide-extras")
        if metadata:
            argv.append("--metadata")
        # The child keeps its own copy of the log descriptor; ours can close right away.
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=child_env()
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("http://"):
            self.close()
            raise RuntimeError(f"upstream did not start (see {log_path})")
        self.url = line

    def admin(self, path: str, method: str = "POST") -> dict[str, Any]:
        request = urllib.request.Request(self.url + path, method=method, data=b"" if method == "POST" else None)
        with _NO_PROXY_OPENER.open(request, timeout=120) as response:
            result: dict[str, Any] = json.load(response)
            return result

    def stats(self) -> dict[str, Any]:
        return self.admin("/_stats", "GET")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def write_config(path: Path, mirror_dir: Path, url: str, workers: int, json_metadata: bool) -> None:
    path.write_text(
        "\n".join(
            [
                "[mirror]",
                f"directory = {mirror_dir}",
                f"master = {url}",
                "allow-non-https = true",
                "api-method = simple",
                f"workers = {workers}",
                "timeout = 30",
                "global-timeout = 3600",
                f"json = {'true' if json_metadata else 'false'}",
                "release-files = true",
                "hash-index = false",
                "simple-format = ALL",
                "compare-method = hash",
                "digest_name = sha256",
                "stop-on-error = false",
                "storage-backend = filesystem",
                "verifiers = 3",
                "keep_index_versions = 0",
                "cleanup = false",
                "",
            ]
        ),
        encoding="utf-8",
    )


@dataclass
class ChildRun:
    wall: float
    status: int  # wait status
    user: float
    sys: float
    maxrss_kib: int
    timed_out: bool


def run_child(argv: list[str], log_path: Path, timeout: float) -> ChildRun:
    """Run one tool through ``launch.py``, which reports the tool's own wall, CPU and peak RSS.

    The harness's ``os.wait4`` figures are the fallback when the launcher wrote nothing (killed).
    """
    result_path = log_path.with_suffix(".rusage")
    result_path.unlink(missing_ok=True)
    wrapped = [sys.executable, "-I", "-S", str(LAUNCHER), str(result_path), *argv]
    with open(log_path, "ab") as log:
        log.write(f"\n$ {' '.join(argv)}\n".encode())
        log.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(
            wrapped,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            start_new_session=True,
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            # The launcher leads its own session (the tool inherits it): signal that group only.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        fields = result_path.read_text(encoding="ascii").split()
        result_path.unlink()
        return ChildRun(
            float(fields[1]), int(fields[0]), float(fields[2]), float(fields[3]), int(fields[4]), timed_out.is_set()
        )
    except (OSError, ValueError, IndexError):
        return ChildRun(wall, status, usage.ru_utime, usage.ru_stime, usage.ru_maxrss, timed_out.is_set())


def count_files(root: Path) -> tuple[int, int, set[str]]:
    """(all files, release files under web/packages, relative paths) of a mirror tree.

    PEP 658 ``.metadata`` sidecars are not release files: bandersnatch 6.8 does not fetch them.
    """
    total = packages = 0
    paths: set[str] = set()
    if not root.exists():
        return 0, 0, paths
    pkg_prefix = str(root / "web" / "packages")
    for dirpath, _dirs, names in os.walk(root):
        in_packages = dirpath.startswith(pkg_prefix)
        rel = os.path.relpath(dirpath, root)
        for name in names:
            total += 1
            if in_packages and not name.endswith(".metadata"):
                packages += 1
            paths.add(name if rel == "." else f"{rel}/{name}")
    return total, packages, paths


def _diff_requests(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    b, a = before.get("requests", {}), after.get("requests", {})
    return {k: a[k] - b.get(k, 0) for k in sorted(a) if a[k] - b.get(k, 0)}


# --------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.binaries = {"bandersnatch": Path(args.bandersnatch), "frumious": Path(args.frumious)}
        self.results: list[Result] = []
        self.tree_notes: list[str] = []
        base = Path(args.base_dir)
        self.workdir = Path(tempfile.mkdtemp(prefix="frumious-bench-", dir=base))
        self.logdir = Path(args.log_dir) if args.log_dir else Path(tempfile.mkdtemp(prefix="frumious-bench-logs-"))
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._keep_logs = bool(args.keep_logs)
        self._shown_logs: set[str] = set()

    def argv(self, tool: str, conf: Path) -> list[str]:
        return [str(self.binaries[tool]), "-c", str(conf), "mirror"]

    def sync(
        self, scenario: str, tool: str, up: UpstreamProcess, mirror: Path, conf: Path, expected: int, tag: str
    ) -> Result:
        log_path = self.logdir / f"{scenario}.{tool}.{tag}.log"
        binary = self.binaries[tool]
        if not binary.exists():
            return Result(scenario, tool, "missing", log=str(binary))
        before = up.stats()
        try:
            run = run_child(self.argv(tool, conf), log_path, self.args.timeout)
        except OSError as exc:
            return Result(scenario, tool, f"error: {exc}", log=str(log_path))
        after = up.stats()
        code = os.waitstatus_to_exitcode(run.status)
        if run.timed_out:
            status = "timeout"
        elif code < 0:
            status = f"signal {-code}"
        elif code:
            status = f"exit {code}"
        else:
            status = "ok"
        files, packages, _ = count_files(mirror)
        if status == "ok" and packages != expected:
            status = "incomplete"  # exit 0, but the mirror lacks (or has extra) package files
        return Result(
            scenario,
            tool,
            status,
            exit_code=code,
            wall=run.wall,
            cpu_user=run.user,
            cpu_sys=run.sys,
            maxrss_mib=run.maxrss_kib / 1024,  # KiB on Linux
            files=files,
            package_files=packages,
            expected_package_files=expected,
            requests=_diff_requests(before, after),
            upstream_cpu=after["cpu"] - before["cpu"],
            log=str(log_path),
        )

    def record(self, result: Result) -> None:
        self.results.append(result)
        line = format_row(result)
        print(line, flush=True)
        if not result.ok and result.log not in self._shown_logs and Path(result.log).is_file():
            self._shown_logs.add(result.log)
            tail = Path(result.log).read_text(errors="replace").strip().splitlines()[-6:]
            for row in tail:
                print(f"    | {row[:200]}", flush=True)

    def run_scenario(self, sc: Scenario, repeat: int) -> None:
        tools = list(self.args.tools)
        if repeat % 2 == 1:
            tools.reverse()  # alternate who goes first on repeats
        up_log = self.logdir / f"{sc.name}.upstream.log"
        print(
            f"\n== {sc.name}: {sc.projects} projects x {sc.files} files x {sc.size} B"
            + (f" + {sc.extras} listing-only" if sc.extras else "")
            + f", workers={self.args.workers}, run {repeat + 1}/{self.args.repeat}",
            flush=True,
        )
        started = time.perf_counter()
        up = UpstreamProcess(
            sc, up_log, gzip=self.args.gzip, hide_extras=sc.kind == "noop", metadata=self.args.metadata
        )
        print(f"   upstream {up.url} ready in {time.perf_counter() - started:.1f}s", flush=True)
        trees: dict[str, set[str]] = {}
        try:
            for tool in tools:
                mirror = self.workdir / f"{sc.name}-{tool}" / "mirror"
                mirror.mkdir(parents=True)
                conf = mirror.parent / "bandersnatch.conf"
                write_config(conf, mirror, up.url, self.args.workers, self.args.json_metadata)
                base_files = sc.projects * sc.files
                if sc.kind == "full":
                    up.admin("/_reset")
                    self.record(self.sync(sc.name, tool, up, mirror, conf, base_files, "full"))
                elif sc.kind == "incremental":
                    up.admin("/_reset")
                    first = self.sync(sc.name, tool, up, mirror, conf, base_files, "initial")
                    print(f"   (initial full sync: {first.status}, {fmt(first.wall)} s)", flush=True)
                    bumped = up.admin(f"/_bump?percent={sc.bump_percent}")
                    expected = base_files + len(bumped["bumped"])
                    if first.ok:
                        self.record(self.sync(sc.name, tool, up, mirror, conf, expected, "incremental"))
                    else:
                        self.record(Result(sc.name, tool, f"setup {first.status}", log=first.log))
                else:
                    up.admin("/_reset?extras=0")
                    first = self.sync(sc.name, tool, up, mirror, conf, base_files, "initial")
                    print(f"   (initial full sync, extras hidden: {first.status}, {fmt(first.wall)} s)", flush=True)
                    up.admin("/_extras?visible=1")
                    if not first.ok:
                        for name in (sc.name + "-cold", sc.name):
                            self.record(Result(name, tool, f"setup {first.status}", log=first.log))
                    else:
                        cold = self.sync(sc.name + "-cold", tool, up, mirror, conf, base_files, "cold")
                        self.record(cold)
                        self.record(self.sync(sc.name, tool, up, mirror, conf, base_files, "noop"))
                if self.results and self.results[-1].tool == tool and self.results[-1].ok:
                    trees[tool] = count_files(mirror)[2]
                shutil.rmtree(mirror.parent, ignore_errors=True)
        finally:
            up.close()
        if len(trees) == 2:
            self.compare_trees(sc.name, trees)

    def compare_trees(self, scenario: str, trees: dict[str, set[str]]) -> None:
        """Compare the served tree (``web/``) strictly; paths outside it are each tool's own state."""
        b, f = trees["bandersnatch"], trees["frumious"]
        sidecars = {tool: sum(1 for p in paths if p.endswith(".metadata")) for tool, paths in trees.items()}
        if any(sidecars.values()):
            # Only frumious fetches PEP 658 sidecars (bandersnatch 6.8 does not): compared apart.
            b, f = ({p for p in t if not p.endswith(".metadata")} for t in (b, f))
        web_b = {p for p in b if p.startswith("web/")}
        web_f = {p for p in f if p.startswith("web/")}
        only_b, only_f = sorted(web_b - web_f), sorted(web_f - web_b)
        if not only_b and not only_f:
            note = f"{scenario}: web/ trees identical ({len(web_b)} paths)"
        else:
            note = (
                f"{scenario}: web/ trees DIFFER: {len(only_b)} paths only in bandersnatch {only_b[:3]}, "
                f"{len(only_f)} only in frumious {only_f[:3]}"
            )
        if any(sidecars.values()):
            counts = ", ".join(f"{tool} {count}" for tool, count in sidecars.items())
            note += f" besides .metadata files ({counts})"
        state_b, state_f = sorted(b - web_b - f), sorted(f - web_f - b)
        if state_b or state_f:
            note += f"; state outside web/ only in bandersnatch {state_b[:4]}, only in frumious {state_f[:4]}"
        if note not in self.tree_notes:
            self.tree_notes.append(note)
        print(f"   {note}", flush=True)

    def run(self) -> int:
        table = QUICK if self.args.quick else SCENARIOS
        names = self.args.scenario or list(QUICK_ORDER if self.args.quick else DEFAULT_ORDER)
        if "all" in names:
            names = list(DEFAULT_ORDER)
        print(f"mirrors under {self.workdir}, logs under {self.logdir}", flush=True)
        print(header_row(), flush=True)
        try:
            for name in names:
                sc = table[name]
                if self.args.projects is not None or self.args.files is not None or self.args.size is not None:
                    sc = Scenario(
                        sc.name,
                        sc.kind,
                        self.args.projects if self.args.projects is not None else sc.projects,
                        self.args.files if self.args.files is not None else sc.files,
                        self.args.size if self.args.size is not None else sc.size,
                        sc.extras,
                        sc.bump_percent,
                    )
                if self.args.extras is not None and sc.kind == "noop":
                    sc = Scenario(sc.name, sc.kind, sc.projects, sc.files, sc.size, self.args.extras, sc.bump_percent)
                for repeat in range(self.args.repeat):
                    self.run_scenario(sc, repeat)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.report()
        failed = [r for r in self.results if not r.ok]
        if not self._keep_logs and not failed:
            shutil.rmtree(self.logdir, ignore_errors=True)
        else:
            print(f"\nlogs kept in {self.logdir}")
        return 0

    def report(self) -> None:
        groups: dict[tuple[str, str], list[Result]] = {}
        for r in self.results:
            groups.setdefault((r.scenario, r.tool), []).append(r)
        merged = {key: median_result(rs) for key, rs in groups.items()}
        print(f"\n== summary (median of {self.args.repeat} run(s) per row)")
        print(header_row())
        for r in merged.values():
            print(format_row(r))
        scenarios = list(dict.fromkeys(r.scenario for r in self.results))
        print("\n== ratios (> 1 means frumious is better)")
        print(f"{'scenario':<20} {'wall b/f':>9} {'CPU b/f':>9} {'RSS f/b':>9}   (RSS: < 1 means frumious is leaner)")
        ratios = {}
        for name in scenarios:
            b, f = merged.get((name, "bandersnatch")), merged.get((name, "frumious"))
            if b is None or f is None or not (b.ok and f.ok):
                missing = "frumious" if f is None or not f.ok else "bandersnatch"
                print(f"{name:<20} {'n/a':>9} {'n/a':>9} {'n/a':>9}   ({missing} did not complete)")
                continue
            row = {
                "wall_b_over_f": ratio(b.wall, f.wall),
                "cpu_b_over_f": ratio(b.cpu, f.cpu),
                "rss_f_over_b": ratio(f.maxrss_mib, b.maxrss_mib),
            }
            ratios[name] = row
            print(
                f"{name:<20} {fmt(row['wall_b_over_f'], 2):>9} {fmt(row['cpu_b_over_f'], 2):>9} "
                f"{fmt(row['rss_f_over_b'], 2):>9}"
            )
        for note in self.tree_notes:
            print(f"tree check: {note}")
        if self.args.json_out:
            doc = {
                "args": {k: v for k, v in vars(self.args).items() if k != "func"},
                "results": [asdict(r) | {"cpu": r.cpu} for r in self.results],
                "ratios": ratios,
                "tree_notes": self.tree_notes,
            }
            Path(self.args.json_out).write_text(json.dumps(doc, indent=2), encoding="utf-8")
            print(f"results written to {self.args.json_out}")


# --------------------------------------------------------------------------- formatting


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return a / b


def median_result(rs: list[Result]) -> Result:
    if len(rs) == 1:
        return rs[0]
    ok = [r for r in rs if r.ok] or rs
    base = ok[len(ok) // 2]

    def med(attr: str) -> float | None:
        values = [getattr(r, attr) for r in ok if getattr(r, attr) is not None]
        return statistics.median(values) if values else None

    out = Result(**{**asdict(base), "requests": dict(base.requests)})
    out.wall, out.cpu_user, out.cpu_sys = med("wall"), med("cpu_user"), med("cpu_sys")
    out.maxrss_mib, out.upstream_cpu = med("maxrss_mib"), med("upstream_cpu")
    if len(ok) != len(rs):
        out.status = f"{base.status} ({len(rs) - len(ok)}/{len(rs)} failed)"
    return out


def header_row() -> str:
    return (
        f"{'scenario':<20} {'tool':<12} {'status':<14} {'wall s':>8} {'CPU s':>8} {'RSS MiB':>8} "
        f"{'exit':>5} {'files':>7} {'pkgs':>13} {'reqs':>7} {'304s':>5} {'up CPU':>7}"
    )


def format_row(r: Result) -> str:
    pkgs = "-" if r.package_files is None else f"{r.package_files}/{r.expected_package_files}"
    reqs = sum(r.requests.values()) if r.requests else None
    not_modified = sum(v for k, v in r.requests.items() if k.endswith("_304"))
    return (
        f"{r.scenario:<20} {r.tool:<12} {r.status[:14]:<14} {fmt(r.wall, 2):>8} {fmt(r.cpu, 2):>8} "
        f"{fmt(r.maxrss_mib):>8} {'-' if r.exit_code is None else r.exit_code:>5} "
        f"{'-' if r.files is None else r.files:>7} {pkgs:>13} {'-' if reqs is None else reqs:>7} "
        f"{not_modified if r.requests else '-':>5} {fmt(r.upstream_cpu, 2):>7}"
    )


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="frumious vs bandersnatch, side by side on a synthetic upstream.")
    p.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        help="scenario to run (repeatable; default: all, or the quick set with --quick)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes (200 x 3) to check the harness itself")
    p.add_argument("--tools", default="bandersnatch,frumious", help="comma-separated subset of: bandersnatch,frumious")
    p.add_argument("--workers", type=int, default=3, help="[mirror] workers for both tools (default 3)")
    p.add_argument("--repeat", type=int, default=1, help="runs per scenario; the summary shows medians")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds before a tool run is killed")
    p.add_argument("--projects", type=int, help="override the scenario's project count")
    p.add_argument("--files", type=int, help="override the scenario's files per project")
    p.add_argument("--size", type=int, help="override the scenario's file size in bytes")
    p.add_argument("--extras", type=int, help="override the listing-only project count of noop-listing")
    p.add_argument("--gzip", action="store_true", help="upstream gzips JSON bodies for clients that accept it")
    p.add_argument("--metadata", action="store_true", help="upstream serves PEP 658 .metadata for every wheel")
    p.add_argument("--json-metadata", action="store_true", help="set json = true in the mirror config")
    p.add_argument("--bandersnatch", default=str(DEFAULT_BANDERSNATCH), help="bandersnatch executable")
    p.add_argument("--frumious", default=str(DEFAULT_FRUMIOUS), help="frumious executable")
    default_base = "/dev/shm" if os.access("/dev/shm", os.W_OK) else tempfile.gettempdir()
    p.add_argument("--base-dir", default=default_base, help=f"where mirrors go (default {default_base})")
    p.add_argument("--log-dir", help="where tool logs go (default: a new directory in the temp dir)")
    p.add_argument("--keep-logs", action="store_true", help="keep logs even when every run succeeded")
    p.add_argument("--json-out", help="also write every result to this JSON file")
    args = p.parse_args(argv)
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = [t for t in tools if t not in TOOLS]
    if unknown or not tools:
        p.error(f"unknown tool(s) {unknown}; choose from {', '.join(TOOLS)}")
    args.tools = tools
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def compile_sources() -> None:
    """Byte-compile frumious once, as a pip install does for both tools.

    An editable install under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile every
    module at each start, a cost no installed copy pays (bandersnatch's venv has its .pyc).
    """
    import compileall

    compileall.compile_dir(str(Path(__file__).resolve().parent.parent / "src" / "frumious"), quiet=1)


def main(argv: list[str] | None = None) -> int:
    compile_sources()
    return Bench(parse_args(argv)).run()


if __name__ == "__main__":
    sys.exit(main())
