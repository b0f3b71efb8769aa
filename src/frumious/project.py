"""One project's pipeline: fetch, filter, save JSON, mirror files, write pages.

A project either finishes completely (files verified, then pages) or raises;
its pages are never rewritten to point at files that are not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

from frumious import claims
from frumious.download import check_stored, download
from frumious.errors import BadUpstreamData, NotFound, ends_run
from frumious.filters import FilterSet
from frumious.mirror import Mirror
from frumious.models import DistFile, ListingEntry, Project, StoredFile, canonicalize_name
from frumious.protocol import layout, render
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.settings import MirrorSettings
from frumious.stats import Progress
from frumious.storage.base import Store
from frumious.upstream import Upstream

log = logging.getLogger("frumious.sync")


@dataclass
class Context:
    upstream: Upstream
    mirror: Mirror
    filters: FilterSet
    progress: Progress
    files_gate: asyncio.Semaphore
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Projects that vanished from the listing: removed when upstream confirms with a 404.
    vanished: set[str] = field(default_factory=set)
    # Keys claimed and files being removed this run; it also carries --allow-mass-delete.
    guard: claims.RunGuard = field(default_factory=claims.RunGuard)
    # Every key written this run, for the diff file only (failed projects' files included, as on disk).
    written: list[str] = field(default_factory=list)

    @property
    def settings(self) -> MirrorSettings:
        return self.mirror.settings

    @property
    def store(self) -> Store:
        return self.mirror.store

    @property
    def record(self) -> MirrorRecord:
        return self.mirror.record


class Kind(Enum):
    """What became of one queued project."""

    SYNCED = "synced"
    SKIPPED = "skipped by a metadata filter"
    NO_RELEASES = "listed with no releases"
    GONE = "gone upstream"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What syncing one project did, by its listed name; the run aggregates these into its report.

    ``reason`` says why it FAILED; ``kept`` counts the files a project with NO_RELEASES still holds;
    ``removed`` its stale files removed, ``would_prune`` those kept though filtered (prune-filtered = false).
    """

    name: str
    kind: Kind
    reason: str = ""
    kept: int = 0
    removed: tuple[str, ...] = ()
    would_prune: tuple[str, ...] = ()

    @property
    def canonical(self) -> str:
        return canonicalize_name(self.name)


async def sync_project(ctx: Context, entry: ListingEntry) -> Outcome:
    try:
        project = await ctx.upstream.project(entry.name, entry.serial)
    except NotFound:
        log.info("%s no longer exists upstream", entry.name)
        return Outcome(entry.name, Kind.GONE)
    if not ctx.filters.allows_metadata(project):
        log.info("%s excluded by a metadata filter", entry.name)
        return Outcome(entry.name, Kind.SKIPPED)
    upstream_project = project
    project = ctx.filters.apply(project)  # releases left without files are dropped there
    doomed: set[str] = set()
    kept: list[str] = []
    try:
        # Refusals (a key another project owns, too many files to remove) come before any write.
        if ctx.settings.release_files:
            doomed = await plan_files(ctx, upstream_project, project, kept)
        if ctx.settings.json:
            _wrote(ctx, await ctx.mirror.save_json(upstream_project))
        with_metadata = await mirror_files(ctx, project) if ctx.settings.release_files else None
        await write_pages(ctx, project, entry, with_metadata)
        ctx.record.record(*index_rows(ctx.settings, project, with_metadata))
    except BaseException:
        # The project failed before removing anything: its reserved removals go back to the run's limit.
        ctx.guard.files_removing -= len(doomed)
        raise
    finally:
        ctx.guard.release(project.canonical)
    removed = await prune_stale_files(ctx, project, doomed) if doomed else []
    if ctx.settings.cleanup:
        await cleanup_legacy_dirs(ctx, entry.name)
    return Outcome(entry.name, Kind.SYNCED, removed=tuple(removed), would_prune=tuple(kept))


