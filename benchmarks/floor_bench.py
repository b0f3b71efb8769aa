"""Where a small file's CPU goes: frumious's steps next to the least Python can do (run by hand).

One ``upstream.py`` (``--projects`` x ``--files`` of ``--size`` bytes) serves every measurement;
each measurement is a fresh child process on uvloop that fetches every file of the upstream with
``--concurrency`` in flight over kept-alive connections (made before the clock starts) and prints
its CPU (user + sys) per file. The steps, each one more than the one before:

* ``raw-get``: a minimal ``asyncio.Protocol`` per connection (the request's bytes written, the
  response read by its Content-Length, no checks): the floor of an HTTP exchange from Python;
* ``raw-all``: ``raw-get``, the body's sha256, and the file put in place by bare ``os`` calls (a new
  ``<aa>/<bb>/<hash>`` directory, a temp file written, timed, renamed): the floor of a whole file;
* ``raw-pipe`` and ``raw-all-pipe``: the same with five requests written at once on each connection
  (HTTP/1.1 pipelining, as a project's files could be asked for): fewer writes and wake-ups;
* ``get``: frumious's own client through ``Upstream.get`` and ``read()``;
* ``hash``: ``get`` and the body's sha256;
* ``store``: ``hash`` and ``FilesystemStore.write`` (temp file, time, rename into a new
  ``<aa>/<bb>/<hash>`` directory);
* ``download``: what a sync runs for a file, ``download.download`` (the checks around the above).

And without the network, ``raw-write`` (the same file put in place by bare ``os`` calls) against
``store-write`` (``FilesystemStore.write``), one body rewritten for every file. The order of the
children alternates between rounds; medians and ranges of ``--rounds``::

    python benchmarks/floor_bench.py --rounds 5
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import KB, Scenario, UpstreamProcess

NETWORK = ("raw-get", "raw-pipe", "raw-all", "raw-all-pipe", "get", "hash", "store", "download")
LOCAL = ("raw-write", "store-write")
ACCEPT = {"Accept": "application/vnd.pypi.simple.v1+json"}


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def files_of(master: str) -> list[dict[str, object]]:
    """Every file the upstream's pages list (filename, url, size, hashes)."""
    request = urllib.request.Request(f"{master}/simple/", headers=ACCEPT)
    with urllib.request.urlopen(request) as answer:
        names = [p["name"] for p in json.load(answer)["projects"]]
    found: list[dict[str, object]] = []
    for name in names:
        with urllib.request.urlopen(urllib.request.Request(f"{master}/simple/{name}/", headers=ACCEPT)) as answer:
            found += json.load(answer)["files"]
    return found


class _Minimal(asyncio.Protocol):
    """One connection: a GET written, its body read by Content-Length; nothing checked."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.body_at = -1
        self.end = -1
        self.done: asyncio.Future[bytes] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += data
        if self.end < 0:
            at = self.received.find(b"\r\n\r\n")
            if at < 0:
                return
            head = bytes(self.received[:at]).lower()
            length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            self.body_at, self.end = at + 4, at + 4 + length
        if len(self.received) >= self.end and self.done is not None and not self.done.done():
            self.done.set_result(bytes(self.received[self.body_at : self.end]))

    async def get(self, request: bytes) -> bytes:
        self.received.clear()
        self.body_at = self.end = -1
        self.done = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(request)
        return await self.done


class _Pipelined(asyncio.Protocol):
    """One connection: several GETs written at once (HTTP/1.1 pipelining), their bodies read in order."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.bodies: list[bytes] = []
        self.wanted = 0
        self.done: asyncio.Future[list[bytes]] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += data
        while len(self.bodies) < self.wanted:
            at = self.received.find(b"\r\n\r\n")
            if at < 0:
                return
            head = bytes(self.received[:at]).lower()
            end = at + 4 + int(head.split(b"content-length:")[1].split(b"\r\n")[0])
            if len(self.received) < end:
                return
            self.bodies.append(bytes(self.received[at + 4 : end]))
            del self.received[:end]
        if self.done is not None and not self.done.done():
            self.done.set_result(self.bodies)

    async def get_many(self, requests: list[bytes]) -> list[bytes]:
        self.bodies, self.wanted = [], len(requests)
        self.done = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(b"".join(requests))
        return await self.done


