"""Metadata-only pages: ``[mirror] filtered-projects = metadata-only``.

A project the *project* filters exclude (not on the allowlist, blocklisted) still gets its
simple pages, PEP 503 and PEP 691 from the same renderers, linking each file at the upstream
(its URL as upstream gave it, or on the ``download-mirror``) with its digest; nothing is
downloaded. A client that can reach the upstream resolves such a project by name through the
mirror and installs it from there; ``serve`` and nginx need nothing special (the page exists).

These pages are not the record's: no file under ``web/packages`` is theirs and ``reindex``
skips them. ``.frumious/metadata-only`` remembers each one with the listing serial it was made
for, so a run asks upstream only for excluded projects that are new or changed (one request
each: the first run with a full PyPI listing and a small allowlist asks ~700,000). A page goes
when its project leaves the listing, or all of them when the policy is no longer
``metadata-only``, within ``max-delete-share`` (of the mirror's projects and these pages
together) unless ``--allow-mass-delete``; a project that the filters now allow is the sync's
own again. The run needs upstream's full listing for this: ``plan.fetch_listing`` skips the
allowlist's shortcut, and ``plan.gather`` the listing's 304 until a first run kept these pages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import msgspec

from frumious.errors import NotFound, ends_run
from frumious.models import DistFile, ListingEntry, canonicalize_name
from frumious.plan import Options, Plan, removal_limit
from frumious.project import Context, candidate_urls, write_pages
from frumious.protocol.statefiles import Fallback
from frumious.runreport import Kind, Outcome, SyncReport
from frumious.settings import FilteredProjects

__all__ = ["Done", "follow"]

log = logging.getLogger("frumious.sync")


class Done(msgspec.Struct, frozen=True):
    """What ``follow`` did: pages written and removed, and whether any failed (then the listing's ETag is dropped)."""

    written: int = 0
    removed: int = 0
    failed: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.written or self.removed)


async def follow(ctx: Context, plan: Plan, options: Options, report: SyncReport) -> Done:
    """Bring the metadata-only pages in line with the policy and this run's listing (after the queue)."""
    pages = await ctx.mirror.metadata_only()
    wanted = ctx.settings.filtered_projects is FilteredProjects.METADATA_ONLY
    if pages is None and not wanted:
        return Done()
    if wanted and plan.outside is None:
        return Done()  # no listing this run (a 304, a resumed todo): nothing upstream changed
    pages = dict(pages or {})
    listed = {canonicalize_name(entry.name): entry for entry in (plan.outside or ()) if wanted}
    held = ctx.record.project
    # A project the mirror holds in full (now allowed, or excluded but kept) is the sync's alone.
    for name in [name for name in pages if held(name) is not None]:
        del pages[name]
    try:
        removed = await _remove(ctx, pages, [name for name in pages if name not in listed], options, report)
        due = [e for name, e in listed.items() if held(name) is None and _stale(pages.get(name), e)]
        written, failed = await _write(ctx, pages, due, report) if due else (0, 0)
    finally:  # also when a signal stops the run: the next one knows what is on disk
        await ctx.mirror.save_metadata_only(pages if wanted or pages else None)
    if written or removed:
        log.info("Metadata-only pages: %d written, %d removed, %d kept", written, removed, len(pages))
    return Done(written, removed, failed)


def _stale(known: Fallback | None, entry: ListingEntry) -> bool:
    return known is None or known.serial < entry.serial


async def _remove(
    ctx: Context, pages: dict[str, Fallback], names: list[str], options: Options, report: SyncReport
) -> int:
    """Remove the pages of ``names`` (forgotten from ``pages``), unless the safety valve refuses."""
    doomed = [name for name in names if pages[name].page]
    total = ctx.record.count() + sum(1 for f in pages.values() if f.page)
    limit = removal_limit(total, ctx.settings.max_delete_share)
    if len(doomed) > limit and not options.allow_mass_delete:
        refused = f"refusing to remove {len(doomed)} metadata-only page(s) of {total} projects and pages in one run"
        refused += f" (max-delete-share allows {limit}); if that is intended, rerun with --allow-mass-delete"
        log.error("%s", refused)
        report.refused = report.refused or refused
        return 0
    for name in names:
        if pages.pop(name).page:
            await ctx.mirror.remove_pages(name)
    return len(doomed)


async def _write(
    ctx: Context, pages: dict[str, Fallback], due: list[ListingEntry], report: SyncReport
) -> tuple[int, int]:
    """Fetch each due project and write its metadata-only page; (written, failed)."""
    entries: Iterator[ListingEntry] = iter(due)
    counts = [0, 0]

    async def worker() -> None:
        for entry in entries:
            try:
                # Awaited before the add: `counts[0] += await ...` reads the count before the
                # fetch suspends and so drops the pages the other workers wrote meanwhile.
                written = await _page(ctx, pages, entry)
                counts[0] += written
            except Exception as exc:
                if ends_run(exc):
                    raise
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.error("%s: its metadata-only page failed: %s", entry.name, reason)
                report.add(entry, Outcome(entry.name, Kind.FAILED, f"metadata-only page: {reason}"))
                counts[1] += 1

    log.info("Writing %d metadata-only page(s)", len(due))
    async with asyncio.TaskGroup() as group:
        for _ in range(ctx.settings.workers):
            group.create_task(worker())
    return counts[0], counts[1]


async def _page(ctx: Context, pages: dict[str, Fallback], entry: ListingEntry) -> int:
    """One project's page (1), or none when upstream shows nothing or a metadata filter refuses it (0)."""
    name = canonicalize_name(entry.name)
    try:
        offered = await ctx.upstream.project(entry.name, entry.serial)
    except NotFound:
        offered = None
    if offered is None or not ctx.filters.allows_metadata(offered):
        if name in pages and pages[name].page:
            await ctx.mirror.remove_pages(name)
        pages[name] = Fallback(entry.serial, page=False)
        return 0
    settings = ctx.settings

    def upstream_url(dist: DistFile) -> str:
        return candidate_urls(settings, dist)[0]

    # Release and file filters still apply: the page offers what the mirror would carry.
    await write_pages(ctx, ctx.filters.apply(offered), entry, None, file_url=upstream_url)
    pages[name] = Fallback(entry.serial)
    return 1
