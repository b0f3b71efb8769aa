"""CPU per GET of the lean HTTP client, two source trees alternating (run by hand).

One ``upstream.py`` (``--projects`` x ``--files`` of ``--size`` bytes) serves every round. Each
measurement is a fresh child process that imports ``frumious.http.client`` from one source tree,
then, on uvloop as the sync runs, GETs every file URL once with ``--concurrency`` requests in
flight (``Client.get`` and ``Response.read``, the small-file download's calls) and prints the CPU
(user + sys, ``getrusage``) of that loop alone, imports excluded. ``--blocking`` adds a round of a
blocking socket loop sending a prebuilt request per file on one connection: the floor of
a Python HTTP exchange on this upstream. On loopback the sender's system call carries the TCP
work of both ends, so part of each figure is the kernel's.

    python benchmarks/http_bench.py --rounds 5 /tmp/base/src src
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import KB, Scenario, UpstreamProcess
from upstream import Upstream


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def lean(urls: list[str], concurrency: int) -> float:
    from frumious.http.client import Client, Timeouts

    client = Client(user_agent="bench/1", timeouts=Timeouts(5, 30, 60), limit=concurrency)
    queue = [urls[0]] * concurrency

    async def worker() -> None:
        while queue:
            async with client.get(queue.pop()) as response:
                await response.read(None)

    await asyncio.gather(*(worker() for _ in range(concurrency)))  # the connections made, outside the measurement
    queue[:] = list(reversed(urls))
    start = cpu()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    spent = cpu() - start
    await client.close()
    return spent


def blocking(urls: list[str]) -> float:
    host, port = urls[0].split("/")[2].split(":")
    sock = socket.create_connection((host, int(port)))
    buffer = bytearray(1 << 20)
    start = cpu()
    for url in urls:
        target = "/" + url.split("/", 3)[3]
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode())
        got = 0
        while True:
            got += sock.recv_into(memoryview(buffer)[got:])
            head_end = buffer.find(b"\r\n\r\n", 0, got)
            if head_end >= 0:
                head = bytes(buffer[:head_end]).lower()
                length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                if got >= head_end + 4 + length:
                    break
    spent = cpu() - start
    sock.close()
    return spent


def child(args: argparse.Namespace) -> int:
    urls = json.loads(Path(args.urls).read_text())
    if args.child == "blocking":
        spent = blocking(urls)
    else:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            spent = runner.run(lean(urls, args.concurrency))
    print(json.dumps({"us_per_request": spent / len(urls) * 1e6}))
    return 0


def measure(source: str, urls_file: Path, concurrency: int, mode: str) -> float:
    env = {**os.environ, "PYTHONPATH": source}
    argv = [sys.executable, __file__, "--child", mode, "--urls", str(urls_file), "--concurrency", str(concurrency)]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.splitlines()[-1])["us_per_request"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="*", help="frumious source trees (directories holding frumious/)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--projects", type=int, default=1000)
    p.add_argument("--files", type=int, default=5)
    p.add_argument("--size", type=int, default=20 * KB)
    p.add_argument("--concurrency", type=int, default=3, help="requests in flight (the sync's workers)")
    p.add_argument("--blocking", action="store_true", help="also measure a blocking socket loop")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--urls", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    work = Path(tempfile.mkdtemp(prefix="http-bench-"))
    upstream = UpstreamProcess(Scenario("http", "full", args.projects, args.files, args.size), work / "upstream.log")
    try:
        model = Upstream(args.projects, args.files, args.size)
        urls = [upstream.url + spec.url_path for spec in model.files.values()]
        urls_file = work / "urls.json"
        urls_file.write_text(json.dumps(urls))
        sources = [str(Path(s).resolve()) for s in args.sources]
        results: dict[str, list[float]] = {s: [] for s in sources}
        if args.blocking:
            results["blocking"] = []
        for i in range(args.rounds):
            order = sources if i % 2 == 0 else sources[::-1]
            for source in order:
                results[source].append(measure(source, urls_file, args.concurrency, "lean"))
            if args.blocking:
                results["blocking"].append(measure(sources[0] if sources else "", urls_file, 1, "blocking"))
            print(json.dumps({"round": i, **{k: round(v[-1], 1) for k, v in results.items()}}), flush=True)
        for name, values in results.items():
            print(f"{name}: median {statistics.median(values):.1f} us a request ({min(values):.1f}-{max(values):.1f})")
    finally:
        upstream.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
