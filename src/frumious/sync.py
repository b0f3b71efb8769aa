"""The sync algorithm, top to bottom: one run, its queue, one project.

``mirror`` is one ``frumious mirror`` run (the caller holds the lock): ``plan.gather`` reads
the serial, the todo, the listing (or its 304) and what earlier runs remembered; the pure
``plan.plan`` turns that into one frozen ``Plan``. ``sync`` follows it: prune projects the
filters now exclude, sync the queue (``run_queue``: workers, each project through
``sync_one`` and ``sync_project``, checkpointing the todo), settle projects gone upstream,
write the root index and, when the run finished, make everything durable, carry its
failures by name and publish the newest serial every synced project reached.

``sync_project`` is one project: fetch, filter, claim its keys and reserve its removals, save
JSON, check or download each file, write pages, record, prune stale files (the per-file steps
live in ``project.py``). Each project's ``Outcome`` lands in the ``SyncReport`` as it finishes
(``runreport.py``). At the end: ``sync_projects`` (``frumious sync NAME``) and ``dry_run``
(``mirror --dry-run``: the plan, nothing written).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Iterator

import msgspec

from frumious import claims, feed, metaonly, recheck, shardrun
from frumious.closure import Closure
from frumious.compact import Entries
from frumious.errors import ConfigError, NotFound, ends_run
from frumious.filters import FilterSet
from frumious.mirror import Mirror
from frumious.models import ListingEntry, Project, canonicalize_name, replace
from frumious.norelease import empty_page, listed_404
from frumious.pagesahead import PagesAhead, pipelines_pages
from frumious.plan import Options, Plan, gather, plan, published_serial, whole_removals
from frumious.project import (
    Context,
    cleanup_legacy_dirs,
    index_rows,
    mirror_files,
    plan_files,
    prune_stale_files,
    stored_files,
    withheld,
    write_pages,
)
from frumious.protocol.statefiles import Todo
from frumious.runreport import Kind, Outcome, SyncReport
from frumious.settle import carry_failures, settle_vanishing
from frumious.state import TodoCheckpoint
from frumious.stats import Progress, stops_with
from frumious.upstream import Fetched, Upstream

__all__ = ["NO_OPTIONS", "Policy", "context", "log_plan", "mirror", "run_queue", "sync", "sync_project"]

log = logging.getLogger("frumious.sync")
NO_OPTIONS = Options()


class Policy(msgspec.Struct, frozen=True):
    """How a run decides per project: the filters and the command's options."""

    filters: FilterSet
    options: Options = NO_OPTIONS
    # The dependency closure, when the allowlist asks for one: it adds projects after the queue.
    closure: Closure | None = None


async def mirror(
    upstream: Upstream, mirror: Mirror, filters: FilterSet, progress: Progress, options: Options = NO_OPTIONS
) -> SyncReport:
    """One ``frumious mirror`` run (the lock is held by the caller): read, plan, sync."""
    started = time.time()
    await mirror.bootstrap()
    before = await mirror.serial()
    if options.force_check:
        await mirror.forget_serial()
    closure = await Closure.open(mirror, filters)
    filters = closure.grown if closure else filters
    inputs = await gather(upstream, mirror, filters, started, options, floor=before)
    try:
        planned = plan(inputs, filters.allows_project, mirror.settings, options)
    finally:
        inputs.close()
    del inputs  # the listing's body (31-37 MB on PyPI) is not needed past the plan
    return await sync(upstream, mirror, planned, Policy(filters, options, closure), progress)


async def sync(upstream: Upstream, mirror: Mirror, plan: Plan, policy: Policy, progress: Progress) -> SyncReport:
    """Follow the plan: prune, sync the queue, settle absences, then the root index and (if finished) publish.

    A refused disk stops the run with ``RunStopped``, carrying this report as far as the run got.
    """
    log_plan(plan)
    report = SyncReport(
        progress=progress,
        serial=plan.serial,
        serial_before=max(plan.serial, plan.floor),
        upstream_serial=upstream_serial(plan),
        started=plan.started,
        listing_unchanged=plan.listing_unchanged,
        refused=plan.refused,
        shard=None if mirror.settings.shard is None else str(mirror.settings.shard),
    )
    with stops_with(report):
        await _follow(upstream, mirror, plan, policy, report)
    report.finished = time.time()
    return report


