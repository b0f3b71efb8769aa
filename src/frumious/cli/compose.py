"""The composition root: ``open_mirror`` wires settings to ports (store under the lock, record,
upstream, filters) for every command; each ``run_*`` runs one core with them.

Each job returns a report with ``ok`` and ``seconds`` for the CLI's summary.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Literal

import msgspec

from frumious import config, otherruns
from frumious import sync as sync_core
from frumious.errors import ConfigError, FrumiousError, LeaseLost, LockHeld
from frumious.filters import FilterSet, load_filters
from frumious.filters.keydocs import FILTER_KEYS
from frumious.http.budget import Budget
from frumious.http.choose import make_client
from frumious.http.client import Timeouts
from frumious.mirror import Mirror
from frumious.models import replace
from frumious.plan import Options
from frumious.protocol import layout
from frumious.protocol.jsonuse import json_use
from frumious.record import attach, db, rebuild
from frumious.record.db import MirrorRecord
from frumious.runreport import DryRun, SyncReport
from frumious.settings import BUILTIN_BACKENDS, Settings
from frumious.shard import Shard
from frumious.stats import Progress
from frumious.storage import backend_names, open_store
from frumious.storage.base import Store
from frumious.storage.scoped import scoped
from frumious.upstream import Upstream

if TYPE_CHECKING:  # the cores of other commands load when they run, not at every start-up (sharding,
    # verify, delete, publish: 20-40 ms of a mirror run's CPU, measured with -X importtime)
    from frumious import delete as delete_core
    from frumious import shardshare
    from frumious import verify as verify_core
    from frumious.publish import PublishReport
    from frumious.shardorphans import OrphanReport

log = logging.getLogger(__name__)

# How a command opens the record: brought up to date (most), as it is (``reindex`` rebuilds it
# anyway), or a private copy that is thrown away (a dry run, which must not write the mirror).
RecordMode = Literal["current", "as-is", "copy"]


class Opened(msgspec.Struct, frozen=True):
    """What a command works with: the mirror, the upstream and the filters."""

    mirror: Mirror
    upstream: Upstream
    filters: FilterSet


@asynccontextmanager
async def open_mirror(
    settings: Settings,
    *,
    filters: bool = False,
    record: RecordMode = "current",
    lock: bool = True,
    counters: Progress | None = None,
) -> AsyncIterator[Opened]:
    """The one place the ports are built; the mirror lock (unless ``lock`` is False) is held for the block.

    Filters load (``filters``) before anything is opened, so a filter config mistake touches nothing.
    The upstream counts its requests and retries in ``counters`` (the run's live counters); with a
    metrics file to write, the mirror's size goes there too as the block ends, however it ends.
    """
    chosen = _filters(settings) if filters else FilterSet()
    async with AsyncExitStack() as stack:
        if lock:
            store = await stack.enter_async_context(locked_store(settings))
        else:
            store = open_store(settings)
            stack.push_async_callback(store.close)
        opened = await stack.enter_async_context(_record(store, settings, record))
        if counters is not None and settings.mirror.metrics_file:
            stack.callback(_measure, opened, counters)
        upstream = await stack.enter_async_context(make_upstream(settings, counters, chosen))
        yield Opened(Mirror(store, opened, settings.mirror), upstream, chosen)


def _measure(record: MirrorRecord, counters: Progress) -> None:
    """The mirror's size for the metrics file; a record that cannot answer leaves it unknown."""
    from frumious.record import size

    try:
        counters.mirror_size = size.mirror_size(record)
    except sqlite3.Error as exc:
        log.warning("Could not read the mirror's size from its record: %s", exc)


# The built-in filters' sections: never a backend's, so they need no scan of the installed backends.
_FILTER_SECTIONS = frozenset(key.section for key in FILTER_KEYS)

# The filters the CLI checked before the run (``check_filters``), reused rather than loaded twice.
_checked: tuple[Settings, FilterSet] | None = None


def check_filters(settings: Settings) -> FilterSet:
    """Load the filters, with every section checked against what filters, config and storage know."""
    global _checked
    _checked = (settings, load_filters(settings, known_sections=_known_sections(settings)))
    return _checked[1]


def _known_sections(settings: Settings) -> set[str]:
    """The sections config and storage read; installed backends are listed only when a section needs them:
    importlib.metadata and its scan of every installed distribution are 30-50 ms of a run's CPU."""
    known = {*config.CONFIG_SECTIONS, *BUILTIN_BACKENDS}
    if settings.sections.keys() - {*known, *_FILTER_SECTIONS, "DEFAULT"}:
        known.update(backend_names())
    return known


def _filters(settings: Settings) -> FilterSet:
    if _checked is not None and _checked[0] is settings:
        return _checked[1]
    return load_filters(settings)


def _record(store: Store, settings: Settings, mode: RecordMode) -> AbstractAsyncContextManager[MirrorRecord]:
    if mode == "as-is":
        return attach.attached(store)
    if mode == "copy":
        from frumious.record import copy

        return copy.private_copy(store, settings.mirror)
    return rebuild.current_record(store, settings.mirror)


def make_upstream(settings: Settings, counters: Progress | None = None, filters: FilterSet | None = None) -> Upstream:
    """The upstream, over the lean HTTP client or aiohttp (proxies, ``.netrc``: ``http.choose``).

    Projects are read from their pages unless Warehouse's JSON is wanted (``json = true``) or needed
    (filter keys reading fields only it carries, or ``digest_name = md5``: PyPI's pages give sha256 only).
    """
    mirror = settings.mirror
    use, needs = json_use(mirror, filters.json_only() if filters is not None else [])
    timeouts = Timeouts(connect=mirror.timeout, read=mirror.timeout, total=mirror.global_timeout)
    # A shard takes its share of the mirror-wide limits (shard-share, else 1/N), so N shards ask no more of
    # the upstream than one process would.
    share = mirror.shard_share if mirror.shard is not None and mirror.shard_share else 1.0
    budget = Budget.of(mirror.max_requests_per_second, mirror.max_bytes_per_second, share)
    client = make_client(
        proxy=mirror.proxy,
        timeouts=timeouts,
        connections=max(10, mirror.workers * 3),
        budget=budget,
        contact=mirror.contact,
    )
    return Upstream(
        mirror.master,
        client,
        max_listing_size=mirror.max_listing_size,
        max_project_size=mirror.max_project_size,
        counters=counters,
        json_use=use,
        needs_json=needs,
        index_url=mirror.index_url,
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


async def run_mirror(settings: Settings, progress: Progress, options: Options) -> SyncReport:
    async with open_mirror(settings, filters=True, counters=progress) as opened:
        report = await sync_core.mirror(opened.upstream, opened.mirror, opened.filters, progress, options)
    if settings.mirror.shard is not None and report.finished_cleanly:
        await try_publish(settings)
    return report


def check_shard_filters(settings: Settings) -> None:
    """A shard sees its own projects only, so a dependency closure (which crosses shards) is refused."""
    if settings.mirror.shard is not None and _filters(settings).closure is not None:
        raise ConfigError(
            ["[allowlist] closure = true cannot be used with shards yet; sync that mirror in one process"]
        )


def _unsharded(settings: Settings) -> Settings:
    return replace(settings, mirror=replace(settings.mirror, shard=None))


async def try_publish(settings: Settings) -> PublishReport | None:
    """After a shard's clean run: publish if every shard has finished since the last publish (it was the last)."""
    from frumious import publish as publish_core

    main = _unsharded(settings)
    store = open_store(main)
    try:
        if not await publish_core.ready(store, main.mirror.shards):
            log.info("Shard %s is done; the publish step waits for the other shards", settings.mirror.shard)
            return None
        async with holding_lock(store):
            return await publish_core.publish(store, main.mirror)
    except LockHeld:
        log.info("Another process is publishing the mirror; leaving it to that one")
        return None
    except (FrumiousError, OSError) as exc:
        # The shard's own run is done and kept: the publish step (``frumious publish``) says what is wrong.
        log.warning("Could not publish after this shard's run (%s); leaving it to frumious publish", exc)
        return None
    finally:
        await store.close()


async def run_publish(settings: Settings, progress: Progress, count: int, wait: float) -> PublishReport:
    """``frumious publish``: wait (``--wait``) for a complete round of the shards, then publish under the lock."""
    from frumious import publish as publish_core

    main = replace(settings, mirror=replace(settings.mirror, shard=None, shards=count))
    store = open_store(main)
    try:
        waited = await publish_core.wait_ready(store, count, wait) if wait > 0 else 0.0
        async with holding_lock(store):
            report = await publish_core.publish(store, main.mirror)
        report.waited = waited
        return report
    finally:
        await store.close()


async def run_orphans(
    settings: Settings, progress: Progress, count: int, *, delete: bool, workers: int
) -> OrphanReport:
    """``publish --orphans``: the files no shard owns; removing them holds the main lock and every shard's."""
    from frumious import shardorphans

    main = replace(settings, mirror=replace(settings.mirror, shard=None, shards=count))
    store = open_store(main)
    try:
        async with AsyncExitStack() as stack:
            if delete:
                await stack.enter_async_context(holding_lock(store))
                await _hold_shard_locks(stack, store, count)
            return await shardorphans.orphans(
                store, main.mirror, count, delete=delete, workers=workers, progress=progress
            )
    finally:
        await store.close()


async def _hold_shard_locks(stack: AsyncExitStack, store: Store, count: int) -> None:
    """Every shard's lock, held so no shard records files while orphans are removed."""
    for shard in Shard.all(count):
        try:
            await stack.enter_async_context(holding_lock(scoped(store, shard)))
        except LockHeld as exc:
            raise LockHeld(f"shard {shard} is running ({exc}); remove orphans while no shard runs") from None


async def run_dry_mirror(settings: Settings, progress: Progress, options: Options) -> DryRun:
    """``mirror --dry-run``: no lock and a private copy of the record, so nothing in the mirror is written."""
    async with open_mirror(settings, filters=True, record="copy", lock=False, counters=progress) as opened:
        report = await otherruns.dry_run(opened.upstream, opened.mirror, opened.filters, progress, options)
        shard = settings.mirror.shard
        if shard is not None:  # its share: the whole listing counted (one more listing request), its record's size
            from frumious import shardshare

            listed = await shardshare.listed(opened.upstream, settings.mirror, opened.filters, shard.count)
            held = shardshare.held(opened.mirror.record)
            report.share = shardshare.Share(shard, listed[shard.index], sum(listed), held)
        return report


async def run_shares(settings: Settings, progress: Progress, count: int) -> shardshare.ShareReport:
    """``mirror --dry-run --shards N`` with no index: every shard's share, nothing written, no lock."""
    from frumious import shardshare

    main = replace(settings, mirror=replace(settings.mirror, shard=None, shards=count))
    chosen = _filters(main)
    async with AsyncExitStack() as stack:
        store = open_store(main)  # no top record is opened: a sharded mirror has none
        stack.push_async_callback(store.close)
        upstream = await stack.enter_async_context(make_upstream(main, progress, chosen))
        report = await shardshare.shares(upstream, store, main.mirror, chosen, count)
    report.progress = progress
    return report


async def run_sync(
    settings: Settings, progress: Progress, names: Sequence[str], skip_root: bool, allow_mass_delete: bool
) -> SyncReport:
    async with open_mirror(settings, filters=True, counters=progress) as opened:
        return await otherruns.sync_projects(
            opened.upstream,
            opened.mirror,
            opened.filters,
            progress,
            names,
            skip_root=skip_root,
            allow_mass_delete=allow_mass_delete,
        )


def verify_options(settings: Settings, args: argparse.Namespace) -> verify_core.VerifyOptions:
    from frumious import verify as verify_core

    return verify_core.VerifyOptions(
        delete=args.delete,
        dry_run=args.dry_run,
        json_update=args.json_update,
        workers=args.workers or settings.mirror.verifiers,
        restart=args.restart,
    )


async def run_verify(
    settings: Settings, progress: Progress, options: verify_core.VerifyOptions
) -> verify_core.VerifyReport:
    from frumious import verify as verify_core

    async with open_mirror(settings, counters=progress) as opened:
        return await verify_core.verify(opened.upstream, opened.mirror, options, progress)


async def run_delete(
    settings: Settings, progress: Progress, names: Sequence[str], *, dry_run: bool, workers: int
) -> delete_core.DeleteReport:
    from frumious import delete as delete_core

    async with open_mirror(settings, counters=progress) as opened:
        return await delete_core.delete_projects(opened.mirror, names, progress, dry_run=dry_run, workers=workers)


async def run_reindex(settings: Settings, progress: Progress) -> rebuild.Rebuilt:
    async with open_mirror(settings, record="as-is", counters=progress) as opened:
        tree = opened.mirror
        return await rebuild.rebuild(tree.store, tree.settings, tree.record, progress)


def history_file(settings: Settings) -> str | None:
    """The record file a run's history row is added to: on the filesystem backend only.

    An object store's record is a working copy uploaded before the run's end is known; its
    status page shows what the store holds (serial, failures) instead.
    """
    if settings.mirror.storage_backend != "filesystem":
        return None
    shard = settings.mirror.shard
    if shard is not None:  # a shard's runs are kept in its own record
        return os.path.join(settings.mirror.directory, shard.prefix, db.RECORD_KEY)
    return os.path.join(settings.mirror.directory, db.RECORD_KEY)
