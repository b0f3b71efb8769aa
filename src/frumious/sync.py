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
from frumious.project import Context, Kind, Outcome, sync_project
from frumious.retries import Failure
from frumious.settings import MirrorSettings
from frumious.state import Todo, TodoCheckpoint
from frumious.stats import Progress, Report, stops_with
from frumious.upstream import Upstream

log = logging.getLogger("frumious.sync")
NO_OPTIONS = Options()


@dataclass
class SyncReport(Report):
    """What a run did: the projects' outcomes aggregated (``add``), and what the run itself removed or refused."""

    serial: int = 0
    listing_unchanged: bool = False
    stopped_early: bool = False
    notes: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    # The plan's refusal (the safety valve): nothing removed whole, no serial published.
    refused: str | None = None
    synced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # by a metadata filter
    gone: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # object keys
    removed_projects: list[str] = field(default_factory=list)
    # Projects (and files) now excluded by filters but kept: prune-filtered = false.
    would_prune: list[str] = field(default_factory=list)
    # Projects that failed quarantine-after runs in a row: name -> when they are tried next.
    quarantined: dict[str, str] = field(default_factory=dict)
    # Listed upstream with no releases (their JSON is a 404); of those, the ones the mirror holds files for.
    no_releases: list[str] = field(default_factory=list)
    no_releases_kept: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failures and self.refused is None

    def add(self, outcome: Outcome) -> None:
        """Count one project's outcome."""
        name = outcome.name
        if outcome.kind is Kind.SYNCED:
            self.synced.append(name)
        elif outcome.kind is Kind.SKIPPED:
            self.skipped.append(name)
        elif outcome.kind is Kind.GONE:
            self.gone.append(name)
        elif outcome.kind is Kind.FAILED:
            self.failed[name] = outcome.reason
        elif outcome.kind is Kind.NO_RELEASES:
            self.no_releases.append(name)
            if outcome.kept:
                self.no_releases_kept[name] = outcome.kept
        self.removed.extend(outcome.removed)
        self.would_prune.extend(outcome.would_prune)


@dataclass
class Results:
    """What the run's bookkeeping needs of each queued project's outcome, by canonical name."""

    synced: set[str] = field(default_factory=set)
    failed: dict[str, ListingEntry] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)

    def add(self, entry: ListingEntry, outcome: Outcome) -> None:
        if outcome.kind is Kind.FAILED:
            self.failed[outcome.canonical] = entry  # carried at its listed serial
        elif outcome.kind is Kind.GONE:
            self.gone.append(outcome.canonical)
        else:  # synced, skipped by a filter, or listed with no releases: nothing holds the serial back
            self.synced.add(outcome.canonical)


@dataclass(frozen=True, slots=True)
class Policy:
    """How a run decides per project: the filters and the command's options."""

    filters: FilterSet
    options: Options = NO_OPTIONS


async def mirror(
    upstream: Upstream, tree: Mirror, filters: FilterSet, progress: Progress, options: Options = NO_OPTIONS
) -> SyncReport:
    """One ``frumious mirror`` run (the lock is held by the caller): read, plan, sync."""
    started = time.time()
    await tree.bootstrap()
    if options.force_check:
        await tree.forget_serial()
    inputs = await gather(upstream, tree, filters, started, options)
    return await sync(
        upstream, tree, plan(inputs, filters.allows_project, tree.settings, options), Policy(filters, options), progress
    )


async def sync(upstream: Upstream, tree: Mirror, found: Plan, policy: Policy, progress: Progress) -> SyncReport:
    """Follow the plan: prune, sync the queue, settle absences, then the root index and (if finished) publish.

    A refused disk stops the run with ``RunStopped``, carrying this report as far as the run got.
    """
    report = SyncReport(
        progress=progress, serial=found.serial, started=found.started, listing_unchanged=found.listing_unchanged
    )
    report.refused = found.refused
    if found.refused is not None:
        log.error("%s", found.refused)
    with stops_with(report):
        await _follow(upstream, tree, found, policy, report)
    report.finished = time.time()
    return report


async def _follow(upstream: Upstream, tree: Mirror, found: Plan, policy: Policy, report: SyncReport) -> None:
    results = Results()
    for name in found.invalid:
        report.failed[name] = "the upstream listing gives it an invalid serial; skipped this run"
        # Carried like any failure, at serial 0 (any answer will do): once upstream fixes the
        # serial it may sit below ``status``, and the listing alone would never queue it again.
        results.failed[name] = ListingEntry(name, 0)
    report.progress.projects_total = len(found.queue)
    removed = await prune_excluded(tree, found, report)
    ctx = Context(upstream, tree, policy.filters, report.progress, _gate(tree.settings))
    ctx.vanished = set(found.vanished)
    ctx.guard.allow_mass_delete = policy.options.allow_mass_delete
    # Whole projects removed this run take their files from the same mirror-wide file limit.
    ctx.guard.files_removing = claims.owned_files(tree.record, whole_removals(tree.settings, found))
    if found.queue:
        log.info("Syncing %d project(s) towards serial %d", len(found.queue), found.target)
        todo = tree.checkpoint(Todo(found.target, found.queue))
        report.stopped_early = await run_queue(ctx, found.queue, todo, results, report)
    vanishing, confirmed = settle_vanishing(tree.settings, found, results, found.memory.vanishing, found.started)
    for name in confirmed:
        report.removed.extend(await tree.remove_project(name))
        report.removed_projects.append(name)
    target = published_serial(found, found.serial, results.synced)
    if found.queue or removed or confirmed or found.resumed:  # a run killed before its root index resumes an empty todo
        await tree.write_root_index(target)
    if not report.stopped_early:
        # The run finished: whatever failed is carried by name, so the serial need not wait for it.
        await tree.flush()
        carried = carry_failures(tree.settings, found, results, found.memory.failures, report, found.started)
        await tree.carry(carried, vanishing)
        if found.refused is None:
            await tree.publish(target, found.started, found.listing_etag, policy.filters.fingerprint)
            report.serial = target
    await tree.write_diff_file(ctx.written)


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
    upstream: Upstream, tree: Mirror, filters: FilterSet, progress: Progress, options: Options = NO_OPTIONS
) -> DryRun:
    """What ``mirror`` would do, read-only: no generation, todo, serial or record is written."""
    started = time.time()
    inputs = await gather(upstream, tree, filters, started, options, read_only=True)
    found = plan(inputs, filters.allows_project, tree.settings, options)
    if found.refused is not None:
        log.error("%s", found.refused)
    return DryRun(
        inputs.serial, found, tree.settings.prune_filtered, progress=progress, started=started, finished=time.time()
    )