def with_closure(plan: Plan, added: tuple[ListingEntry, ...]) -> Plan:
    """The plan with the projects the closure added, so their serials count towards the one published.

    A listing asked project by project was asked of the allowlist before it grew: they join it.
    """
    ceiling = plan.ceiling
    if plan.partial and ceiling is not None:
        ceiling = max([ceiling, *(entry.serial for entry in added)])
    return replace(plan, queue=Entries.of(plan.queue) + added, ceiling=ceiling)


def upstream_serial(plan: Plan) -> int:
    """The newest serial upstream offered this run: the listing's root, else where the run heads."""
    return plan.ceiling if plan.ceiling is not None else plan.target


async def _follow(upstream: Upstream, mirror: Mirror, plan: Plan, policy: Policy, report: SyncReport) -> None:
    for name in plan.invalid:
        # Carried like any failure, at serial 0 (any answer will do): once upstream fixes the
        # serial it may sit below ``status``, and the listing alone would never queue it again.
        reason = "the upstream listing gives it an invalid serial; skipped this run"
        report.add(ListingEntry(name, 0), Outcome(name, Kind.FAILED, reason))
    report.progress.projects_total = len(plan.queue)
    pruned = await prune_excluded(mirror, plan, report)
    ctx = context(upstream, mirror, policy, report.progress, plan)
    if plan.queue:
        log.info("Syncing %d project(s) towards serial %d", len(plan.queue), plan.target)
        # A shard heads for the listing's serial (shard_serial), so a killed one resumes towards it too.
        heading = plan.target if mirror.settings.shard is None else shardrun.shard_serial(plan, plan.target)
        todo = mirror.checkpoint(Todo(heading, plan.queue))
        report.stopped_early = await run_queue(ctx, plan.queue, todo, report)
    if plan.recheck and not report.stopped_early:
        # Not in the todo: a resumed run finds the filters changed again (or the moments due) by itself.
        report.progress.projects_total += len(plan.recheck)
        report.stopped_early = await run_queue(ctx, recheck.entries(mirror, plan.recheck), None, report)
    if policy.closure is not None and not report.stopped_early:
        queued = [entry.name for entry in plan.queue] + list(plan.recheck)
        added = await policy.closure.complete(mirror, report, queued, lambda more: run_queue(ctx, more, None, report))
        plan = with_closure(plan, added)
        # Their rounds queued them at serial 0: what they reached is the record's serial.
        reached = report.reached.among(canonicalize_name(entry.name) for entry in added)
        report.newest = max([report.newest, *(e.serial for e in added if canonicalize_name(e.name) in reached)])
    vanishing, confirmed = settle_vanishing(mirror.settings, plan, report)
    for name in confirmed:
        report.removed.extend(await mirror.remove_project(name))
        report.removed_projects.append(name)
    pages = metaonly.Done() if report.stopped_early else await metaonly.follow(ctx, plan, policy.options, report)
    shard = mirror.settings.shard
    target = published_serial(plan, report.newest, changed=_changed(report))
    target = target if shard is None else shardrun.shard_serial(plan, target)
    # A run killed before its root index resumes an empty todo. A shard's root index is the publish step's.
    if shard is None and (plan.queue or pruned or confirmed or plan.resumed or pages.changed):
        await mirror.write_root_index(target)
    if not report.stopped_early:
        # The run finished: whatever failed is carried by name, so the serial need not wait for it.
        await mirror.flush()
        held = recheck.carry_held(plan.memory.held, report.held, report.reached, report.removed_projects)
        await mirror.carry(carry_failures(mirror.settings, plan, report), vanishing, held)
        if plan.refused is None:
            # A metadata-only page that failed is asked again only with the listing itself, not its 304.
            etag = None if pages.failed else plan.listing_etag
            filters = policy.filters
            await mirror.publish(target, plan.started, etag, filters.fingerprint, filters.fingerprints)
            report.serial = target
            if shard is not None:
                await shardrun.finished(mirror, shard, report, partial=plan.partial)
            elif mirror.settings.feed:
                await feed.after_run(mirror, plan.serial, report)
    await mirror.write_diff_file(ctx.written)


