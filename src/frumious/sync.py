"""The orchestrator: decide what to sync, run projects concurrently, finish the run.

``mirror`` reads top to bottom: take the lock, work out the queue (``runplan``:
resume the todo, or diff the listing against the serial, plus remembered
failures), sync each project, settle projects gone upstream, regenerate the root
index, and when the run finished make everything durable, carry its failures by
name and publish the newest serial every synced project reached.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from frumious import claims, retries
from frumious.errors import ends_run
from frumious.filters import FilterSet
from frumious.mirror import Mirror
from frumious.models import ListingEntry, canonicalize_name
from frumious.norelease import listed_404
from frumious.plan import Options, Plan, gather, plan, published_serial, whole_removals
from frumious.project import Context, sync_project
from frumious.retries import Failure
from frumious.settings import MirrorSettings
from frumious.state import Todo, TodoCheckpoint
from frumious.stats import Report, RunStats
from frumious.upstream import Upstream

log = logging.getLogger("frumious.sync")
NO_OPTIONS = Options()


@dataclass
class SyncReport(Report):
    serial: int = 0
    listing_unchanged: bool = False
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    # The plan's refusal (the safety valve): nothing removed whole, no serial published.
    refused: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failures and self.refused is None


@dataclass
class Results:
    """Each queued project's outcome, by canonical name."""

    synced: set[str] = field(default_factory=set)
    failed: dict[str, ListingEntry] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Policy:
    """How a run decides per project: the filters and the command's options."""

    filters: FilterSet
    options: Options = NO_OPTIONS


async def mirror(
    upstream: Upstream, tree: Mirror, filters: FilterSet, stats: RunStats, options: Options = NO_OPTIONS
) -> SyncReport:
    """One ``frumious mirror`` run (the lock is held by the caller): read, plan, sync."""
    started = time.time()
    await tree.bootstrap()
    if options.force_check:
        await tree.forget_serial()
    inputs = await gather(upstream, tree, filters, started, options)
    return await sync(
        upstream, tree, plan(inputs, filters.allows_project, tree.settings, options), Policy(filters, options), stats
    )


async def sync(upstream: Upstream, tree: Mirror, found: Plan, policy: Policy, stats: RunStats) -> SyncReport:
    """Follow the plan: prune, sync the queue, settle absences, then the root index and (if finished) publish."""
    report = SyncReport(
        stats=stats, serial=found.serial, started=found.started, listing_unchanged=found.listing_unchanged
    )
    report.refused = found.refused
    if found.refused is not None:
        log.error("%s", found.refused)
    results = Results()
    for name in found.invalid:
        stats.failed[name] = "the upstream listing gives it an invalid serial; skipped this run"
        # Carried like any failure, at serial 0 (any answer will do): once upstream fixes the
        # serial it may sit below ``status``, and the listing alone would never queue it again.
        results.failed[name] = ListingEntry(name, 0)
    stats.projects_total = len(found.queue)
    removed = await prune_excluded(tree, found, stats)
    ctx = Context(upstream, tree, policy.filters, stats, _gate(tree.settings))
    ctx.vanished = set(found.vanished)
    ctx.guard.allow_mass_delete = policy.options.allow_mass_delete
    # Whole projects removed this run take their files from the same mirror-wide file limit.
    ctx.guard.files_removing = claims.owned_files(tree.record, whole_removals(tree.settings, found))
    if found.queue:
        log.info("Syncing %d project(s) towards serial %d", len(found.queue), found.target)
        todo = tree.checkpoint(Todo(found.target, found.queue))
        report.stopped_early = await run_queue(ctx, found.queue, todo, results)
    vanishing, confirmed = settle_vanishing(tree.settings, found, results, found.memory.vanishing, found.started)
    for name in confirmed:
        stats.removed.extend(await tree.remove_project(name))
        stats.removed_projects.append(name)
    target = published_serial(found, found.serial, results.synced)
    if found.queue or removed or confirmed or found.resumed:  # a run killed before its root index resumes an empty todo
        await tree.write_root_index(target)
    if not report.stopped_early:
        # The run finished: whatever failed is carried by name, so the serial need not wait for it.
        await tree.flush()
        carried = carry_failures(tree.settings, found, results, found.memory.failures, stats, found.started)
        await tree.carry(carried, vanishing)
        if found.refused is None:
            await tree.publish(target, found.started, found.listing_etag, policy.filters.fingerprint)
            report.serial = target
    await tree.write_diff_file(stats.written)
    report.finished = time.time()
    return report


