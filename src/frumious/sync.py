"""The orchestrator: decide what to sync, run projects concurrently, finish the run.

``mirror`` reads top to bottom: take the lock, work out the queue (resume the
todo, or diff the listing against the serial), sync each project, regenerate
the root index, and only after a clean run make everything durable and advance
the serial.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from frumious import index, layout, render, state
from frumious.errors import FrumiousError
from frumious.filters import FilterSet
from frumious.index import MirrorIndex
from frumious.models import ListingEntry, canonicalize_name
from frumious.pipeline import Context, RunStats, sync_project
from frumious.reconcile import reconcile, removal_limit
from frumious.remove import remove_project
from frumious.settings import MirrorSettings
from frumious.state import Todo, TodoCheckpoint
from frumious.storage.base import Store
from frumious.upstream import Listing, Upstream

log = logging.getLogger("frumious.sync")


@dataclass
class SyncReport:
    stats: RunStats
    serial: int
    started: float
    finished: float = 0.0
    listing_unchanged: bool = False
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.stats.failed and self.stats.refused is None

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass(frozen=True, slots=True)
class Plan:
    queue: tuple[ListingEntry, ...]
    target: int
    resumed: bool
    listing_etag: str | None = None
    listing_unchanged: bool = False
    excluded: tuple[str, ...] = ()
    vanished: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Options:
    force_check: bool = False
    allow_mass_delete: bool = False


async def mirror(
    upstream: Upstream,
    store: Store,
    mirror_settings: MirrorSettings,
    filters: FilterSet,
    stats: RunStats,
    mirror_index: MirrorIndex,
    options: Options = Options(),
) -> SyncReport:
    """One ``frumious mirror`` run; the lock is held by the caller."""
    started = time.time()
    await bootstrap(store, mirror_settings)
    if options.force_check:
        await state.write_serial(store, 0)
        await index.restamp(store, mirror_index)
    serial = await state.read_serial(store)
    plan = await make_plan(upstream, store, mirror_settings, filters, serial, mirror_index)
    report = SyncReport(stats=stats, serial=serial, started=started, listing_unchanged=plan.listing_unchanged)
    plan = apply_safety_valve(mirror_settings, plan, stats, options, mirror_index.count())
    stats.projects_total = len(plan.queue)
    removed = await prune_excluded(store, mirror_settings, mirror_index, plan, stats)
    ctx = Context(upstream, store, mirror_settings, filters, stats, _gate(mirror_settings), mirror_index)
    ctx.vanished = set(plan.vanished)
    if plan.queue:
        log.info("Syncing %d project(s) towards serial %d", len(plan.queue), plan.target)
        todo = TodoCheckpoint(store, Todo(plan.target, plan.queue))
        report.stopped_early = await run_queue(ctx, plan.queue, todo)
    if plan.queue or removed or plan.resumed:  # a run killed before its root index resumes an empty todo
        await write_root_index(store, mirror_settings, mirror_index, plan.target)
    if report.ok:
        await store.flush()
        await finish(store, plan, started)
        await state.write_filters(store, filters.fingerprint)
        await index.restamp(store, mirror_index)
        report.serial = plan.target
    await write_diff_file(store, mirror_settings, stats.written)
    report.finished = time.time()
    return report


async def sync_projects(
    upstream: Upstream,
    store: Store,
    mirror_settings: MirrorSettings,
    filters: FilterSet,
    stats: RunStats,
    mirror_index: MirrorIndex,
    names: Sequence[str],
    *,
    skip_root: bool = False,
) -> SyncReport:
    """``frumious sync NAME...``: those projects whatever their serial; ``status`` and ``todo`` stay as they are.

    Unlike bandersnatch, project filters apply: an excluded name is reported and skipped.
    """
    await bootstrap(store, mirror_settings)
    report = SyncReport(stats=stats, serial=await state.read_serial(store), started=time.time())
    queue: dict[str, ListingEntry] = {}
    for name in names:
        canonical = canonicalize_name(name)
        if not filters.allows_project(name):
            log.warning("%s is excluded by the %s filter; skipped", name, filters.project_rejected_by(name))
            report.excluded.append(canonical)
            continue
        known = mirror_index.project(canonical)
        # Serial 0: any answer from upstream is new enough.
        queue.setdefault(canonical, ListingEntry(known.display if known else name, 0))
    stats.projects_total = len(queue)
    if queue:
        log.info("Syncing %d project(s)", len(queue))
        ctx = Context(upstream, store, mirror_settings, filters, stats, _gate(mirror_settings), mirror_index)
        report.stopped_early = await run_queue(ctx, queue.values(), None)
    for name in stats.gone:
        stats.failed[name] = "not found upstream (404)"
    if queue and not skip_root:
        await write_root_index(store, mirror_settings, mirror_index, report.serial)
    await store.flush()
    report.finished = time.time()
    return report


async def bootstrap(store: Store, mirror_settings: MirrorSettings) -> None:
    await state.ensure_generation(store)
    for key in (layout.SIMPLE, layout.PACKAGES, layout.LOCAL_STATS):
        path = store.local_path(key)
        if path is not None:
            os.makedirs(path, exist_ok=True)


async def make_plan(
    upstream: Upstream,
    store: Store,
    mirror_settings: MirrorSettings,
    filters: FilterSet,
    serial: int,
    mirror_index: MirrorIndex,
) -> Plan:
    todo = await state.read_todo(store)
    if todo is not None:
        log.info("Resuming an interrupted run: %d project(s) left", len(todo.entries))
        return Plan(queue=todo.entries, target=todo.target, resumed=True)
    changed_filters = await state.filters_changed(store, filters.fingerprint)
    etag = await state.read_listing_etag(store, serial) if serial and not changed_filters else None
    listing = await fetch_listing(upstream, mirror_settings, filters, etag)
    if listing is None:
        log.info("The upstream listing is unchanged since serial %d", serial)
        return Plan(queue=(), target=serial, resumed=False, listing_etag=etag, listing_unchanged=True)
    local = set(mirror_index.names())
    found = reconcile(
        listing.entries, local, filters.allows_project, serial=serial, filters_changed=changed_filters and serial > 0
    )
    target = state.target_serial(serial, listing.entries)
    return Plan(
        queue=found.queue,
        target=target,
        resumed=False,
        listing_etag=listing.etag,
        excluded=found.excluded,
        vanished=found.vanished,
    )


# Up to this many allowlisted projects, asking each one is cheaper than PyPI's full listing.
FAST_PATH_LIMIT = 2000


async def fetch_listing(
    upstream: Upstream, mirror_settings: MirrorSettings, filters: FilterSet, etag: str | None
) -> Listing | None:
    only = filters.only_projects
    if only is not None and len(only) <= FAST_PATH_LIMIT:
        log.info("Allowlist of %d project(s): asking each instead of fetching the full listing", len(only))
        return await upstream.listing_of(only, mirror_settings.workers * 2)
    return await upstream.listing(etag)


def apply_safety_valve(
    mirror_settings: MirrorSettings, plan: Plan, stats: RunStats, options: Options, local: int
) -> Plan:
    """Refuse to remove more than the configured share of the mirror (``local`` projects) in one run."""
    removing = len(plan.vanished) * (not mirror_settings.keep_removed)
    removing += len(plan.excluded) * mirror_settings.prune_filtered
    limit = removal_limit(local, mirror_settings.max_delete_share)
    if removing <= limit or options.allow_mass_delete:
        return plan
    stats.refused = (
        f"refusing to remove {removing} of {local} projects in one run (max-delete-share allows {limit});"
        " if that is intended, rerun with --allow-mass-delete"
    )
    log.error("%s", stats.refused)
    vanished = set(plan.vanished)
    queue = tuple(entry for entry in plan.queue if entry.name not in vanished)
    return replace(plan, queue=queue, vanished=(), excluded=() if mirror_settings.prune_filtered else plan.excluded)


async def prune_excluded(
    store: Store, mirror_settings: MirrorSettings, mirror_index: MirrorIndex, plan: Plan, stats: RunStats
) -> bool:
    """Remove (or report) projects that project filters now exclude."""
    for name in plan.excluded:
        if mirror_settings.prune_filtered:
            stats.removed.extend(await remove_project(store, mirror_settings, mirror_index, name))
            stats.removed_projects.append(name)
        else:
            stats.would_prune.append(name)
    if stats.would_prune:
        log.warning(
            "%d project(s) are now excluded by filters but kept (set prune-filtered = true to remove them): %s",
            len(stats.would_prune),
            ", ".join(stats.would_prune[:20]),
        )
    return bool(mirror_settings.prune_filtered and plan.excluded)


def _gate(mirror_settings: MirrorSettings) -> asyncio.Semaphore:
    return asyncio.Semaphore(mirror_settings.workers * 2)


async def run_queue(ctx: Context, queue: Iterable[ListingEntry], todo: TodoCheckpoint | None) -> bool:
    """Sync every queued project (checkpointing ``todo`` when given); True when stop-on-error cut the run short."""
    if todo is not None:
        await todo.start()
    entries = iter(queue)
    stop = asyncio.Event()

    async def worker() -> None:
        for entry in entries:
            if stop.is_set():
                return
            if await _sync_one(ctx, entry):
                if todo is not None:
                    await todo.done(entry.name)
            elif ctx.mirror.stop_on_error:
                stop.set()
            ctx.stats.projects_done += 1

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(ctx.mirror.workers):
                group.create_task(worker())
    finally:
        if todo is not None:  # also when a signal stopped the run: the next one resumes from here
            await todo.flush()
    return stop.is_set()


async def _sync_one(ctx: Context, entry: ListingEntry) -> bool:
    try:
        outcome = await sync_project(ctx, entry)
    except (FrumiousError, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        ctx.stats.failed[entry.name] = reason
        log.error("%s failed: %s", entry.name, reason)
        return False
    if outcome.gone:
        ctx.stats.gone.append(entry.name)
        if entry.name in ctx.vanished and not ctx.mirror.keep_removed:
            ctx.stats.removed.extend(await remove_project(ctx.store, ctx.mirror, ctx.index, entry.name))
            ctx.stats.removed_projects.append(entry.name)
    elif outcome.project is None:
        ctx.stats.skipped += 1
    else:
        ctx.stats.synced += 1
    return True


async def write_root_index(
    store: Store, mirror_settings: MirrorSettings, mirror_index: MirrorIndex, serial: int
) -> None:
    """The root pages, from the index: every project, and in JSON each one's last serial."""
    names, serials = mirror_index.names_and_serials()
    fmt = mirror_settings.simple_format
    if fmt.html:
        html = render.root_html(names)
        await store.write(f"{layout.SIMPLE}/index.html", html)
        await store.write(f"{layout.SIMPLE}/index.v1_html", html)
    if fmt.json:
        await store.write(f"{layout.SIMPLE}/index.v1_json", render.root_json(names, serial, serials))


