"""Requests/s and p99 latency of ``frumious serve`` against nginx on the same tree.

Run by hand (needs ``wrk`` and ``/usr/sbin/nginx``: ``apt-get install -y wrk nginx-light``)::

    .venv/bin/python benchmarks/serve_bench.py [--seconds 10] [--connections 32] [--write benchmarks/SERVE.md]

It builds a mirror tree with one project of 120 files (its JSON and HTML pages rendered by
frumious) and a 1 MB wheel, then for each server (frumious with 1 and 2 worker processes,
nginx with the documented config and 1 and 2 workers) runs ``wrk`` on loopback against the
JSON page (pip's Accept header), the HTML page (``Accept: text/html``) and the file. Access
logs are off on both servers. One run, same machine, client and servers sharing the CPUs.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from frumious.models import DistFile, Project
from frumious.protocol import render

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from integration.nginx import free_port, nginx_missing, run_nginx

PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
FILE = "packages/ab/cd/ef0123456789/bench-1.0-py3-none-any.whl"
CASES = (
    ("project page, JSON", "/simple/bench/", PIP_ACCEPT),
    ("project page, HTML", "/simple/bench/", "text/html"),
    ("1 MB file", f"/{FILE}", "*/*"),
)
SERVE = """
import logging, sys
from frumious import config
from frumious.cli.compose import run_serve
logging.basicConfig(level=logging.WARNING)
sys.exit(run_serve(config.load(sys.argv[1]), "127.0.0.1", int(sys.argv[2]), "/", int(sys.argv[3])))
"""


def build_tree(root: Path) -> tuple[int, int]:
    files = []
    for i in range(120):
        version = f"1.{i}"
        name = f"bench-{version}-py3-none-any.whl"
        url = f"https://files.example/packages/{i:02x}/cd/{'e' * 60}/{name}"
        digests = {"sha256": f"{i:064x}"}
        files.append(DistFile(name, url, 100_000 + i, digests, version, "2024-01-02T03:04:05.123456Z", ">=3.8"))
    project = Project("bench", 4242, {f.version: (f,) for f in files})
    html = render.project_html(
        project, raw_name="bench", digest_name="sha256", root_uri="", core_metadata=True, has_metadata=lambda f: True
    )
    data = render.project_json(
        project, digest_name="sha256", root_uri="", core_metadata=True, has_metadata=lambda f: True
    )
    page = root / "web" / "simple" / "bench"
    page.mkdir(parents=True)
    (page / "index.html").write_bytes(html)
    (page / "index.v1_html").write_bytes(html)
    (page / "index.v1_json").write_bytes(data)
    wheel = root / "web" / FILE
    wheel.parent.mkdir(parents=True)
    wheel.write_bytes(os.urandom(1_000_000))
    (root / "status").write_text("4242")
    return len(data), len(html)


@contextmanager
def frumious(root: Path, workers: int) -> Iterator[str]:
    conf = root / "bandersnatch.conf"
    conf.write_text(f"[mirror]\ndirectory = {root}\nmaster = https://pypi.org\n")
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVE, str(conf), str(port), str(workers)])
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("frumious serve did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


@contextmanager
def nginx(root: Path, workers: int) -> Iterator[str]:
    with run_nginx(root / "web", root / f"nginx-{workers}", workers=workers, access_log=False) as server:
        yield server.url


@dataclass
class Result:
    rps: float
    p99_ms: float
    mb_s: float


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _mb(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)([KMG]?B)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}[unit]


def wrk(url: str, accept: str, seconds: int, connections: int) -> Result:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Accept: {accept}", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    mb_s = _mb(re.search(r"Transfer/sec:\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses", out):
        raise RuntimeError(f"errors from {url}:\n{out}")
    return Result(rps, p99, mb_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--write", help="also write the markdown table to this file")
    args = parser.parse_args()
    if (why := nginx_missing()) is not None or subprocess.run(["which", "wrk"], capture_output=True).returncode:
        sys.exit(why or "wrk is missing: apt-get install -y wrk")
    servers = [
        ("frumious serve", frumious, 1),
        ("frumious serve", frumious, 2),
        ("nginx", nginx, 1),
        ("nginx", nginx, 2),
    ]
    results: dict[tuple[str, int, str], Result] = {}
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        root = Path(tmp) / "mirror"
        sizes = build_tree(root)
        urls = {(name, workers): stack.enter_context(start(root, workers)) for name, start, workers in servers}
        for case, path, accept in CASES:  # the servers take turns on each case, to share the machine's drift
            for (name, workers), url in urls.items():
                wrk(url + path, accept, 1, args.connections)  # warm up
                results[name, workers, case] = result = wrk(url + path, accept, args.seconds, args.connections)
                print(f"{name} x{workers} {case}: {result.rps:,.0f} req/s p99 {result.p99_ms:.2f} ms", flush=True)
    table = report(results, args, sizes)
    print(table)
    if args.write:
        Path(args.write).write_text(table)


def report(results: dict[tuple[str, int, str], Result], args: argparse.Namespace, sizes: tuple[int, int]) -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    nginx_version = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True, text=True).stderr.strip()
    load = Path("/proc/loadavg").read_text().split()[0]
    lines = [
        "# frumious serve vs nginx",
        "",
        f"`benchmarks/serve_bench.py --seconds {args.seconds} --connections {args.connections}`; wrk, 1 thread,"
        f" {args.connections} keep-alive connections, loopback. {os.cpu_count()} CPUs ({cpu}), shared by wrk and"
        f" the server; Python {platform.python_version()}; {nginx_version}. Access logs off. One run, the servers"
        f" taking turns on each case; load average {load} at the end (the machine is shared). The project page"
        f" lists 120 files: {sizes[0]:,} bytes as JSON, {sizes[1]:,} as HTML.",
        "",
        "| case | workers | frumious req/s | frumious p99 | nginx req/s | nginx p99 | frumious / nginx |",
        "|---|---|---|---|---|---|---|",
    ]
    for case, _, _ in CASES:
        for workers in (1, 2):
            ours, theirs = results["frumious serve", workers, case], results["nginx", workers, case]
            lines.append(
                f"| {case} | {workers} | {ours.rps:,.0f} | {ours.p99_ms:.2f} ms | {theirs.rps:,.0f} |"
                f" {theirs.p99_ms:.2f} ms | {ours.rps / theirs.rps:.2f} |"
            )
    lines += [
        "",
        "How to read it: wrk and the servers share the same CPUs, and the machine runs other jobs, so a"
        " case can move by a third between runs; compare the ratio within a row. Page throughput is"
        " aiohttp's per-request cost (parse, route, respond) against nginx's C event loop; the page itself"
        " comes from memory after a `stat` per format. Files go out with sendfile in both servers, so the 1 MB case"
        " is bound by the loopback copy and wrk, not by the server. `--workers N` (SO_REUSEPORT) is the way"
        " to use more cores; nginx ran with `worker_processes` equal to the frumious worker count.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
