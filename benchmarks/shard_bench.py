"""A full sync into Swift by N shard processes at once (issue 16), for N = 1, 2 and 4.

Run by hand (needs Debian's python3-swift; the first start installs it):

    PYTHONPATH=src .venv/bin/python benchmarks/shard_bench.py [--projects 5000] [--files 10] \
        [--latency 0.05] [--shards 1,2,4] [--repeat 3] [--quick]

For each run it starts a fresh real Swift server (tests/services/swift-saio.sh, its data under
``--saio-dir``, purged after the run) and a fresh container, then starts N ``frumious mirror
--shards N`` processes at once, each with its own ``JOB_COMPLETION_INDEX`` as the pods of a
Kubernetes Indexed Job get it, each through ``launch.py`` (its wall, CPU and peak RSS from
``wait4``). Each shard tries the publish step when it finishes, so the last one publishes. The
synthetic upstream (``upstream.py``) answers every request ``--latency`` seconds late, as a
far-away index does: with no latency, N shards on a 2-core machine only share the same CPU.

A run counts only if every shard exits 0, the top ``status`` (written by publish, last) exists
and ``web/packages/`` holds every file of the upstream. Rounds alternate the order of the Ns;
the table gives medians and ranges. Columns: wall (first shard started to last one done),
CPU (all shards' user+sys), Swift CPU (the server's five processes, from /proc), requests (the
upstream's count), skew (slowest shard's wall / the shards' mean wall).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import swiftclient

sys.path.insert(0, str(Path(__file__).parent))
from upstream import ThreadedUpstream, Upstream

ROOT = Path(__file__).resolve().parent.parent
SAIO = ROOT / "tests" / "services" / "swift-saio.sh"
LAUNCH = Path(__file__).resolve().parent / "launch.py"
PREFIX = "mirror"
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Shard:
    index: int
    code: int
    wall: float
    cpu: float
    rss_mib: float


@dataclass
class Run:
    shards: int
    wall: float
    cpu: float
    swift_cpu: float
    requests: int
    skew: float
    ok: bool
    why: str
    per_shard: list[Shard]


def start_saio(directory: Path) -> dict[str, str]:
    done = subprocess.run(["bash", str(SAIO), "start", str(directory)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"swift-saio.sh start failed ({done.returncode}):\n{done.stderr[-3000:]}")
    env = {}
    for line in done.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, raw = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(raw)[0] if raw else ""
    return env


def purge_saio(directory: Path) -> None:
    subprocess.run(["bash", str(SAIO), "purge", str(directory)], capture_output=True, timeout=300)


def swift_cpu(directory: Path) -> float:
    """User+sys seconds of the server's processes so far (their PIDs are in DIR/run/*.pid)."""
    total = 0.0
    for pidfile in (directory / "run").glob("*.pid"):
        pid = pidfile.read_text().split()[0]
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
    return total


def connect(env: dict[str, str]) -> swiftclient.Connection:
    return swiftclient.Connection(
        authurl=env["SWIFT_AUTH_URL"], user=env["SWIFT_USER"], key=env["SWIFT_KEY"], auth_version="1"
    )


def config_text(url: str, env: dict[str, str], container: str, shards: int, workers: int) -> str:
    return (
        f"[mirror]\nmaster = {url}\nallow-non-https = true\nworkers = {workers}\ntimeout = 60\n"
        f"storage-backend = swift\ndirectory = /{PREFIX}\nshards = {shards}\n"
        f"[swift]\ndefault_container = {container}\nauth_url = {env['SWIFT_AUTH_URL']}\n"
        f"username = {env['SWIFT_USER']}\npassword = {env['SWIFT_KEY']}\n"
    )