async def run_queue(
    ctx: Context, queue: Iterable[ListingEntry], todo: TodoCheckpoint | None, report: SyncReport
) -> bool:
    """Sync every queued project (checkpointing ``todo`` when given); True when stop-on-error cut the run short.

    Each outcome lands in ``report`` as its project finishes, so a stopped run's report is current.
    """
    if todo is not None:
        await todo.start()
    entries: Iterator[tuple[int, ListingEntry]] = enumerate(queue)  # in order: the checkpoint knows each by its place
    workers, upstream = ctx.settings.workers, ctx.upstream
    ahead = PagesAhead(upstream, entries, ctx.stored.__contains__, workers) if pipelines_pages(upstream) else None
    stop = asyncio.Event()

    async def worker() -> None:
        try:
            for index, entry in ahead or entries:
                if stop.is_set():
                    return
                outcome = await sync_one(ctx, entry)
                report.add(entry, outcome)
                failed = outcome.kind is Kind.FAILED
                if todo is not None:
                    await (todo.kept(index) if failed else todo.done(index))
                if failed and ctx.settings.stop_on_error:
                    stop.set()
                ctx.progress.projects_done += 1
        finally:
            if ahead is not None:
                ahead.worker_done()

    try:
        async with asyncio.TaskGroup() as group:
            if ahead is not None:
                group.create_task(ahead.run())
            for _ in range(workers):
                group.create_task(worker())
    except* ConfigError as found:
        # A configuration the upstream cannot serve (JsonMissing): one line and exit 2, not a group.
        raise found.exceptions[0] from None
    finally:
        if todo is not None:  # also when a signal stopped the run: the next one resumes from here
            await todo.flush()
        if ahead is not None:
            ahead.forget()
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


async def sync_project(ctx: Context, entry: ListingEntry) -> Outcome:
    """One project: fetch, filter, claim, save JSON, files, pages, record, prune; raises if it fails.

    Refusals (a key another project owns, too many files to remove) come before any write.
    """
    try:
        offered, entry, page = await _offered(ctx, entry)
    except NotFound:
        log.info("%s no longer exists upstream", entry.name)
        return Outcome(entry.name, Kind.GONE)
    if offered is None:
        log.debug("%s: its page is unchanged", entry.name)
        return Outcome(entry.name, Kind.SYNCED, unchanged=True)
    if offered.source == "simple" and not offered.files and offered.status != "quarantined":
        # PyPI lists projects without releases: nothing to mirror, files kept. The page was checked as new
        # as the listing already, so it is not asked for again (listed_404 is for a Warehouse JSON 404).
        return await empty_page(ctx, entry)
    if not ctx.filters.allows_metadata(offered):
        log.info("%s excluded by a metadata filter", entry.name)
        return Outcome(entry.name, Kind.SKIPPED)
    for finding in ctx.filters.reports(offered):
        log.warning("%s: %s", entry.name, finding)
    project = withheld(ctx.filters.apply(offered))  # releases left without files are dropped there
    release_files = ctx.settings.release_files
    files = stored_files(ctx.settings, project) if release_files else []
    doomed: set[str] = set()
    kept: list[str] = []
    # Asked of the record once for every step (it was four lookups of the same row).
    new = ctx.record.project(project.canonical) is None
    try:
        if release_files:
            doomed, kept = await plan_files(ctx, offered, project, files, new=new)
        if ctx.settings.json and offered.source == "json":
            ctx.wrote(await ctx.mirror.save_json(project))
        with_metadata = await mirror_files(ctx, files, new=new) if release_files else None
        await write_pages(ctx, project, entry, with_metadata, new=new)
        # plan_files claimed every key against the record: the record need not look for other holders.
        ctx.record.record(*index_rows(project, files, with_metadata), new=new, claimed=release_files)
        recheck.remember(ctx.mirror, ctx.filters, offered)
        if page is not None and page.digest is not None:
            ctx.mirror.pages.put(project.canonical, page.etag, page.digest)
    except BaseException:
        # The project failed before removing anything: its reserved removals go back to the run's limit.
        ctx.guard.files_removing -= len(doomed)
        raise
    finally:
        ctx.guard.release(project.canonical)
    removed = await prune_stale_files(ctx, project, doomed) if doomed else []
    if ctx.settings.cleanup:
        await cleanup_legacy_dirs(ctx, entry.name)
    revisit = ctx.filters.revisit_at(offered)
    return Outcome(entry.name, Kind.SYNCED, removed=tuple(removed), would_prune=tuple(kept), revisit=revisit)