@dataclass
class DryRun(Report):
    """``mirror --dry-run``: the plan a run would follow, after the safety valve; nothing was written."""

    serial: int
    plan: Plan
    prune_filtered: bool

    @property
    def ok(self) -> bool:
        return True  # a plan, even one that refuses removals, is a successful dry run


async def dry_run(
    upstream: Upstream, tree: Mirror, filters: FilterSet, stats: RunStats, options: Options = NO_OPTIONS
) -> DryRun:
    """What ``mirror`` would do, read-only: no generation, todo, serial or record is written."""
    started = time.time()
    inputs = await gather(upstream, tree, filters, started, options, read_only=True)
    found = plan(inputs, filters.allows_project, tree.settings, options)
    if found.refused is not None:
        log.error("%s", found.refused)
    return DryRun(
        inputs.serial, found, tree.settings.prune_filtered, stats=stats, started=started, finished=time.time()
    )


def carry_failures(
    mirror_settings: MirrorSettings,
    plan: Plan,
    results: Results,
    previous: dict[str, Failure],
    stats: RunStats,
    now: float,
) -> dict[str, Failure]:
    """The failures the next run retries: this run's, and quarantined ones still waiting; named in ``stats``."""
    after = mirror_settings.quarantine_after
    carried: dict[str, Failure] = {canonicalize_name(f.name): f for f in plan.waiting}
    for name, entry in results.failed.items():
        carried[name] = retries.after_failure(previous.get(name), entry, now, after)
    for failure in carried.values():
        if failure.quarantined(after):
            when = datetime.fromtimestamp(failure.retry_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            stats.quarantined[failure.name] = f"failed {failure.count} runs in a row; next try after {when}"
    return carried


def settle_vanishing(
    mirror_settings: MirrorSettings, plan: Plan, results: Results, previous: dict[str, float], now: float
) -> tuple[dict[str, float], list[str]]:
    """First sightings to remember, and the projects whose absence is now confirmed (to remove)."""
    if mirror_settings.keep_removed:
        return {}, []
    keep = set(plan.vanished) | (set(previous) if plan.keep_vanishing else set())
    vanishing = {name: when for name, when in previous.items() if name in keep and name not in results.synced}
    confirmed = []
    for name in results.gone:
        if name in plan.confirmable:
            confirmed.append(name)
            vanishing.pop(name, None)
        else:
            vanishing.setdefault(name, now)
    if len(confirmed) < len(results.gone):
        log.info("%d project(s) left upstream; removed once a later run confirms", len(results.gone) - len(confirmed))
    return vanishing, confirmed


async def sync_projects(
    upstream: Upstream,
    tree: Mirror,
    filters: FilterSet,
    stats: RunStats,
    names: Sequence[str],
    *,
    skip_root: bool = False,
    allow_mass_delete: bool = False,
) -> SyncReport:
    """``frumious sync NAME...``: those projects whatever their serial; ``status`` and ``todo`` stay as they are.

    Unlike bandersnatch, project filters apply: an excluded name is reported and skipped.
    """
    await tree.bootstrap()
    report = SyncReport(stats=stats, serial=await tree.serial(), started=time.time())
    queue: dict[str, ListingEntry] = {}
    for name in names:
        canonical = canonicalize_name(name)
        if not filters.allows_project(name):
            log.warning("%s is excluded by the %s filter; skipped", name, filters.project_rejected_by(name))
            report.excluded.append(canonical)
            continue
        known = tree.record.project(canonical)
        # Serial 0: any answer from upstream is new enough.
        queue.setdefault(canonical, ListingEntry(known.display if known else name, 0))
    stats.projects_total = len(queue)
    if queue:
        log.info("Syncing %d project(s)", len(queue))
        ctx = Context(upstream, tree, filters, stats, _gate(tree.settings))
        ctx.guard.allow_mass_delete = allow_mass_delete
        report.stopped_early = await run_queue(ctx, queue.values(), None)
    if queue and not skip_root:
        await tree.write_root_index(report.serial)
    await tree.flush()
    report.finished = time.time()
    return report


async def prune_excluded(tree: Mirror, plan: Plan, stats: RunStats) -> bool:
    """Remove (or report) projects that project filters now exclude."""
    for name in plan.excluded:
        if tree.settings.prune_filtered:
            stats.removed.extend(await tree.remove_project(name))
            stats.removed_projects.append(name)
        else:
            stats.would_prune.append(name)
    if stats.would_prune:
        log.warning(
            "%d project(s) are now excluded by filters but kept (set prune-filtered = true to remove them): %s",
            len(stats.would_prune),
            ", ".join(stats.would_prune[:20]),
        )
    return bool(tree.settings.prune_filtered and plan.excluded)


def _gate(mirror_settings: MirrorSettings) -> asyncio.Semaphore:
    return asyncio.Semaphore(mirror_settings.workers * 2)


async def run_queue(
    ctx: Context, queue: Iterable[ListingEntry], todo: TodoCheckpoint | None, results: Results | None = None
) -> bool:
    """Sync every queued project (checkpointing ``todo`` when given); True when stop-on-error cut the run short."""
    results = results if results is not None else Results()
    if todo is not None:
        await todo.start()
    entries = iter(queue)
    stop = asyncio.Event()

    async def worker() -> None:
        for entry in entries:
            if stop.is_set():
                return
            if await _sync_one(ctx, entry, results):
                if todo is not None:
                    await todo.done(entry.name)
            elif ctx.settings.stop_on_error:
                stop.set()
            ctx.stats.projects_done += 1

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(ctx.settings.workers):
                group.create_task(worker())
    finally:
        if todo is not None:  # also when a signal stopped the run: the next one resumes from here
            await todo.flush()
    return stop.is_set()


async def _sync_one(ctx: Context, entry: ListingEntry, results: Results) -> bool:
    canonical = canonicalize_name(entry.name)
    try:
        outcome = await sync_project(ctx, entry)
        listed = outcome.gone and canonical not in ctx.vanished
        # Still listed: a 404 is a glitch to retry, never a deletion, unless the project has no releases.
        reason = await listed_404(ctx, entry) if listed else None
    # Whatever one project raises (sqlite3 overflow included) fails that project only.
    except Exception as exc:
        if ends_run(exc):
            raise  # a full or read-only disk, a lost lease, a damaged index: the run stops, not just this project
        _failed(ctx, entry, results, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        log.debug("%s failed", entry.name, exc_info=exc)
        return False
    if reason is not None:
        _failed(ctx, entry, results, reason)
        return False
    if listed:
        results.synced.add(canonical)
        return True
    if outcome.gone:
        ctx.stats.gone.append(entry.name)
        results.gone.append(canonical)
        return True
    if outcome.project is None:
        ctx.stats.skipped += 1
    else:
        ctx.stats.synced += 1
    results.synced.add(canonical)
    return True


def _failed(ctx: Context, entry: ListingEntry, results: Results, reason: str) -> None:
    ctx.stats.failed[entry.name] = reason
    results.failed[canonicalize_name(entry.name)] = entry
    log.error("%s failed: %s", entry.name, reason)