def child_env(index: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env["JOB_COMPLETION_INDEX"] = str(index)
    return env


def run_shards(frumious: str, config: Path, shards: int, work: Path) -> tuple[float, list[Shard]]:
    """Start every shard at once; wall from the first start to the last exit, and each shard's figures."""
    started = time.perf_counter()
    children = []
    for index in range(shards):
        result = work / f"shard-{index}.result"
        log = (work / f"shard-{index}.log").open("w")
        command = [sys.executable, "-I", "-S", str(LAUNCH), str(result), frumious, "-c", str(config)]
        command += ["mirror", "--shards", str(shards)]
        children.append((index, result, subprocess.Popen(command, stdout=log, stderr=log, env=child_env(index))))
        log.close()
    for _index, _result, process in children:
        process.wait()
    wall = time.perf_counter() - started
    figures = []
    for index, result, process in children:
        status, shard_wall, user, system, rss = result.read_text().split()
        code = os.waitstatus_to_exitcode(int(status))
        figures.append(Shard(index, code, float(shard_wall), float(user) + float(system), int(rss) / 1024))
        assert process.returncode == (code if code >= 0 else 128 - code)
    return wall, figures


def check(conn: swiftclient.Connection, container: str, files: int, shards: list[Shard]) -> str:
    """Why the run does not count ('' when it does)."""
    failed = [s.index for s in shards if s.code != 0]
    if failed:
        return f"shard(s) {failed} exited non-zero"
    try:
        conn.head_object(container, f"{PREFIX}/status")
    except swiftclient.ClientException:
        return "no top status: not published"
    _headers, listing = conn.get_container(container, prefix=f"{PREFIX}/web/packages/", full_listing=True)
    if len(listing) != files:
        return f"{len(listing)} objects under web/packages, {files} expected"
    return ""


def upstream_requests(url: str) -> int:
    with urllib.request.urlopen(f"{url}/_stats", timeout=30) as answer:
        return int(json.load(answer)["total_requests"])


def one_run(args: argparse.Namespace, url: str, shards: int, work: Path) -> Run:
    saio_dir = args.saio_dir / "saio"
    env = start_saio(saio_dir)
    try:
        conn = connect(env)
        container = f"shards-{uuid.uuid4().hex[:12]}"
        conn.put_container(container)
        config = work / f"n{shards}.conf"
        config.write_text(config_text(url, env, container, shards, args.workers))
        requests_before, swift_before = upstream_requests(url), swift_cpu(saio_dir)
        wall, figures = run_shards(args.frumious, config, shards, work)
        requests, swift = upstream_requests(url) - requests_before, swift_cpu(saio_dir) - swift_before
        why = check(conn, container, args.projects * args.files, figures)
    finally:
        purge_saio(saio_dir)
    walls = [s.wall for s in figures]
    skew = max(walls) / statistics.mean(walls)
    cpu = sum(s.cpu for s in figures)
    if why:
        for s in figures:
            tail = (work / f"shard-{s.index}.log").read_text(errors="replace")[-1500:]
            print(f"--- shard {s.index} (exit {s.code}):\n{tail}", file=sys.stderr)
    return Run(shards, wall, cpu, swift, requests, skew, not why, why, figures)


def spread(values: list[float], digits: int = 1) -> str:
    middle = statistics.median(values)
    if len(values) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def table(runs: list[Run], counts: list[int]) -> str:
    lines = [
        "| N | runs ok | wall s | CPU s (all shards) | Swift CPU s | requests | skew (slowest / mean) "
        "| peak RSS MiB a shard |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for n in counts:
        ok = [r for r in runs if r.shards == n and r.ok]
        total = sum(1 for r in runs if r.shards == n)
        if not ok:
            lines.append(f"| {n} | 0/{total} | | | | | | |")
            continue
        rss = max(s.rss_mib for r in ok for s in r.per_shard)
        lines.append(
            f"| {n} | {len(ok)}/{total} | {spread([r.wall for r in ok])} | {spread([r.cpu for r in ok])} | "
            f"{spread([r.swift_cpu for r in ok])} | {spread([r.requests for r in ok], 0)} | "
            f"{spread([r.skew for r in ok], 2)} | {rss:.1f} |"
        )
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds before each upstream answer")
    parser.add_argument("--shards", default="1,2,4", help="the Ns to run, comma-separated (default 1,2,4)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the order of the Ns alternates")
    parser.add_argument("--workers", type=int, default=3, help="[mirror] workers of each shard")
    parser.add_argument("--quick", action="store_true", help="200 projects x 3 files, one round")
    parser.add_argument("--saio-dir", type=Path, default=Path("/tmp/shardbench-swift"))
    parser.add_argument("--frumious", default=str(ROOT / ".venv" / "bin" / "frumious"))
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    if args.quick:
        args.projects, args.files, args.repeat = 200, 3, 1
    return args


def main() -> int:
    args = parse_args()
    counts = [int(n) for n in args.shards.split(",")]
    work = Path(tempfile.mkdtemp(prefix="frumious-shardbench-"))
    runs: list[Run] = []
    upstream = Upstream(args.projects, args.files, args.size)
    try:
        with ThreadedUpstream(upstream, latency=args.latency) as url:
            for round_ in range(args.repeat):
                for n in counts if round_ % 2 == 0 else counts[::-1]:
                    run = one_run(args, url, n, work)
                    runs.append(run)
                    state = "ok" if run.ok else f"FAILED: {run.why}"
                    walls = " ".join(f"{s.wall:.1f}" for s in run.per_shard)
                    print(
                        f"round {round_ + 1} N={n}: wall {run.wall:.1f} s, CPU {run.cpu:.1f} s, "
                        f"Swift CPU {run.swift_cpu:.1f} s, {run.requests} requests, skew {run.skew:.2f} "
                        f"(shard walls {walls}): {state}",
                        flush=True,
                    )
    finally:
        shutil.rmtree(args.saio_dir, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{args.projects} projects x {args.files} files of {args.size} B, latency {args.latency * 1000:.0f} ms, "
        f"workers = {args.workers}, {args.repeat} round(s); medians (range)\n"
    )
    print(table(runs, counts))
    if args.json_out:
        args.json_out.write_text(json.dumps([asdict(r) for r in runs], indent=1))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