async def _offered(ctx: Context, entry: ListingEntry) -> tuple[Project | None, ListingEntry, Fetched | None]:
    """What upstream offers for the project: the mirror's stored copy when it is filtered again, else fetched.

    A stored copy stands for upstream at its serial, which the entry then carries (page versions are named by it).
    Without upstream serials the page is asked for conditionally: None when it is unchanged (and mirrored).
    """
    canonical = canonicalize_name(entry.name)
    if canonical in ctx.stored:
        kept = await recheck.stored_project(ctx.mirror, entry.name)
        if kept is not None:
            return kept, ListingEntry(entry.name, kept.serial), None
        log.info("%s: no stored copy of its upstream metadata; fetching it", entry.name)
    serials = ctx.upstream.serials
    known = ctx.mirror.pages.get(canonical) if not serials and ctx.record.project(canonical) else (None, None)
    fetched = await ctx.upstream.fetch(entry.name, entry.serial, known)
    return fetched.project, entry, None if serials else fetched


# The run's small steps, in the order ``_follow`` takes them.


def _changed(report: SyncReport) -> bool:
    """Whether the run changed what the mirror holds (a counted serial moves only then)."""
    return bool(report.synced or report.skipped or report.no_releases or report.removed or report.removed_projects)


def log_plan(plan: Plan) -> None:
    for note in plan.notes:
        log.info("%s", note)
    for warning in plan.warnings:
        log.warning("%s", warning)
    if plan.refused is not None:
        log.error("%s", plan.refused)


async def prune_excluded(mirror: Mirror, plan: Plan, report: SyncReport) -> list[str]:
    """Remove (or report) projects that project filters now exclude; the projects removed."""
    if mirror.settings.prune_filtered:
        for name in plan.excluded:
            report.removed.extend(await mirror.remove_project(name))
            report.removed_projects.append(name)
        return list(plan.excluded)
    if plan.excluded:
        report.would_prune.extend(plan.excluded)
        log.warning(
            "%d project(s) are now excluded by filters but kept (set prune-filtered = true to remove them): %s",
            len(plan.excluded),
            ", ".join(plan.excluded[:20]),
        )
    return []


def context(upstream: Upstream, mirror: Mirror, policy: Policy, progress: Progress, plan: Plan | None) -> Context:
    """The context every project of the run shares, complete."""
    # Whole projects removed this run take their files from the same mirror-wide file limit.
    removing = claims.owned_files(mirror.record, whole_removals(mirror.settings, plan)) if plan else 0
    guard = claims.RunGuard(allow_mass_delete=policy.options.allow_mass_delete, files_removing=removing)
    gate = asyncio.Semaphore(mirror.settings.workers * 2)
    vanished = frozenset(plan.vanished) if plan else frozenset()
    stored = frozenset(plan.recheck) if plan else frozenset()
    return Context(upstream, mirror, policy.filters, progress, gate, vanished=vanished, guard=guard, stored=stored)
