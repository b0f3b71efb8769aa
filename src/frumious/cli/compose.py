"""The composition root: wire settings to ports (store under the lock, record, upstream, filters), run one core.

Each job returns a report with ``ok`` and ``seconds`` for the CLI's summary.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from frumious import delete as delete_core
from frumious import sync as sync_core
from frumious import verify as verify_core
from frumious.errors import LeaseLost
from frumious.filters import FilterSet, load_filters
from frumious.http.choose import make_client
from frumious.http.client import Timeouts
from frumious.protocol import layout
from frumious.record import db, rebuild
from frumious.settings import Settings
from frumious.stats import RunStats
from frumious.storage import open_store
from frumious.storage.base import Store
from frumious.upstream import Upstream


def make_upstream(settings: Settings) -> Upstream:
    """The upstream, over the lean HTTP client or aiohttp (proxies, ``.netrc``: ``http.choose``)."""
    mirror = settings.mirror
    timeouts = Timeouts(connect=mirror.timeout, read=mirror.timeout, total=mirror.global_timeout)
    client = make_client(proxy=mirror.proxy, timeouts=timeouts, connections=max(10, mirror.workers * 3))
    return Upstream(
        mirror.master, client, max_listing_size=mirror.max_listing_size, max_project_size=mirror.max_project_size
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


async def run_mirror(settings: Settings, stats: RunStats, options: sync_core.Options) -> sync_core.SyncReport:
    filters: FilterSet = load_filters(settings)
    async with (
        locked_store(settings) as store,
        rebuild.current_record(store, settings.mirror) as record,
        make_upstream(settings) as upstream,
    ):
        return await sync_core.mirror(upstream, store, settings.mirror, filters, stats, record, options)


async def run_sync(
    settings: Settings, stats: RunStats, names: Sequence[str], skip_root: bool, allow_mass_delete: bool
) -> sync_core.SyncReport:
    filters = load_filters(settings)
    async with (
        locked_store(settings) as store,
        rebuild.current_record(store, settings.mirror) as opened,
        make_upstream(settings) as upstream,
    ):
        return await sync_core.sync_projects(
            upstream,
            store,
            settings.mirror,
            filters,
            stats,
            opened,
            names,
            skip_root=skip_root,
            allow_mass_delete=allow_mass_delete,
        )


def verify_options(settings: Settings, args: argparse.Namespace) -> verify_core.VerifyOptions:
    return verify_core.VerifyOptions(
        delete=args.delete,
        dry_run=args.dry_run,
        json_update=args.json_update,
        workers=args.workers or settings.mirror.verifiers,
        restart=args.restart,
    )


async def run_verify(
    settings: Settings, stats: RunStats, options: verify_core.VerifyOptions
) -> verify_core.VerifyReport:
    async with (
        locked_store(settings) as store,
        rebuild.current_record(store, settings.mirror) as opened,
        make_upstream(settings) as upstream,
    ):
        return await verify_core.verify(upstream, store, settings.mirror, opened, options, stats)


async def run_delete(
    settings: Settings, stats: RunStats, names: Sequence[str], *, dry_run: bool, workers: int
) -> delete_core.DeleteReport:
    async with locked_store(settings) as store, rebuild.current_record(store, settings.mirror) as opened:
        return await delete_core.delete_projects(
            store, settings.mirror, opened, names, stats, dry_run=dry_run, workers=workers
        )


async def run_reindex(settings: Settings, stats: RunStats) -> rebuild.Rebuilt:
    async with locked_store(settings) as store, db.attached(store) as opened:
        return await rebuild.rebuild(store, settings.mirror, opened, stats)
