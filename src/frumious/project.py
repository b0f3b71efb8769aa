"""The per-file steps of one project's sync, in the order ``sync.sync_project`` calls them.

``stored_files`` (what each file needs), ``plan_files`` (claim keys, choose and reserve stale
files), ``mirror_files`` (check or download each), ``write_pages``, then ``prune_stale_files``.
Every step takes the run's ``Context``. A project either finishes completely (files verified,
then pages) or raises; its pages are never rewritten to point at files that are not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from datetime import UTC, datetime

import msgspec

from frumious import claims
from frumious.download import ahead, check_stored, download, fetch_ahead
from frumious.errors import BadUpstreamData, NotFound, ends_run
from frumious.filters import FilterSet
from frumious.mirror import Mirror
from frumious.models import DistFile, ListingEntry, Project, StoredFile, canonicalize_name, replace
from frumious.protocol import layout, render
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.settings import MirrorSettings
from frumious.stats import Progress
from frumious.storage.base import Store
from frumious.upstream import Upstream

log = logging.getLogger("frumious.sync")

# One file of a project: its upstream entry, the object it needs, and its .metadata sidecar if any.
FileEntry = tuple[DistFile, StoredFile, StoredFile | None]


class Context(msgspec.Struct, frozen=True):
    """What every project of one run shares; built complete by the run, only its guard and ``written`` change."""

    upstream: Upstream
    mirror: Mirror
    filters: FilterSet
    progress: Progress
    files_gate: asyncio.Semaphore
    now: datetime = msgspec.field(default_factory=lambda: datetime.now(UTC))
    # Projects that vanished from the listing: removed when upstream confirms with a 404.
    vanished: frozenset[str] = frozenset()
    # Projects filtered again from the upstream document the mirror keeps (``recheck``), canonical.
    stored: frozenset[str] = frozenset()
    # Keys claimed and files being removed this run; it also carries --allow-mass-delete.
    guard: claims.RunGuard = msgspec.field(default_factory=claims.RunGuard)
    # Every key written this run, for the diff file only (failed projects' files included, as on disk).
    written: list[str] = msgspec.field(default_factory=list)

    @property
    def settings(self) -> MirrorSettings:
        return self.mirror.settings

    @property
    def store(self) -> Store:
        return self.mirror.store

    @property
    def record(self) -> MirrorRecord:
        return self.mirror.record

    def wrote(self, key: str) -> None:
        # Only the diff file reads this list; without one it would hold every key of the run.
        if self.settings.diff_file:
            self.written.append(key)


async def plan_files(
    ctx: Context, upstream: Project, kept: Project, files: list[FileEntry], *, new: bool | None = None
) -> tuple[set[str], list[str]]:
    """Claim the project's keys and reserve the removal of its stale files.

    The files to remove, and the stale files kept because prune-filtered is false. ``new``: whether the
    record has no row for the project (looked up when not given; ``sync_project`` looks once for every step).
    """
    claims.claim_keys(ctx.guard, ctx.record, kept, objects(files))
    if new if new is not None else ctx.record.project(kept.canonical) is None:
        # New to the record, which is rebuilt from the pages when stale: it has no page to read
        # (reading both kinds cost two failed opens per new project).
        return set(), []
    previous = await ctx.mirror.held_keys(kept.canonical)
    if not previous:
        return set(), []
    would_prune: list[str] = []
    doomed = stale_files(ctx, upstream, kept, previous, would_prune)
    claims.allow_removal(ctx.guard, ctx.record, ctx.settings, kept.name, len(doomed), len(previous))
    return doomed, would_prune


def index_rows(
    project: Project, files: list[FileEntry], with_metadata: set[str] | None
) -> tuple[ProjectRow, list[StoredFile]]:
    """What the record keeps for a project whose pages were just written (``files``: its ``stored_files``)."""
    row = ProjectRow(project.canonical, project.name, project.serial, time.time())
    if with_metadata is None:
        return row, []
    rows = []
    for dist, file, sidecar in files:
        rows.append(file)
        if sidecar is not None and dist.filename in with_metadata:
            rows.append(sidecar)
    return row, rows


def stale_files(ctx: Context, upstream: Project, kept: Project, previous: set[str], would_prune: list[str]) -> set[str]:
    """Files the old page listed that the new one does not and that go: filtered out, or gone upstream."""
    stale = previous - {layout.dist_key(dist) for dist in kept.files}
    if not stale:
        return set()
    offered = set()
    # A quarantined project's files count as gone upstream, whether or not its page still listed them.
    for dist in upstream.files if upstream.status != render.QUARANTINED else ():
        with contextlib.suppress(BadUpstreamData):
            offered.add(layout.dist_key(dist))
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


def withheld(project: Project) -> Project:
    """PEP 792: a quarantined project offers no files, so none is fetched and the mirror's go (within the valves)."""
    if project.status != render.QUARANTINED or not project.releases:
        return project
    log.warning("%s is quarantined upstream: its page lists no files and its mirrored files are removed", project.name)
    return replace(project, releases={})