def carry_failures(
    mirror_settings: MirrorSettings,
    plan: Plan,
    results: Results,
    previous: dict[str, Failure],
    report: SyncReport,
    now: float,
) -> dict[str, Failure]:
    """The failures the next run retries: this run's, and quarantined ones still waiting; named in ``report``."""
    after = mirror_settings.quarantine_after
    carried: dict[str, Failure] = {canonicalize_name(f.name): f for f in plan.waiting}
    for name, entry in results.failed.items():
        carried[name] = retries.after_failure(previous.get(name), entry, now, after)
    for failure in carried.values():
        if failure.quarantined(after):
            when = datetime.fromtimestamp(failure.retry_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            report.quarantined[failure.name] = f"failed {failure.count} runs in a row; next try after {when}"
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
    progress: Progress,
    names: Sequence[str],
    *,
    skip_root: bool = False,
    allow_mass_delete: bool = False,
) -> SyncReport:
    """``frumious sync NAME...``: those projects whatever their serial; ``status`` and ``todo`` stay as they are.

    Unlike bandersnatch, project filters apply: an excluded name is reported and skipped.
    """
    await tree.bootstrap()
    report = SyncReport(progress=progress, serial=await tree.serial(), started=time.time())
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
    progress.projects_total = len(queue)
    with stops_with(report):
        if queue:
            log.info("Syncing %d project(s)", len(queue))
            ctx = Context(upstream, tree, filters, progress, _gate(tree.settings))
            ctx.guard.allow_mass_delete = allow_mass_delete
            report.stopped_early = await run_queue(ctx, queue.values(), None, Results(), report)
        if queue and not skip_root:
            await tree.write_root_index(report.serial)
        await tree.flush()
    report.finished = time.time()
    return report


async def prune_excluded(tree: Mirror, plan: Plan, report: SyncReport) -> bool:
    """Remove (or report) projects that project filters now exclude."""
    for name in plan.excluded:
        if tree.settings.prune_filtered:
            report.removed.extend(await tree.remove_project(name))
            report.removed_projects.append(name)
        else:
            report.would_prune.append(name)
    if report.would_prune:
        log.warning(
            "%d project(s) are now excluded by filters but kept (set prune-filtered = true to remove them): %s",
            len(report.would_prune),
            ", ".join(report.would_prune[:20]),
        )
    return bool(tree.settings.prune_filtered and plan.excluded)


def _gate(mirror_settings: MirrorSettings) -> asyncio.Semaphore:
    return asyncio.Semaphore(mirror_settings.workers * 2)


async def run_queue(
    ctx: Context, queue: Iterable[ListingEntry], todo: TodoCheckpoint | None, results: Results, report: SyncReport
) -> bool:
    """Sync every queued project (checkpointing ``todo`` when given); True when stop-on-error cut the run short.

    Each outcome lands in ``results`` and ``report`` as its project finishes, so a stopped run's report is current.
    """
    if todo is not None:
        await todo.start()
    entries = iter(queue)
    stop = asyncio.Event()

    async def worker() -> None:
        for entry in entries:
            if stop.is_set():
                return
            outcome = await sync_one(ctx, entry)
            results.add(entry, outcome)
            report.add(outcome)
            if outcome.kind is not Kind.FAILED:
                if todo is not None:
                    await todo.done(entry.name)
            elif ctx.settings.stop_on_error:
                stop.set()
            ctx.progress.projects_done += 1

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(ctx.settings.workers):
                group.create_task(worker())
    finally:
        if todo is not None:  # also when a signal stopped the run: the next one resumes from here
            await todo.flush()
    return stop.is_set()


async def sync_one(ctx: Context, entry: ListingEntry) -> Outcome:
    """One queued project's outcome; only an error that ends the run (``ends_run``) is raised."""
    try:
        outcome = await sync_project(ctx, entry)
        if outcome.kind is Kind.GONE and outcome.canonical not in ctx.vanished:
            # Still listed: a 404 is a glitch to retry, never a deletion, unless the project has no releases.
            outcome = await listed_404(ctx, entry)
    # Whatever one project raises (sqlite3 overflow included) fails that project only.
    except Exception as exc:
        if ends_run(exc):
            raise  # a full or read-only disk, a lost lease, a damaged index: the run stops, not just this project
        log.debug("%s failed", entry.name, exc_info=exc)
        outcome = Outcome(entry.name, Kind.FAILED, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if outcome.kind is Kind.FAILED:
        log.error("%s failed: %s", entry.name, outcome.reason)
    return outcome