async def finish(store: Store, plan: Plan, started: float) -> None:
    """Advance the serial: only reached after a clean run."""
    await state.write_serial(store, plan.target)
    await store.delete(layout.TODO)
    await store.write(layout.LAST_MODIFIED, render.last_modified(datetime.fromtimestamp(started, UTC)))
    await state.write_listing_etag(store, plan.listing_etag, plan.target)


async def write_diff_file(store: Store, mirror_settings: MirrorSettings, written: Iterable[str]) -> None:
    """bandersnatch's diff file: every path written this run, one a line."""
    if not mirror_settings.diff_file:
        return
    directory = mirror_settings.directory.rstrip("/")
    lines = [store.local_path(key) or f"{directory}/{key}" for key in written]
    data = "\n".join(lines).encode("utf-8")
    epoch = f"-{int(time.time())}" if mirror_settings.diff_append_epoch else ""
    diff_file = mirror_settings.diff_file.rstrip("/")
    if store.local_path("") is None and (diff_file + "/").startswith(directory + "/"):
        # On an object store a diff file under the mirror directory lives in the bucket too.
        key = diff_file[len(directory) :].strip("/")
        if not key or await store.children(key):
            key = f"{key}/mirrored-files".lstrip("/")
        await store.write(key + epoch, data)
        return
    target = Path(diff_file)
    if target.is_dir():
        target = target / "mirrored-files"
    target = target.with_name(target.name + epoch)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