async def prune_stale_files(ctx: Context, kept: Project, doomed: set[str]) -> list[str]:
    """Remove the files ``stale_files`` chose, except any another project holds; the keys removed."""
    removed = await ctx.mirror.remove_files(doomed, ctx.mirror.owned_elsewhere(kept.canonical, ctx.guard.claims))
    if removed:
        log.info("%s: removed %d file(s) no longer offered or now filtered out", kept.name, len(removed))
    return removed


def stored_files(settings: MirrorSettings, project: Project) -> list[FileEntry]:
    """Each file of ``project`` with the object it needs and its .metadata sidecar, if any."""
    result = []
    canonical = project.canonical
    for dist in project.files:
        digest = dist.digests.get(settings.digest_name)
        if not digest:
            raise BadUpstreamData(f"{dist.filename} has no {settings.digest_name} digest upstream")
        key = layout.dist_key(dist)
        urls = candidate_urls(settings, dist)
        uploaded = dist.upload_timestamp
        file = StoredFile(
            key, canonical, dist.version, dist.size, settings.digest_name, digest, uploaded, False, urls, dist.digests
        )
        sidecar = None
        best = render.metadata_digest(dist, settings.digest_name) if settings.core_metadata else None
        if best is not None:
            # PEP 658: the metadata lives at the file's URL plus ".metadata", as pip builds it.
            sidecar_urls = tuple(f"{url}.metadata" for url in urls)
            sidecar = StoredFile(
                layout.metadata_key(key), canonical, dist.version, None, *best, uploaded, True, sidecar_urls,
                dist.metadata_digests,
            )  # fmt: skip
        result.append((dist, file, sidecar))
    return result


def objects(files: list[FileEntry]) -> list[StoredFile]:
    """Every object ``files`` need: each release file, then its sidecar if any."""
    return [obj for _dist, file, sidecar in files for obj in (file, sidecar) if obj is not None]


def candidate_urls(settings: MirrorSettings, dist: DistFile) -> tuple[str, ...]:
    """Where to fetch a file: only where upstream's page points (resolved against it), or the download mirror.

    Any host the page names is allowed, as pip allows it (a PyTorch-style index keeps its files on a
    second host): the user chose the upstream, and every file is checked against the page's digest.
    """
    if not settings.download_mirror:
        return (dist.url,)
    mirrored = layout.download_url(layout.dist_place(dist).href, settings.download_mirror)
    return (mirrored,) if settings.download_mirror_no_fallback else (mirrored, dist.url)


