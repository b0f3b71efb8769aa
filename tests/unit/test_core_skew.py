"""Skew (issue 16): one project's many files are fetched by the run's whole download pool, not one by one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fakepypi import FakeIndex, make_sdist, mem_index
from frumious.testing.harness import Bench
from frumious.testing.memstore import MemoryStore, MemoryWriter

pytestmark = pytest.mark.usefixtures("no_sockets")


class SlowWriter(MemoryWriter):
    """A commit that yields to the loop a few times, as a real store's would; counts commits in flight."""

    def __init__(self, store: CountingStore, key: str) -> None:
        super().__init__(store.volume, key)
        self.store = store

    async def commit(self, **kwargs: object) -> None:
        counted = self.key.startswith("web/packages/")
        if counted:
            self.store.now += 1
            self.store.most = max(self.store.most, self.store.now)
        try:
            for _ in range(5):
                await asyncio.sleep(0)
            await super().commit(**kwargs)  # type: ignore[arg-type]
        finally:
            if counted:
                self.store.now -= 1


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.now = self.most = 0

    async def writer(self, key: str) -> MemoryWriter:
        return SlowWriter(self, key)


async def test_a_large_projects_files_keep_every_download_slot_busy(tmp_path: Path) -> None:
    fake = FakeIndex()
    for n in range(24):  # one project, nightly-build style: many releases, one file each
        fake.add("nightly", f"1.0.dev{n}", make_sdist("nightly", f"1.0.dev{n}"))
    bench = Bench.create(tmp_path, mem_index(fake))  # workers = 2
    bench.store = CountingStore()

    report = await bench.mirror()

    assert report.ok
    assert sum(1 for key in bench.store.volume.objects if key.startswith("web/packages/")) == 24
    # workers = 2 gives a download pool of 4: the one project's files filled all of it at once.
    assert bench.store.most == 4