async def plan_files(ctx: Context, upstream: Project, kept: Project, would_prune: list[str]) -> set[str]:
    """Claim the project's keys and reserve the removal of its stale files; the files to remove.

    Stale files kept because prune-filtered is false are added to ``would_prune``.
    """
    claims.claim_keys(ctx.guard, ctx.record, ctx.settings, kept)
    previous = await ctx.mirror.held_keys(kept.canonical)
    if not previous:
        return set()
    doomed = stale_files(ctx, upstream, kept, previous, would_prune)
    claims.allow_removal(ctx.guard, ctx.record, ctx.settings, kept.name, len(doomed), len(previous))
    return doomed


def index_rows(
    mirror: MirrorSettings, project: Project, with_metadata: set[str] | None
) -> tuple[ProjectRow, list[StoredFile]]:
    """What the index records for a project whose pages were just written."""
    row = ProjectRow(project.canonical, project.name, project.serial, time.time())
    if with_metadata is None:
        return row, []
    files = []
    for dist, file, sidecar in stored_files(mirror, project):
        files.append(file)
        if sidecar is not None and dist.filename in with_metadata:
            files.append(sidecar)
    return row, files


def stale_files(ctx: Context, upstream: Project, kept: Project, previous: set[str], would_prune: list[str]) -> set[str]:
    """Files the old page listed that the new one does not and that go: filtered out, or gone upstream."""
    stale = previous - {layout.package_key(dist.url) for dist in kept.files}
    if not stale:
        return set()
    offered = set()
    for dist in upstream.files:
        with contextlib.suppress(BadUpstreamData):
            offered.add(layout.package_key(dist.url))
    filtered, vanished = stale & offered, stale - offered
    if filtered and not ctx.settings.prune_filtered:
        would_prune.extend(sorted(filtered))
        log.warning(
            "%s: %d file(s) now excluded by filters are kept (prune-filtered = false)", kept.name, len(filtered)
        )
        filtered = set()
    if ctx.settings.keep_removed:
        vanished = set()
    return filtered | vanished


async def prune_stale_files(ctx: Context, kept: Project, doomed: set[str]) -> list[str]:
    """Remove the files ``stale_files`` chose, except any another project holds; the keys removed."""
    removed = await ctx.mirror.remove_files(doomed, claims.foreign(ctx.guard, ctx.record, kept.canonical))
    if removed:
        log.info("%s: removed %d file(s) no longer offered or now filtered out", kept.name, len(removed))
    return removed


def stored_files(mirror: MirrorSettings, project: Project) -> list[tuple[DistFile, StoredFile, StoredFile | None]]:
    """Each file of ``project`` with the object it needs and its .metadata sidecar, if any."""
    result = []
    canonical = project.canonical
    for dist in project.files:
        digest = dist.digests.get(mirror.digest_name)
        if not digest:
            raise BadUpstreamData(f"{dist.filename} has no {mirror.digest_name} digest upstream")
        key = layout.package_key(dist.url)
        urls = candidate_urls(mirror, dist.url)
        uploaded = dist.upload_timestamp
        file = StoredFile(
            key, canonical, dist.version, dist.size, mirror.digest_name, digest, uploaded, False, urls, dist.digests
        )
        sidecar = None
        best = render.metadata_digest(dist, mirror.digest_name) if mirror.core_metadata else None
        if best is not None:
            # PEP 658: the metadata lives at the file's URL plus ".metadata", as pip builds it.
            sidecar_urls = tuple(f"{url}.metadata" for url in urls)
            sidecar = StoredFile(
                layout.metadata_key(key), canonical, dist.version, None, *best, uploaded, True, sidecar_urls,
                dist.metadata_digests,
            )  # fmt: skip
        result.append((dist, file, sidecar))
    return result