async def mirror_files(ctx: Context, files: list[FileEntry], *, new: bool | None = None) -> set[str]:
    """Make every file current; the filenames whose .metadata is mirrored (``new``: as for ``plan_files``)."""
    ctx.progress.files_total += len(files) + sum(1 for _d, _w, sidecar in files if sidecar is not None)
    # compare-method = hash trusts the digests the record verified (size and time unchanged).
    rows = ctx.record.files(files[0][1].project) if files and not new else []
    known = {f.key: f for f in rows}
    # A project the record has never seen has nothing stored: its files are fetched without a stat
    # each (a failed stat per new file before).
    if new is None:
        new = not rows and bool(files) and ctx.record.project(files[0][1].project) is None
    fresh = new and bool(files)
    results = await _drive(ctx, files, known, fresh)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        # Every file was attempted; a refused disk or lost lease stops the run, else the first failure fails it.
        raise next((e for e in errors if ends_run(e)), errors[0])
    return {dist.filename for (dist, _w, _s), has_meta in zip(files, results, strict=True) if has_meta is True}


async def _drive(
    ctx: Context, files: list[FileEntry], known: dict[str, StoredFile], fresh: bool
) -> list[bool | BaseException]:
    """Every file through ``_mirror_one`` within the run's files gate: each result, or its error.

    A new project's small files come first over one connection, their requests written ahead
    (``_fetch_ahead``); what that did not bring goes the one-at-a-time way. There a task per file
    (``gather``), except that a lone file runs in the project's own task (about 34 k instructions a
    project), and a file fetched ahead needs none (a task and its scheduling for nothing, per file).
    Runners taking a project's files in turn (a task only while the gate had a free slot) made fewer
    instructions under callgrind, and held a 10,000-file project in under 0.1 MiB instead of 15 MiB,
    but cost 8 % more CPU at five files a project natively (4 alternating rounds, 1.06-1.10 each;
    not understood): not kept.
    """
    gate = ctx.files_gate
    have: set[str] = await _fetch_ahead(ctx, files) if fresh and len(files) > 1 else set()
    results: list[bool | BaseException] = []
    rest: list[int] = []  # the files ``have`` lacks: each needs a task (a file fetched ahead needs none)
    for i, (_dist, wanted, sidecar) in enumerate(files):
        results.append(sidecar is not None)
        if wanted.key not in have or (sidecar is not None and sidecar.key not in have):
            rest.append(i)

    async def one(dist: DistFile, wanted: StoredFile, sidecar: StoredFile | None) -> bool:
        await gate.acquire()  # not ``async with``: its ``__aenter__`` is one more coroutine per file
        try:
            return await _mirror_one(ctx, dist, wanted, sidecar, known, fresh, have)
        finally:
            gate.release()

    if len(rest) == 1:
        try:
            results[rest[0]] = await one(*files[rest[0]])
        except Exception as exc:  # as gather's return_exceptions: ``mirror_files`` chooses what to raise
            results[rest[0]] = exc
    elif rest:
        done = await asyncio.gather(*(one(*files[i]) for i in rest), return_exceptions=True)
        for i, result in zip(rest, done, strict=True):
            results[i] = result
    return results


async def _fetch_ahead(ctx: Context, files: list[FileEntry]) -> set[str]:
    """The keys of a new project's files ``download.fetch_ahead`` put in place (small ones, sidecars after theirs)."""
    stream: list[StoredFile] = []
    for _dist, wanted, sidecar in files:
        if ahead(ctx.upstream, wanted):
            stream.append(wanted)
            if sidecar is not None and ahead(ctx.upstream, sidecar):
                stream.append(sidecar)
    have: set[str] = set()
    if len(stream) < 2:
        return have

    def done(file: StoredFile, size: int) -> None:
        have.add(file.key)
        progress = ctx.progress
        progress.files_done += 1
        progress.files_downloaded += 1
        progress.bytes_downloaded += size
        ctx.wrote(file.key)

    await ctx.files_gate.acquire()
    try:
        await fetch_ahead(ctx.upstream, ctx.store, stream, ctx.settings.digest_name, done)
    finally:
        ctx.files_gate.release()
    return have


