"""The todo checkpoint: ``todo`` rewritten at most every few seconds while a run goes on.

bandersnatch rewrites ``todo`` after every project (O(n^2) over a full sync);
``TodoCheckpoint`` rewrites it at most every ``interval`` seconds, so an interrupted run
replays at most those seconds of work. It keeps no copy of the queue: the workers take the
queue in order, so what is still pending is every entry from a low-water mark on, less the few
finished above it (at most one per worker), plus the failed ones below it (kept for the next
run). The file is written a chunk at a time. ``mirror.Mirror`` reads and writes every other
state file; their text is ``protocol.statefiles``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from frumious.compact import CHUNK, Entries
from frumious.protocol import layout
from frumious.protocol.statefiles import Todo
from frumious.storage.base import Store

__all__ = ["INTERVAL", "TodoCheckpoint"]

# What a killed run replays at most (plus the pages asked ahead). A rewrite at 700,000 entries
# costs 0.05-0.1 s of CPU, 1-2 % of a full sync at this interval (0.5 % more than at 10 s).
INTERVAL = 5.0


class TodoCheckpoint:
    """Tracks finished projects by their place in the queue and rewrites ``todo`` at most every ``interval`` s."""

    def __init__(self, store: Store, todo: Todo, interval: float = INTERVAL) -> None:
        self.store, self.target = store, todo.target
        self.entries = Entries.of(todo.entries)
        self.low = 0  # every entry below is settled: finished, or failed and kept in ``failed``
        self.above: set[int] = set()  # settled entries at or above ``low``
        self.failed: set[int] = set()  # failed entries: still pending
        self.interval = interval
        self.last_write = time.monotonic()
        self.dirty = False

    async def start(self) -> None:
        await self._write()

    async def done(self, index: int) -> None:
        """The entry at ``index`` finished: it leaves the todo."""
        await self._settle(index, finished=True)

    async def kept(self, index: int) -> None:
        """The entry at ``index`` failed: it stays in the todo."""
        await self._settle(index, finished=False)

    async def _settle(self, index: int, *, finished: bool) -> None:
        if index < self.low or index in self.above:
            return
        self.above.add(index)
        if finished:
            self.dirty = True
        else:
            self.failed.add(index)
        while self.low in self.above:
            self.above.discard(self.low)
            self.low += 1
        if self.dirty and time.monotonic() - self.last_write >= self.interval:
            await self._write()

    async def flush(self) -> None:
        if self.dirty:
            await self._write()

    def pending(self, index: int) -> bool:
        return index in self.failed or (index >= self.low and index not in self.above)

    def _lines(self, base: int, names: list[str], serials: Sequence[int]) -> str:
        """The pending entries of the chunk at ``base``, a line each."""
        end = base + len(names)
        if base >= self.low and not any(base <= i < end for i in (*self.above, *self.failed)):
            # Past the low-water mark and untouched: every entry is pending (most of a long todo).
            return "".join([f"\n{n} {s}" for n, s in zip(names, serials, strict=True)])
        return "".join(
            [f"\n{n} {s}" for i, n, s in zip(range(base, end), names, serials, strict=True) if self.pending(i)]
        )

    async def _write(self) -> None:
        self.last_write, self.dirty = time.monotonic(), False
        writer = await self.store.writer(layout.TODO)
        try:
            await writer.write(str(self.target).encode())
            for at, (names, serials) in enumerate(self.entries.chunks()):
                base = at * CHUNK
                if base + len(names) <= self.low and not any(base <= i < base + len(names) for i in self.failed):
                    continue  # a chunk wholly done: skipped without a look at its entries
                await writer.write(self._lines(base, names, serials).encode("utf-8"))
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
