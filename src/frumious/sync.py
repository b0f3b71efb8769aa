"""The orchestrator: decide what to sync, run projects concurrently, finish the run.

``mirror`` reads top to bottom: take the lock, work out the queue (resume the
todo, or diff the listing against the serial), sync each project, regenerate
the root index, and only after a clean run make everything durable and advance
the serial.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from frumious import layout, render, state
from frumious.errors import FrumiousError
from frumious.filters import FilterSet
from frumious.models import ListingEntry, canonicalize_name
from frumious.pipeline import Context, RunStats, sync_project
from frumious.settings import MirrorSettings
from frumious.state import Todo, TodoCheckpoint
from frumious.storage.base import Store
from frumious.upstream import Upstream

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

    @property
    def ok(self) -> bool:
        return not self.stats.failed

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


async def mirror(
    upstream: Upstream,
    store: Store,
    mirror_settings: MirrorSettings,
    filters: FilterSet,
    stats: RunStats,
    *,
    force_check: bool = False,
) -> SyncReport:
    """One ``frumious mirror`` run; the lock is held by the caller."""
    started = time.time()
    await bootstrap(store, mirror_settings)
    if force_check:
        await state.write_serial(store, 0)
    serial = await state.read_serial(store)
    plan = await make_plan(upstream, store, filters, serial)
    report = SyncReport(stats=stats, serial=serial, started=started, listing_unchanged=plan.listing_unchanged)
    stats.projects_total = len(plan.queue)
    if plan.queue:
        log.info("Syncing %d project(s) towards serial %d", len(plan.queue), plan.target)
        report.stopped_early = await run_queue(upstream, store, mirror_settings, filters, stats, plan)
        await write_root_index(store, mirror_settings, plan.target)
    if report.ok:
        await store.flush()
        await finish(store, plan, started)
        report.serial = plan.target
    await write_diff_file(store, mirror_settings, stats.written)
    report.finished = time.time()
    return report


async def bootstrap(store: Store, mirror_settings: MirrorSettings) -> None:
    await state.ensure_generation(store)
    for key in (layout.SIMPLE, layout.PACKAGES, layout.LOCAL_STATS):
        path = store.local_path(key)
        if path is not None:
            import os

            os.makedirs(path, exist_ok=True)


async def make_plan(upstream: Upstream, store: Store, filters: FilterSet, serial: int) -> Plan:
    todo = await state.read_todo(store)
    if todo is not None:
        log.info("Resuming an interrupted run: %d project(s) left", len(todo.entries))
        return Plan(queue=todo.entries, target=todo.target, resumed=True)
    etag = await state.read_listing_etag(store, serial) if serial else None
    listing = await upstream.listing(etag)
    if listing is None:
        log.info("The upstream listing is unchanged since serial %d", serial)
        return Plan(queue=(), target=serial, resumed=False, listing_etag=etag, listing_unchanged=True)
    changed = [e for e in listing.entries if e.serial > serial and filters.allows_project(e.name)]
    changed.sort(key=lambda e: canonicalize_name(e.name))
    target = state.target_serial(serial, changed)
    if listing.serial is not None and not changed:
        target = max(target, min(listing.serial, max((e.serial for e in listing.entries), default=serial)))
    return Plan(queue=tuple(changed), target=target, resumed=False, listing_etag=listing.etag)


async def run_queue(
    upstream: Upstream,
    store: Store,
    mirror_settings: MirrorSettings,
    filters: FilterSet,
    stats: RunStats,
    plan: Plan,
) -> bool:
    """Sync every queued project; True when stop-on-error cut the run short."""
    checkpoint = TodoCheckpoint(store, Todo(plan.target, plan.queue))
    await checkpoint.start()
    workers = mirror_settings.workers
    ctx = Context(upstream, store, mirror_settings, filters, stats, asyncio.Semaphore(workers * 2))
    queue = iter(plan.queue)
    stop = asyncio.Event()

    async def worker() -> None:
        for entry in queue:
            if stop.is_set():
                return
            if await _sync_one(ctx, entry):
                await checkpoint.done(entry.name)
            elif mirror_settings.stop_on_error:
                stop.set()
            stats.projects_done += 1

    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
    await checkpoint.flush()
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
    elif outcome.project is None:
        ctx.stats.skipped += 1
    else:
        ctx.stats.synced += 1
    return True


async def project_dirs(store: Store, hash_index: bool) -> list[str]:
    """The project directories present under web/simple."""
    top = [n for n in await store.children(layout.SIMPLE) if not n.startswith("index.") and not n.startswith(".")]
    if not hash_index:
        return sorted(top)
    names: list[str] = []
    for letter in top:
        names.extend(await store.children(f"{layout.SIMPLE}/{letter}"))
    return sorted(n for n in names if not n.startswith("."))


async def write_root_index(store: Store, mirror_settings: MirrorSettings, serial: int) -> None:
    names = await project_dirs(store, mirror_settings.hash_index)
    fmt = mirror_settings.simple_format
    if fmt.html:
        html = render.root_html(names)
        await store.write(f"{layout.SIMPLE}/index.html", html)
        await store.write(f"{layout.SIMPLE}/index.v1_html", html)
    if fmt.json:
        await store.write(f"{layout.SIMPLE}/index.v1_json", render.root_json(names, serial))


async def finish(store: Store, plan: Plan, started: float) -> None:
    """Advance the serial: only reached after a clean run."""
    await state.write_serial(store, plan.target)
    await store.delete(layout.TODO)
    await store.write(layout.LAST_MODIFIED, render.last_modified(datetime.fromtimestamp(started, UTC)))
    await state.write_listing_etag(store, plan.listing_etag, plan.target)


async def write_diff_file(store: Store, mirror_settings: MirrorSettings, written: Iterable[str]) -> None:
    if not mirror_settings.diff_file:
        return
    import os
    from pathlib import Path

    target = Path(mirror_settings.diff_file)
    if target.is_dir():
        target = target / "mirrored-files"
    if mirror_settings.diff_append_epoch:
        target = target.with_name(f"{target.name}-{int(time.time())}")
    lines = [store.local_path(key) or key for key in written]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    os.replace(tmp, target)
