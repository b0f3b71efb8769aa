"""A mirror in memory for unit tests of the core: a ``MemoryStore``, a SQLite record in a temp
directory and an ``Upstream`` over ``MemHTTP``, so a test of ``sync``, ``verify`` or ``delete``
is a few lines and opens no socket.

    bench = Bench.create(tmp_path, index)          # index: a MemIndex (tests: fakepypi.mem_index())
    report = await bench.mirror()                  # one ``frumious mirror`` run
    async with bench.opened() as (tree, upstream):  # the ports, for any other core function
        ...

The store and the record outlive each run, as a mirror directory does between commands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from frumious import sync
from frumious.config import loads
from frumious.filters import load_filters
from frumious.mirror import Mirror
from frumious.plan import Options
from frumious.protocol.jsonuse import json_use
from frumious.record.db import MirrorRecord
from frumious.runreport import SyncReport
from frumious.settings import Settings
from frumious.stats import Progress
from frumious.testing.memhttp import MemHTTP, MemIndex
from frumious.testing.memstore import MemoryStore
from frumious.upstream import Upstream


def config_text(directory: Path, master: str, mirror: Mapping[str, object], sections: str = "") -> str:
    """A bandersnatch config: ``[mirror]`` with ``mirror``'s extra keys, then ``sections`` verbatim."""
    lines = [f"directory = {directory}", f"master = {master}", "workers = 2"]
    lines += [f"{key} = {value}" for key, value in mirror.items()]
    return "[mirror]\n" + "\n".join(lines) + "\n" + sections


@dataclass
class Bench:
    """One mirror (store and record) and the index it mirrors; ``clients`` logs every run's requests."""

    index: MemIndex
    settings: Settings
    record_path: Path
    store: MemoryStore = field(default_factory=MemoryStore)
    clients: list[MemHTTP] = field(default_factory=list)

    @classmethod
    def create(cls, tmp_path: Path, index: MemIndex, sections: str = "", **mirror: object) -> Bench:
        """``mirror``: extra ``[mirror]`` keys with ``_`` for ``-`` (``digest_name="md5"``)."""
        keys = {key.replace("_", "-"): value for key, value in mirror.items()}
        text = config_text(tmp_path / "mirror", index.base, keys, sections)
        return cls(index, loads(text), tmp_path / "record" / "frumious.sqlite")

    @property
    def requests(self) -> list[str]:
        """What the last run fetched."""
        return self.clients[-1].requests if self.clients else []

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[tuple[Mirror, Upstream]]:
        """The mirror and a fresh upstream client, for one command; the record is closed after it."""
        record = MirrorRecord(str(self.record_path))
        client = MemHTTP(self.index)
        self.clients.append(client)
        try:
            use, needs = json_use(self.settings.mirror, load_filters(self.settings).json_only())
            async with Upstream(
                self.settings.mirror.master,
                client,
                json_use=use,
                needs_json=needs,
                index_url=self.settings.mirror.index_url,
            ) as upstream:
                yield Mirror(self.store, record, self.settings.mirror), upstream
        finally:
            record.close()

    async def mirror(self, options: Options | None = None) -> SyncReport:
        """One ``frumious mirror`` run with the configured filters."""
        async with self.opened() as (tree, upstream):
            return await sync.mirror(upstream, tree, load_filters(self.settings), Progress(), options or Options())

    def stored(self, prefix: str = "") -> set[str]:
        """The keys in the store under ``prefix``."""
        return {key for key in self.store.volume.objects if key.startswith(prefix)}

    def read(self, key: str) -> bytes:
        return self.store.volume.objects[key].data
