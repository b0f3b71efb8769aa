"""A downstream's catch-up through the upstream's change feed vs through the listing (run by hand).

    .venv/bin/python benchmarks/feed_bench.py [--projects 700000] [--changed 1000] [--repeat 3]

Builds, in a temp directory, a static upstream the way a frumious mirror with ``feed = true``
publishes it: a PEP 691 listing of ``--projects`` synthetic projects (``simple/index.html``, its
body JSON), ``feed/head.json`` and one segment naming the ``--changed`` projects; serves it with
``python -m http.server`` in a child process (a static server, as nginx would). The downstream
holds every project at the previous serial (its record filled directly), then plans its
catch-up, in this process, through ``plan.gather`` and ``plan.plan``: with the feed, and with the
feed disabled (the listing, as before). Both plans queue the same ``--changed`` projects, whose
fetches then cost the same either way, so only the planning differs and is measured: requests
and bytes asked of the upstream, wall and CPU seconds of this process (median of ``--repeat``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from frumious import feedreader
from frumious.cli.compose import make_upstream
from frumious.config import loads
from frumious.filters import load_filters
from frumious.mirror import Mirror
from frumious.plan import Options, gather, plan
from frumious.protocol import feedformat
from frumious.protocol.feedformat import Event, Head, Segment
from frumious.record.db import MirrorRecord
from frumious.stats import Progress
from frumious.testing.memstore import MemoryStore

BEFORE = 5_000_000  # the downstream's serial


def build_upstream(root: Path, projects: int, changed: int) -> None:
    names = [f"project-{i:07d}" for i in range(projects)]
    moved = {names[i * (projects // changed)]: BEFORE + 1 + n for n, i in enumerate(range(changed))}
    through = BEFORE + changed
    entries = [{"name": name, "_last-serial": moved.get(name, BEFORE - i % 1000)} for i, name in enumerate(names)]
    listing = {"meta": {"api-version": "1.1", "_last-serial": through}, "projects": entries}
    (root / "simple").mkdir(parents=True)
    (root / "simple" / "index.html").write_bytes(json.dumps(listing).encode())
    segment = Segment(BEFORE, through, changed, time.time())
    events = [Event(name, serial) for name, serial in moved.items()]
    (root / "feed" / "segments").mkdir(parents=True)
    (root / "feed" / segment.path).write_bytes(feedformat.render_segment(segment, events))
    head = Head(through, BEFORE - 10_000, (segment,), time.time())
    (root / "feed" / "head.json").write_bytes(feedformat.render_head(head))


def fill_record(path: Path, projects: int) -> MirrorRecord:
    record = MirrorRecord(str(path))
    rows = ((f"project-{i:07d}", f"project-{i:07d}", BEFORE - i % 1000, None, 1) for i in range(projects))
    with record.db:
        record.db.executemany("INSERT INTO projects VALUES (?, ?, ?, ?, ?)", rows)
    return record


async def catch_up(settings_text: str, record: MirrorRecord, use_feed: bool) -> tuple[int, int, float, float, int]:
    settings = loads(settings_text)
    mirror = Mirror(MemoryStore(), record, settings.mirror)
    filters = load_filters(settings)
    # As a clean run at BEFORE left it: the serial, and the filters' fingerprint (unchanged filters).
    await mirror.publish(BEFORE, time.time(), None, filters.fingerprint, filters.fingerprints)
    progress = Progress()
    real = feedreader.changes

    async def no_feed(*args: object, **kwargs: object) -> None:
        return None

    feedreader.changes = real if use_feed else no_feed  # type: ignore[assignment]
    try:
        async with make_upstream(settings, progress) as upstream:
            wall, cpu = time.perf_counter(), time.process_time()
            inputs = await gather(upstream, mirror, filters, time.time(), Options())
            planned = plan(inputs, filters.allows_project, settings.mirror, Options())
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        feedreader.changes = real
    assert (planned.feed_serial is not None) == use_feed, planned.notes
    return progress.requests, 0, wall, cpu, len(planned.queue)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--projects", type=int, default=700_000)
    parser.add_argument("--changed", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        build_upstream(base / "web", args.projects, args.changed)
        record = fill_record(base / "frumious.sqlite", args.projects)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(base / "web")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(1.0)
            text = (
                f"[mirror]\ndirectory = {base / 'mirror'}\nmaster = http://127.0.0.1:{port}\n"
                "allow-non-https = true\nworkers = 3\n"
            )
            sizes = {
                "feed": sum(p.stat().st_size for p in (base / "web" / "feed").rglob("*.json")),
                "listing": (base / "web" / "simple" / "index.html").stat().st_size,
            }
            print(f"{args.projects} projects, {args.changed} changed; upstream bytes: {sizes}")
            print("| catch-up via | requests | bytes | wall s | CPU s | queued |")
            print("|---|---|---|---|---|---|")
            for label, use_feed in (("feed", True), ("listing", False)):
                runs = [asyncio.run(catch_up(text, record, use_feed)) for _ in range(args.repeat)]
                requests, queued = runs[0][0], runs[0][4]
                wall = statistics.median(r[2] for r in runs)
                cpu = statistics.median(r[3] for r in runs)
                print(f"| {label} | {requests} | {sizes[label]:,} | {wall:.2f} | {cpu:.2f} | {queued} |")
        finally:
            server.terminate()
            server.wait()
            record.close()


if __name__ == "__main__":
    main()
