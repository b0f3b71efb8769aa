"""CPU per small file of the download path, two source trees alternating (run by hand).

One ``upstream.py`` (``--projects`` x ``--files`` of ``--size`` bytes) serves every round. Each
measurement is a fresh child process that imports frumious from one source tree and, on uvloop as
the sync runs, puts every file of the upstream into a fresh ``FilesystemStore`` on ``/dev/shm``
through ``download.download`` (the request, the body read whole, sha256, the checks, the temp file,
its time, the rename into ``web/packages/<aa>/<bb>/<hash>/``) with ``--concurrency`` files in
flight over the run's client (``http.choose.make_client``, wrapped by ``Upstream``). It prints the
CPU (user + sys) of that loop alone, per file: the per-file path without the project around it
(page, record, task per project). Under ``valgrind --tool=callgrind`` the same child gives
instructions per file (``--child run`` with ``--urls``, see ``main``).

    python benchmarks/perfile_bench.py --rounds 6 /tmp/base/src src
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import KB, Scenario, UpstreamProcess
from upstream import Upstream as Model


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def put_all(files: list[list[object]], master: str, directory: str, concurrency: int) -> float:
    from frumious import download
    from frumious.http.choose import make_client
    from frumious.http.client import Timeouts
    from frumious.models import StoredFile
    from frumious.storage.filesystem import FilesystemStore
    from frumious.upstream import Upstream

    client = make_client(proxy="", timeouts=Timeouts(5, 30, 60), connections=concurrency)
    store = FilesystemStore(directory)
    wanted = [
        StoredFile(key, "p", "1", size, "sha256", sha, float(uploaded), False, (url,), {"sha256": sha})  # type: ignore[arg-type]
        for key, url, size, sha, uploaded in files
    ]
    async with Upstream(master, client) as upstream:
        queue = wanted[:concurrency]  # the connections made, outside the measurement

        async def worker() -> None:
            while queue:
                await download.download(upstream, store, queue.pop(), "sha256", None)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        queue[:] = list(reversed(wanted[concurrency:]))
        start = cpu()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return (cpu() - start) / (len(wanted) - concurrency)


def child(args: argparse.Namespace) -> int:
    import uvloop

    spec = json.loads(Path(args.urls).read_text())
    directory = tempfile.mkdtemp(prefix="perfile-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            spent = runner.run(put_all(spec["files"], spec["master"], directory, args.concurrency))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps({"us_per_file": spent * 1e6}))
    return 0


def measure(source: str, urls_file: Path, concurrency: int) -> float:
    subprocess.run([sys.executable, "-m", "compileall", "-q", f"{source}/frumious"], check=False, capture_output=True)
    env = {**os.environ, "PYTHONPATH": source}
    argv = [sys.executable, __file__, "--child", "run", "--urls", str(urls_file), "--concurrency", str(concurrency)]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.splitlines()[-1])["us_per_file"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("sources", nargs="*", help="frumious source trees (directories holding frumious/)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--projects", type=int, default=1000)
    p.add_argument("--files", type=int, default=5)
    p.add_argument("--size", type=int, default=20 * KB)
    p.add_argument("--concurrency", type=int, default=6, help="files in flight (the sync's files gate: 2 x workers)")
    p.add_argument("--keep", help="write the child's input here and keep the upstream up (for callgrind by hand)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--urls", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    work = Path(tempfile.mkdtemp(prefix="perfile-bench-"))
    upstream = UpstreamProcess(Scenario("perfile", "full", args.projects, args.files, args.size), work / "upstream.log")
    try:
        model = Model(args.projects, args.files, args.size)
        files = [
            (f"web/packages/{s.sha256[:2]}/{s.sha256[2:4]}/{s.sha256[4:]}/{s.filename}", upstream.url + s.url_path,
             s.size, s.sha256, s.uploaded)
            for s in model.files.values()
        ]  # fmt: skip
        urls_file = Path(args.keep) if args.keep else work / "files.json"
        urls_file.write_text(json.dumps({"master": upstream.url, "files": files}))
        if args.keep:
            print(f"upstream at {upstream.url}; child input in {urls_file}; Ctrl-C to stop", flush=True)
            try:
                while True:
                    input()
            except (EOFError, KeyboardInterrupt):
                return 0
        sources = [str(Path(s).resolve()) for s in args.sources]
        results: dict[str, list[float]] = {s: [] for s in sources}
        for i in range(args.rounds):
            for source in sources if i % 2 == 0 else sources[::-1]:
                results[source].append(measure(source, urls_file, args.concurrency))
            print(json.dumps({"round": i, **{k: round(v[-1], 1) for k, v in results.items()}}), flush=True)
        for name, values in results.items():
            print(f"{name}: median {statistics.median(values):.1f} us a file ({min(values):.1f}-{max(values):.1f})")
    finally:
        upstream.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