async def _mirror_one(
    ctx: Context,
    dist: DistFile,
    wanted: StoredFile,
    sidecar: StoredFile | None,
    known: dict[str, StoredFile],
    fresh: bool = False,
    have: set[str] | frozenset[str] = frozenset(),
) -> bool:
    """``wanted``, then its sidecar, made current (each unless ``have`` holds its key); whether the sidecar is."""
    if wanted.key not in have:
        await _ensure(ctx, wanted, known.get(wanted.key), fresh)
        ctx.progress.files_done += 1
    if sidecar is None:
        return False
    if sidecar.key in have:
        return True
    try:
        await _ensure(ctx, sidecar, known.get(sidecar.key), fresh)
    except NotFound:
        # Advertised upstream but not served: we simply don't advertise it.
        log.warning("%s: upstream has no .metadata file; not advertising one", dist.filename)
        ctx.progress.files_total -= 1
        return False
    ctx.progress.files_done += 1
    return True


async def _ensure(ctx: Context, wanted: StoredFile, recorded: StoredFile | None, fresh: bool = False) -> None:
    if not fresh and await check_stored(ctx.store, wanted, ctx.settings.compare_method, known=recorded) is None:
        return
    # upstream gives no size for a .metadata sidecar: its body is bounded by max-project-size
    size = await download(ctx.upstream, ctx.store, wanted, ctx.settings.digest_name, ctx.settings.max_project_size)
    ctx.progress.files_downloaded += 1
    ctx.progress.bytes_downloaded += size
    ctx.wrote(wanted.key)


async def write_pages(
    ctx: Context,
    project: Project,
    entry: ListingEntry,
    with_metadata: set[str] | None,
    file_url: render.FileURL | None = None,
    *,
    new: bool | None = None,
) -> None:
    """Render and write the project's pages in the configured formats (``file_url``: links elsewhere).

    ``new``: as for ``plan_files``; a new project's page directory is made first.
    """
    settings = ctx.settings

    def has_metadata(dist: DistFile) -> bool:
        return with_metadata is None or dist.filename in with_metadata

    options = {
        "digest_name": settings.digest_name,
        "root_uri": settings.root_uri,
        "core_metadata": settings.core_metadata,
        "has_metadata": has_metadata,
        "file_url": file_url,
    }
    pages: list[tuple[tuple[str, ...], bytes]] = []
    if settings.simple_format.html:
        html = render.project_html(project, raw_name=entry.name, **options)  # type: ignore[arg-type]
        pages.append((("html", "v1_html"), html))
    if settings.simple_format.json:
        pages.append((("v1_json",), render.project_json(project, **options)))  # type: ignore[arg-type]
    directory = layout.simple_dir(project.canonical, settings.hash_index)
    if ctx.mirror.layout.keep_index_versions > 0:
        for exts, data in pages:
            for ext in exts:
                ctx.wrote(await ctx.mirror.write_page(directory, ext, data, entry.serial, ctx.now))
        return
    # Written once per distinct bytes (the two HTML names are linked); a project the record never saw gets
    # its directory made first, not after a failed rename.
    new_dir = new if new is not None else ctx.record.project(project.canonical) is None
    for exts, data in pages:
        keys = [layout.page_key(directory, ext) for ext in exts]
        await ctx.store.write_alike(keys, data, new_dir=new_dir)
        new_dir = False
        for key in keys:
            ctx.wrote(key)


def legacy_names(name: str) -> set[str]:
    """Pre-PEP 503 spellings of a project directory that ``cleanup`` removes."""
    safe = re.sub(r"[^A-Za-z0-9.]+", "-", name).lower()
    return {name, safe} - {canonicalize_name(name)}


async def cleanup_legacy_dirs(ctx: Context, name: str) -> None:
    canonical_dir = layout.simple_dir(canonicalize_name(name), ctx.settings.hash_index)
    for legacy in legacy_names(name):
        await ctx.mirror.remove_legacy_dir(layout.simple_dir(legacy, ctx.settings.hash_index), canonical_dir)
