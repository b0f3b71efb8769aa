"""``frumious delete NAME...``: remove whole projects, then rewrite the root index at once.

What a project owns comes from the index (its page when the index has no record):
release files and sidecars, the simple directory in both spellings, ``web/json`` and
``web/pypi``. bandersnatch leaves the root index listing deleted projects until the
next sync that changes something; frumious rewrites it before returning.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import msgspec

from frumious.errors import BadUpstreamData, FrumiousError, ends_run
from frumious.mirror import Mirror
from frumious.models import canonicalize_name
from frumious.stats import Progress, Report, stops_with

log = logging.getLogger("frumious.delete")


class DeleteReport(Report):
    dry_run: bool = False
    # --dry-run: what each project's removal would take away.
    planned: dict[str, list[str]] = msgspec.field(default_factory=dict)
    removed: list[str] = msgspec.field(default_factory=list)  # object keys
    removed_projects: list[str] = msgspec.field(default_factory=list)


async def delete_projects(
    tree: Mirror,
    names: Sequence[str],
    progress: Progress,
    *,
    dry_run: bool = False,
    workers: int = 3,
) -> DeleteReport:
    """Remove each named project; a refused disk stops it with ``RunStopped`` carrying the report so far."""
    report = DeleteReport(progress=progress, started=time.time(), dry_run=dry_run)
    targets = list(dict.fromkeys(names))
    progress.projects_total = len(targets)
    gate = asyncio.Semaphore(max(1, workers))

    async def one(name: str) -> None:
        async with gate:
            try:
                await _delete_one(tree, name, report)
            except (FrumiousError, OSError) as exc:
                if ends_run(exc):
                    raise  # a read-only or full disk, a lost lease stop the whole command
                report.failed[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.error("Deleting %s failed: %s", name, report.failed[name])
            progress.projects_done += 1

    with stops_with(report):
        await asyncio.gather(*(one(name) for name in targets))
        if report.removed_projects:
            await tree.write_root_index(await tree.serial())
            await tree.flush()
    report.finished = time.time()
    return report


async def _delete_one(tree: Mirror, name: str, report: DeleteReport) -> None:
    canonical = canonicalize_name(name)
    try:
        present = await tree.project_objects(name)
    except BadUpstreamData:
        raise FrumiousError(f"{name!r} cannot be a project name") from None
    if not present and tree.record.project(canonical) is None:
        raise FrumiousError("not in the mirror")
    if report.dry_run:
        report.planned[canonical] = present
        log.info("[dry run] would remove %s (%d objects)", canonical, len(present))
        return
    report.removed.extend(await tree.remove_project(name))
    report.removed_projects.append(canonical)
