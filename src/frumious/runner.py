"""Wire settings to ports: open the store and upstream, hold the lock, run a job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from frumious import layout, reindex, sync
from frumious.errors import LeaseLost
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
        async with holding_lock(store):
            yield store
    finally:
        await store.close()


@asynccontextmanager
async def holding_lock(store: Store) -> AsyncIterator[None]:
    """Hold the mirror lock for the block; losing it ends the block at once with LeaseLost.

    The lock cancels this task when its lease is lost, so a run waiting on the network stops
    too; the cancellation (or whatever error it caused on the way out) becomes the LeaseLost.
    """
    lock = await store.lock(layout.LOCK)
    task = asyncio.current_task()
    if task is not None:
        lock.stop_on_loss(task)
    try:
        try:
            yield
        finally:
            await lock.release()
    except BaseException as exc:
        if isinstance(exc, LeaseLost):
            raise
        try:
            lock.check()
        except LeaseLost as lost:
            if task is not None and task.cancelling():
                task.uncancel()  # the cancellation was ours, and is answered by the LeaseLost
            raise lost from exc
        raise


async def run_mirror(settings: Settings, stats: RunStats, options: sync.Options) -> sync.SyncReport:
    filters: FilterSet = load_filters(settings)
    async with (
        locked_store(settings) as store,
        reindex.current_index(store, settings.mirror) as index,
        make_upstream(settings) as upstream,
    ):
        return await sync.mirror(upstream, store, settings.mirror, filters, stats, index, options)
