"""The sync's other entry points: named projects (``frumious sync NAME...``) and the plan alone (``--dry-run``).

Both stand on ``sync``'s steps (``run_queue``, the run's ``Context``, ``log_plan``) without its
checkpointed run: ``sync_projects`` writes no ``todo`` and moves no serial, ``dry_run`` writes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from frumious.closure import Closure
from frumious.filters import FilterSet
from frumious.mirror import Mirror
from frumious.models import ListingEntry, canonicalize_name
from frumious.plan import Options, gather, plan
from frumious.runreport import DryRun, SyncReport
from frumious.stats import Progress, stops_with
from frumious.sync import NO_OPTIONS, Policy, context, log_plan, run_queue
from frumious.upstream import Upstream

__all__ = ["dry_run", "sync_projects"]

log = logging.getLogger("frumious.sync")  # the same logger as the run's, whichever entry point


async def sync_projects(
    upstream: Upstream,
    mirror: Mirror,
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
    await mirror.bootstrap()
    serial = await mirror.serial()
    report = SyncReport(progress=progress, serial=serial, serial_before=serial, started=time.time())
    queue: dict[str, ListingEntry] = {}
    for name in names:
        canonical = canonicalize_name(name)
        if not filters.allows_project(name):
            log.warning("%s is excluded by the %s filter; skipped", name, filters.project_rejected_by(name))
            report.excluded.append(canonical)
            continue
        known = mirror.record.project(canonical)
        # Serial 0: any answer from upstream is new enough.
        queue.setdefault(canonical, ListingEntry(known.display if known else name, 0))
    progress.projects_total = len(queue)
    with stops_with(report):
        if queue:
            log.info("Syncing %d project(s)", len(queue))
            policy = Policy(filters, Options(allow_mass_delete=allow_mass_delete))
            ctx = context(upstream, mirror, policy, progress, None)
            report.stopped_early = await run_queue(ctx, queue.values(), None, report)
        if queue and not skip_root:
            await mirror.write_root_index(report.serial)
        await mirror.flush()
    report.finished = time.time()
    return report


async def dry_run(
    upstream: Upstream, mirror: Mirror, filters: FilterSet, progress: Progress, options: Options = NO_OPTIONS
) -> DryRun:
    """What ``mirror`` would do, read-only: no generation, todo, serial or record is written."""
    started = time.time()
    closure = await Closure.open(mirror, filters)
    filters = closure.grown if closure else filters
    inputs = await gather(upstream, mirror, filters, started, options, read_only=True)
    try:
        planned = plan(inputs, filters.allows_project, mirror.settings, options)
    finally:
        inputs.close()
    log_plan(planned)
    return DryRun(
        inputs.serial, planned, mirror.settings.prune_filtered, progress=progress, started=started, finished=time.time()
    )
