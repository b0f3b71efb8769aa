"""Where a frumious run's memory goes: tracemalloc snapshots at the traced peak and at the end.

    PYTHONPATH=src .venv/bin/python benchmarks/mem_trace.py OUT -c CONF mirror [--dry-run]

Runs the ``frumious`` command line in this process with tracemalloc on (``FRAMES`` frames a trace,
6 unless the environment says otherwise), samples the traced size and ``VmRSS`` twice a second
(RSS every 5 s into OUT), takes a snapshot whenever the traced size passed the last one's by 3 %
and 1 MiB, and at the end writes OUT: the top 25 lines and top 12 tracebacks of both snapshots,
without tracemalloc's own and import machinery's frames. tracemalloc slows the run 3-10x and adds
its own memory to RSS: read the traced figures, not RSS, and measure peak RSS apart (``pypi_bench.py
full``). Used for "Issue 12 (session 5): flatmem" with a ``pypi_upstream.py`` upstream. Not a test.
"""

from __future__ import annotations

import linecache
import os
import sys
import threading
import time
import tracemalloc

FRAMES = int(os.environ.get("FRAMES", "6"))
_SKIP = [
    tracemalloc.Filter(False, tracemalloc.__file__),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
    tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
]


def rss_mib() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) // 1024
    return 0


class Sampler:
    """The snapshot at the largest traced size seen, and RSS every 5 s (a daemon thread)."""

    def __init__(self) -> None:
        self.best = 0
        self.snap: tuple[float, tracemalloc.Snapshot] | None = None
        self.rows: list[tuple[int, int, int]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        started, last = time.monotonic(), -5.0
        while not self.stop.wait(0.5):
            now = time.monotonic() - started
            current = tracemalloc.get_traced_memory()[0]
            if now - last >= 5:
                self.rows.append((round(now), rss_mib(), current >> 20))
                last = now
            if current > self.best * 1.03 + (1 << 20):
                self.best, self.snap = current, (now, tracemalloc.take_snapshot())


def write_top(out: object, label: str, snap: tracemalloc.Snapshot) -> None:
    write = out.write  # type: ignore[attr-defined]
    snap = snap.filter_traces(_SKIP)
    total = sum(s.size for s in snap.statistics("filename"))
    write(f"\n===== {label}: {total / 2**20:.1f} MiB traced\n")
    for stat in snap.statistics("lineno")[:25]:
        frame = stat.traceback[0]
        where = frame.filename.split("site-packages/")[-1].split("/src/")[-1]
        code = linecache.getline(frame.filename, frame.lineno).strip()[:90]
        write(f"{stat.size / 1024:9.0f} KiB {stat.count:8d}  {where}:{frame.lineno}  {code}\n")
    write("--- by traceback\n")
    for stat in snap.statistics("traceback")[:12]:
        write(f"{stat.size / 1024:9.0f} KiB {stat.count:8d}\n")
        for line in stat.traceback.format()[-2 * FRAMES :]:
            write("      " + line.strip()[:140] + "\n")


def main() -> int:
    out_path, sys.argv = sys.argv[1], ["frumious", *sys.argv[2:]]
    tracemalloc.start(FRAMES)
    sampler = Sampler()
    sampler.thread.start()
    from frumious.cli import main as frumious_main

    try:
        code: object = frumious_main()
    except SystemExit as stop:
        code = stop.code
    sampler.stop.set()
    sampler.thread.join()
    end = tracemalloc.take_snapshot()
    current, peak = tracemalloc.get_traced_memory()
    with open(out_path, "w", encoding="utf-8") as out:
        out.write(
            f"exit {code}; traced now {current / 2**20:.1f} MiB, peak {peak / 2**20:.1f} MiB; RSS now {rss_mib()} MiB\n"
        )
        out.write("(s, RSS MiB, traced MiB): " + " ".join(map(str, sampler.rows)) + "\n")
        if sampler.snap is not None:
            write_top(out, f"largest traced, at {sampler.snap[0]:.0f} s", sampler.snap[1])
        write_top(out, "end", end)
    return code if isinstance(code, int) else 1


if __name__ == "__main__":
    sys.exit(main())
