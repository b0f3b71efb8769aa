"""Wire settings to ports: open the store and upstream, hold the lock, run a job."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from frumious import layout, reindex, sync
from frumious.filters import FilterSet, load_filters
from frumious.pipeline import RunStats
from frumious.settings import Settings
from frumious.storage import open_store
from frumious.storage.base import Store
from frumious.upstream import Upstream


def make_upstream(settings: Settings) -> Upstream:
    mirror = settings.mirror
    return Upstream(
        mirror.master,
        timeout=mirror.timeout,
        global_timeout=mirror.global_timeout,
        proxy=mirror.proxy,
        connections=max(10, mirror.workers * 3),
        max_listing_size=mirror.max_listing_size,
        max_project_size=mirror.max_project_size,
    )


@asynccontextmanager
async def locked_store(settings: Settings) -> AsyncIterator[Store]:
    """The store, with the mirror lock held for the whole block."""
    store = open_store(settings)
    try:
        lock = await store.lock(layout.LOCK)
        try:
            yield store
        finally:
            await lock.release()
    finally:
        await store.close()


async def run_mirror(settings: Settings, stats: RunStats, options: sync.Options) -> sync.SyncReport:
    filters: FilterSet = load_filters(settings)
    async with (
        locked_store(settings) as store,
        reindex.current_index(store, settings.mirror) as index,
        make_upstream(settings) as upstream,
    ):
        return await sync.mirror(upstream, store, settings.mirror, filters, stats, index, options)