class _BareWrites:
    """A file put in place by bare ``os`` calls: its directories (remembered), a temp file, its time, a rename."""

    def __init__(self, base: str) -> None:
        self.base, self.temp, self.made, self.serial = base, f"{base}/.tmp", {base}, 0
        os.mkdir(self.temp)

    def put(self, key: str, body: bytes) -> None:
        path = f"{self.base}/{key}"
        leaf = path.rpartition("/")[0]
        bucket = leaf.rpartition("/")[0]
        for directory in (bucket.rpartition("/")[0], bucket):
            if directory not in self.made:
                os.makedirs(directory, exist_ok=True)
                self.made.add(directory)
        os.mkdir(leaf)
        self.serial += 1
        tmp = f"{self.temp}/{self.serial}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, body)
        os.utime(fd, (1.7e9, 1.7e9))
        os.close(fd)
        os.replace(tmp, path)


def _key(n: int) -> str:
    h = hashlib.sha256(str(n).encode()).hexdigest()
    return f"web/packages/{h[:2]}/{h[2:4]}/{h[4:]}/pkg-{n}-1.0.tar.gz"


async def _bare_gets(files: list[dict[str, object]], concurrency: int, depth: int, write: bool) -> float:
    """``raw-get``/``raw-all`` (``depth`` 1: one request at a time), or ``depth`` requests written at once."""
    loop = asyncio.get_running_loop()
    base = tempfile.mkdtemp(prefix="floor-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    writes = _BareWrites(base) if write else None
    first = urlsplit(str(files[0]["url"]))
    host, port = first.hostname or "127.0.0.1", first.port or 80
    kind: type[_Minimal | _Pipelined] = _Minimal if depth == 1 else _Pipelined
    connections = [(await loop.create_connection(kind, host, port))[1] for _ in range(concurrency)]
    tail = f" HTTP/1.1\r\nHost: {first.netloc}\r\nAccept: */*\r\n\r\n"
    requests = [(_key(n), f"GET {urlsplit(str(f['url'])).path}{tail}".encode()) for n, f in enumerate(files)]
    start = cpu()

    async def worker(conn: _Minimal | _Pipelined) -> None:
        while requests:
            batch = [requests.pop() for _ in range(min(depth, len(requests)))]
            if isinstance(conn, _Minimal):
                bodies = [await conn.get(batch[0][1])]
            else:
                bodies = await conn.get_many([request for _key, request in batch])
            if writes is not None:
                for (key, _request), body in zip(batch, bodies, strict=True):
                    hashlib.sha256(body).hexdigest()
                    writes.put(key, body)

    await asyncio.gather(*(worker(c) for c in connections))
    spent = cpu() - start
    for conn in connections:
        assert conn.transport is not None
        conn.transport.close()
    shutil.rmtree(base, ignore_errors=True)
    return spent


async def _frumious_steps(files: list[dict[str, object]], master: str, step: str, concurrency: int) -> float:
    from frumious import download
    from frumious.http.choose import make_client
    from frumious.http.client import Timeouts
    from frumious.models import StoredFile
    from frumious.protocol import layout
    from frumious.storage.filesystem import FilesystemStore
    from frumious.upstream import Upstream

    directory = tempfile.mkdtemp(prefix="floor-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    store = FilesystemStore(directory)
    wanted = []
    for f in files:
        sha = str(f["hashes"]["sha256"])  # type: ignore[index]
        key = layout.file_place(str(f["url"]), sha, str(f["filename"])).key
        size = int(f["size"])  # type: ignore[call-overload]
        wanted.append(StoredFile(key, "p", "1", size, "sha256", sha, 1.7e9, False, (str(f["url"]),), {"sha256": sha}))
    client = make_client(proxy="", timeouts=Timeouts(5, 30, 60), connections=concurrency)
    try:
        async with Upstream(master, client) as upstream:
            queue = list(wanted[:concurrency])

            async def warm() -> None:  # the connections made outside the measurement
                while queue:
                    async with upstream.get(queue.pop().urls[0]) as response:
                        await response.read()

            await asyncio.gather(*(warm() for _ in range(concurrency)))
            queue = list(wanted)

            async def worker() -> None:
                while queue:
                    one = queue.pop()
                    if step == "download":
                        await download.download(upstream, store, one, "sha256", None)
                        continue
                    async with upstream.get(one.urls[0]) as response:
                        body = await response.read()
                    if step == "get":
                        continue
                    digest = hashlib.sha256(body).hexdigest()
                    if step == "store":
                        await store.write(one.key, body, mtime=one.uploaded, digests={"sha256": digest})

            start = cpu()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return cpu() - start
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _local_writes(step: str, count: int, size: int) -> float:
    from frumious.storage.filesystem import FilesystemStore

    body = os.urandom(size)
    keys = [_key(n) for n in range(count)]
    base = tempfile.mkdtemp(prefix="floor-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    try:
        if step == "store-write":
            store = FilesystemStore(base)

            async def put_all() -> float:
                start = cpu()
                for key in keys:
                    await store.write(key, body, mtime=1.7e9, digests={"sha256": "0" * 64})
                return cpu() - start

            return asyncio.run(put_all())
        start = cpu()
        writes = _BareWrites(base)
        for key in keys:
            writes.put(key, body)
        return cpu() - start
    finally:
        shutil.rmtree(base, ignore_errors=True)


def child(args: argparse.Namespace) -> int:
    import uvloop

    if args.child in LOCAL:
        spent, count = _local_writes(args.child, args.count, args.size), args.count
    else:
        spec = json.loads(Path(args.spec).read_text())
        files, master = spec["files"], spec["master"]
        if args.child.startswith("raw-"):
            depth = 5 if args.child.endswith("-pipe") else 1
            spent = uvloop.run(_bare_gets(files, args.concurrency, depth, write=args.child.startswith("raw-all")))
        else:
            spent = uvloop.run(_frumious_steps(files, master, args.child, args.concurrency))
        count = len(files)
    print(json.dumps({"us_per_file": spent / count * 1e6}))
    return 0


def measure(step: str, spec: Path, args: argparse.Namespace) -> float:
    argv = [sys.executable, __file__, "--child", step, "--spec", str(spec), "--concurrency", str(args.concurrency)]
    argv += ["--count", str(args.projects * args.files), "--size", str(args.size)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.splitlines()[-1])["us_per_file"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--projects", type=int, default=400)
    p.add_argument("--files", type=int, default=5)
    p.add_argument("--size", type=int, default=20 * KB)
    p.add_argument("--concurrency", type=int, default=6, help="files in flight (the sync's files gate: 2 x workers)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--spec", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=2000, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    src = Path(__file__).resolve().parent.parent / "src"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(src)], check=False, capture_output=True)
    work = Path(tempfile.mkdtemp(prefix="floor-bench-"))
    upstream = UpstreamProcess(Scenario("floor", "full", args.projects, args.files, args.size), work / "upstream.log")
    try:
        spec = work / "files.json"
        spec.write_text(json.dumps({"master": upstream.url, "files": files_of(upstream.url)}))
        steps = NETWORK + LOCAL
        results: dict[str, list[float]] = {s: [] for s in steps}
        for n in range(args.rounds):
            for step in steps if n % 2 == 0 else steps[::-1]:
                results[step].append(measure(step, spec, args))
            print(json.dumps({"round": n, **{k: round(v[-1], 1) for k, v in results.items()}}), flush=True)
        print("| step | CPU a file, median (range) |\n|---|---|")
        for step, values in results.items():
            print(f"| {step} | {statistics.median(values):.1f} us ({min(values):.1f}-{max(values):.1f}) |")
    finally:
        upstream.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
