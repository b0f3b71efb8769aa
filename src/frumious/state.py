"""The todo checkpoint: ``todo`` rewritten at most every few seconds while a run goes on.

bandersnatch rewrites ``todo`` after every project (O(n^2) over a full sync);
``TodoCheckpoint`` rewrites it at most every ``interval`` seconds, so an interrupted run
replays at most those seconds of work. ``mirror.Mirror`` reads and writes every other
state file; their text is ``protocol.statefiles``.
"""

from __future__ import annotations

import time

from frumious.protocol import layout
from frumious.protocol.statefiles import Todo
from frumious.storage.base import Store

__all__ = ["TodoCheckpoint"]


class TodoCheckpoint:
    """Tracks finished projects and rewrites ``todo`` at most every ``interval`` seconds."""

    def __init__(self, store: Store, todo: Todo, interval: float = 10.0) -> None:
        self.store, self.target = store, todo.target
        self.pending = {entry.name: entry for entry in todo.entries}
        self.interval = interval
        self.last_write = time.monotonic()
        self.dirty = False

    async def start(self) -> None:
        await self._write()

    async def done(self, name: str) -> None:
        if self.pending.pop(name, None) is not None:
            self.dirty = True
        if self.dirty and time.monotonic() - self.last_write >= self.interval:
            await self._write()

    async def flush(self) -> None:
        if self.dirty:
            await self._write()

    async def _write(self) -> None:
        self.last_write, self.dirty = time.monotonic(), False
        todo = Todo(self.target, tuple(self.pending.values()))
        await self.store.write(layout.TODO, todo.render())