def candidate_urls(mirror: MirrorSettings, url: str) -> tuple[str, ...]:
    if not mirror.download_mirror:
        return (url,)
    mirrored = layout.download_url(url, mirror.download_mirror)
    return (mirrored,) if mirror.download_mirror_no_fallback else (mirrored, url)


async def mirror_files(ctx: Context, project: Project) -> set[str]:
    """Make every file current; the filenames whose .metadata is mirrored."""
    plan = stored_files(ctx.settings, project)
    ctx.progress.files_total += len(plan) + sum(1 for _d, _w, sidecar in plan if sidecar is not None)
    results = await asyncio.gather(*(_mirror_one(ctx, d, w, s) for d, w, s in plan), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        # Every file was attempted; a refused disk or lost lease stops the run, else the first failure fails it.
        raise next((e for e in errors if ends_run(e)), errors[0])
    return {dist.filename for (dist, _w, _s), has_meta in zip(plan, results, strict=True) if has_meta is True}


async def _mirror_one(ctx: Context, dist: DistFile, wanted: StoredFile, sidecar: StoredFile | None) -> bool:
    async with ctx.files_gate:
        await _ensure(ctx, wanted)
        ctx.progress.files_done += 1
        has_metadata = False
        if sidecar is not None:
            try:
                await _ensure(ctx, sidecar)
                has_metadata = True
                ctx.progress.files_done += 1
            except NotFound:
                # Advertised upstream but not served: we simply don't advertise it.
                log.warning("%s: upstream has no .metadata file; not advertising one", dist.filename)
                ctx.progress.files_total -= 1
    return has_metadata


async def _ensure(ctx: Context, wanted: StoredFile) -> None:
    if await check_stored(ctx.store, wanted, ctx.settings.compare_method) is None:
        return
    # upstream gives no size for a .metadata sidecar: its body is bounded by max-project-size
    size = await download(ctx.upstream, ctx.store, wanted, ctx.settings.digest_name, ctx.settings.max_project_size)
    ctx.progress.files_downloaded += 1
    ctx.progress.bytes_downloaded += size
    _wrote(ctx, wanted.key)


async def write_pages(ctx: Context, project: Project, entry: ListingEntry, with_metadata: set[str] | None) -> None:
    """Render and write the project's pages in the configured formats."""
    mirror = ctx.settings

    def has_metadata(dist: DistFile) -> bool:
        return with_metadata is None or dist.filename in with_metadata

    options = {
        "digest_name": mirror.digest_name,
        "root_uri": mirror.root_uri,
        "core_metadata": mirror.core_metadata,
        "has_metadata": has_metadata,
    }
    pages: dict[str, bytes] = {}
    if mirror.simple_format.html:
        html = render.project_html(project, raw_name=entry.name, **options)  # type: ignore[arg-type]
        pages["html"], pages["v1_html"] = html, html
    if mirror.simple_format.json:
        pages["v1_json"] = render.project_json(project, **options)  # type: ignore[arg-type]
    directory = layout.simple_dir(project.canonical, mirror.hash_index)
    for ext, data in pages.items():
        _wrote(ctx, await ctx.mirror.write_page(directory, ext, data, entry.serial, ctx.now))


def _wrote(ctx: Context, key: str) -> None:
    # Only the diff file reads this list; without one it would hold every key of the run.
    if ctx.settings.diff_file:
        ctx.written.append(key)


def legacy_names(name: str) -> set[str]:
    """Pre-PEP 503 spellings of a project directory that ``cleanup`` removes."""
    safe = re.sub(r"[^A-Za-z0-9.]+", "-", name).lower()
    return {name, safe} - {canonicalize_name(name)}


async def cleanup_legacy_dirs(ctx: Context, name: str) -> None:
    canonical_dir = layout.simple_dir(canonicalize_name(name), ctx.settings.hash_index)
    for legacy in legacy_names(name):
        await ctx.mirror.remove_legacy_dir(layout.simple_dir(legacy, ctx.settings.hash_index), canonical_dir)
