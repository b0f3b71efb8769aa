"""``frumious verify``: re-check every file the index records, repair what is bad, find orphans.

Works from the index, not from ``web/json``: each file is checked against its recorded
size and digest (``compare-method = stat`` trusts size plus upload time and hashes only
when they disagree), and a bad or missing file is downloaded again from upstream with
the same digest check as a sync. ``--delete`` removes files under ``web/packages`` that
no project owns. The pass is resumable: the last project checked in order is kept in
the index, and an interrupted verify continues after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Container, Mapping, Sequence

import msgspec

from frumious.download import check_stored, download
from frumious.errors import BadUpstreamData, FrumiousError, NotFound, ObjectMissing, ends_run
from frumious.mirror import Mirror
from frumious.models import DistFile, Project, StoredFile, replace
from frumious.project import candidate_urls
from frumious.protocol import layout, pagelinks, warehouse
from frumious.record.db import MirrorRecord
from frumious.record.rebuild import project_of_filename
from frumious.stats import Progress, Report, stops_with
from frumious.storage.base import Store
from frumious.upstream import Upstream

log = logging.getLogger("frumious.verify")

CHECKPOINT = "verify-after"
# Seconds between checkpoint writes; an interruption also writes one on the way out.
CHECKPOINT_EVERY = 2.0


class VerifyOptions(msgspec.Struct, frozen=True):
    delete: bool = False
    dry_run: bool = False
    json_update: bool = False
    workers: int = 3
    restart: bool = False


class VerifyReport(Report):
    options: VerifyOptions
    resumed_after: str | None = None
    already_checked: int = 0
    bad: dict[str, str] = msgspec.field(default_factory=dict)
    repaired: list[str] = msgspec.field(default_factory=list)
    orphans: list[str] = msgspec.field(default_factory=list)
    json_updated: int = 0
    gone: list[str] = msgspec.field(default_factory=list)  # with --json-update: gone upstream, kept
    removed: list[str] = msgspec.field(default_factory=list)  # unowned files removed (--delete)


class _Run(msgspec.Struct):
    upstream: Upstream
    tree: Mirror
    options: VerifyOptions
    report: VerifyReport


class Watermark:
    """The last project such that it and every project before it were checked."""

    def __init__(self, record: MirrorRecord, names: Sequence[str], *, enabled: bool) -> None:
        self.record, self.names, self.enabled = record, names, enabled
        self.position = 0
        self.done: set[str] = set()
        self.saved_at = time.monotonic()

    def finished(self, name: str) -> None:
        self.done.add(name)
        while self.position < len(self.names) and self.names[self.position] in self.done:
            self.done.discard(self.names[self.position])
            self.position += 1
        if time.monotonic() - self.saved_at >= CHECKPOINT_EVERY:
            self.save()

    def save(self) -> None:
        self.saved_at = time.monotonic()
        if self.enabled and self.position:
            self.record.set_meta(CHECKPOINT, self.names[self.position - 1])


async def verify(upstream: Upstream, tree: Mirror, options: VerifyOptions, progress: Progress) -> VerifyReport:
    """Check every recorded file; a refused disk stops it with ``RunStopped`` carrying the report so far."""
    report = VerifyReport(progress=progress, options=options, started=time.time())
    with stops_with(report):
        await _verify(_Run(upstream, tree, options, report))
    report.finished = time.time()
    return report


async def _verify(run: _Run) -> None:
    record, options, report, progress = run.tree.record, run.options, run.report, run.report.progress
    after = "" if options.restart or options.dry_run else record.get_meta(CHECKPOINT) or ""
    names = record.names(after)
    if after:
        report.resumed_after, report.already_checked = after, record.count() - len(names)
        log.info(
            "Resuming an interrupted verify after %s (%d project(s) already checked)", after, report.already_checked
        )
    progress.projects_total, progress.files_total = len(names), record.count_files(after)
    mark = Watermark(record, names, enabled=not options.dry_run)
    try:
        await _check_all(run, names, mark)
    except BaseException:
        mark.save()  # interrupted: the next verify continues after the last project checked
        raise
    if not options.dry_run:
        record.set_meta(CHECKPOINT, None)  # a complete pass: the next one starts from the top
    if options.delete:
        await delete_orphans(run)
    if report.repaired or report.removed:
        await run.tree.store.flush()


async def _check_all(run: _Run, names: Sequence[str], mark: Watermark) -> None:
    queue = iter(names)

    async def worker() -> None:
        for name in queue:
            await check_project(run, name)
            run.report.progress.projects_done += 1
            mark.finished(name)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, run.options.workers)):
            group.create_task(worker())


async def check_project(run: _Run, name: str) -> None:
    try:
        if not _parsed(run.tree.record, name):
            raise FrumiousError(f"its page could not be read when the mirror was indexed; run 'frumious sync {name}'")
        upstream = await refresh_json(run, name) if run.options.json_update else None
        bad = []
        rows = run.tree.record.files(name)
        for row in rows:
            problem = await check_stored(
                run.tree.store, row, run.tree.settings.compare_method, fix=not run.options.dry_run
            )
            run.report.progress.files_done += 1
            if problem:
                log.warning("%s: %s", row.key, problem)
                run.report.bad[row.key] = problem
                bad.append(row)
        if bad and not run.options.dry_run:
            await repair(run, name, bad, upstream)
        await check_pages(run, name, rows)
    except (FrumiousError, OSError, ValueError) as exc:
        if ends_run(exc):
            raise  # a full or read-only disk, a lost lease, a damaged index stop the whole verify
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        run.report.failed[name] = reason
        log.error("%s failed: %s", name, reason)


async def check_pages(run: _Run, name: str, rows: Sequence[StoredFile]) -> None:
    """Each page's links must name files this project owns, with the digests recorded for them.

    The file checks above prove the bytes match the index; this proves every page advertises
    those same digests (a page can disagree, e.g. when two projects once shared a key).
    """
    by_key = {row.key: row for row in rows}
    problems = []
    for key, link in await _page_links(run, name, by_key):
        problem = await _link_problem(run, by_key, link)
        if problem:
            run.report.bad[f"{key} -> {link[0]}"] = problem
            problems.append(f"{key} links {link[0]}, but {problem}")
    for problem in problems:
        log.warning("%s: %s", name, problem)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise FrumiousError(f"{problems[0]}{more}; run 'frumious sync {name}' to rewrite its pages")


async def _page_links(run: _Run, name: str, rows: Mapping[str, StoredFile]) -> list[tuple[str, tuple[str, str, str]]]:
    """(page key, (file key, algorithm, digest)) for every mirrored file and sidecar its pages advertise."""
    pages = layout.page_keys(layout.simple_dir(name, run.tree.settings.hash_index))
    keys: dict[str, str | None] = {}  # the HTML and JSON pages link the same hrefs: resolve each once
    links = []
    for key, json_page in ((pages.v1_json, True), (pages.html, False)):
        try:
            page = pagelinks.read_page(await run.tree.store.read(key), json_page=json_page)
        except ObjectMissing:
            continue
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError included
            raise FrumiousError(f"its page {key} cannot be read ({exc})") from None
        for linked in page.files:
            if linked.href not in keys:
                keys[linked.href] = _file_key(run, name, linked.href, rows)
            file_key = keys[linked.href]
            if file_key is None:
                continue  # links upstream (release-files = false): nothing of ours to check
            links.append((key, (file_key, linked.algorithm, linked.digest)))
            if linked.metadata is not None:
                links.append((key, (layout.metadata_key(file_key), *linked.metadata)))
    return links


_OWN_LINK = "../../packages/"


def _file_key(run: _Run, name: str, href: str, rows: Mapping[str, StoredFile]) -> str | None:
    # The pages frumious writes link "../../packages/<path>": when that path is a recorded key
    # verbatim (no percent-escapes to decode), it is the key; URL parsing cost more than the rest.
    if href.startswith(_OWN_LINK) and "%" not in href:
        key = f"{layout.PACKAGES}/{href[len(_OWN_LINK) :]}"
        if key in rows:
            return key
    return pagelinks.file_key(name, href, run.tree.settings.root_uri)


async def _link_problem(run: _Run, rows: Mapping[str, StoredFile], link: tuple[str, str, str]) -> str | None:
    file_key, algorithm, digest = link
    row = rows.get(file_key)
    if row is None:
        owner = run.tree.record.owner(file_key)
        return f"that file belongs to {owner}" if owner else "the index has no record of that file"
    if row.algorithm == algorithm:
        actual: str | None = row.digest
    else:
        actual = await run.tree.store.digest(file_key, algorithm)
    if actual is None or actual.lower() != digest.lower():
        return f"the page says {algorithm} {digest} and the file has {actual}"
    return None


def _parsed(record: MirrorRecord, name: str) -> bool:
    row = record.project(name)
    return row is None or row.parsed


async def refresh_json(run: _Run, name: str) -> Project | None:
    """``--json-update``: rewrite web/json (and web/pypi) from upstream; the project, None when gone."""
    if run.options.dry_run:
        log.info("[dry run] would refresh the JSON of %s", name)
        return None
    try:
        project = await run.upstream.project(name, 0)
    except NotFound:
        log.warning("%s is gone upstream; its JSON and files are kept", name)
        run.report.gone.append(name)
        return None
    if run.tree.settings.json or await run.tree.store.exists(layout.json_key(project.canonical)):
        await run.tree.save_json(await _held(run, project))
        run.report.json_updated += 1
    return project


async def _held(run: _Run, project: Project) -> Project:
    """``project`` with only the files the mirror holds (its saved JSON lists no others)."""
    if not run.tree.settings.release_files:
        return project
    owned = await run.tree.owned_keys(project.canonical)

    def held(dist: DistFile) -> bool:
        try:
            return layout.dist_key(dist) in owned
        except BadUpstreamData:
            return False

    return warehouse.held_files(project, held)


async def repair(run: _Run, name: str, bad: list[StoredFile], project: Project | None) -> None:
    """Download the bad files again, from the URLs upstream gives for them now."""
    if project is None:
        project = await run.upstream.project(name, 0)
    offered: dict[str, DistFile] = {}
    for upstream_file in project.files:
        with contextlib.suppress(BadUpstreamData):
            offered[layout.dist_key(upstream_file)] = upstream_file
    failures = []
    for row in bad:
        dist = offered.get(row.dist_key)
        if dist is None:
            failures.append(f"{row.key} is no longer offered upstream")
            continue
        sources = candidate_urls(run.tree.settings, dist)
        if row.metadata:
            sources = tuple(f"{source}.metadata" for source in sources)
        # A .metadata sidecar has no recorded size: its body is bounded like the sync's.
        cap = run.tree.settings.max_project_size
        try:
            size = await download(
                run.upstream, run.tree.store, replace(row, urls=sources), run.tree.settings.digest_name, cap
            )
        except FrumiousError as exc:
            if ends_run(exc):
                raise  # a full or read-only disk, a lost lease: the next repair would fail the same way
            failures.append(str(exc).splitlines()[0])
            continue
        run.report.progress.files_downloaded += 1
        run.report.progress.bytes_downloaded += size
        run.report.repaired.append(row.key)
        log.info("Repaired %s", row.key)
    if failures:
        raise FrumiousError(f"{len(failures)} file(s) not repaired: {'; '.join(failures)}")


async def find_orphans(store: Store, record: MirrorRecord) -> list[str]:
    """Files under web/packages no project owns (a sidecar of an owned file counts as owned).

    Files that may belong to a project whose page could not be read are kept.
    """
    return await find_unowned(store, record.owned_keys(), record.unparsed())


async def find_unowned(store: Store, owned: Container[str], unreadable: set[str]) -> list[str]:
    """Files under web/packages not in ``owned``, nor maybe a file of a project in ``unreadable``
    (the owners and unreadable pages of one record, or of every shard's: ``shardorphans``).
    """
    orphans = []
    async for key in store.walk(layout.PACKAGES):
        if key in owned or (key.endswith(".metadata") and key.removesuffix(".metadata") in owned):
            continue
        if f"/{layout.TEMP_PREFIX}" in key:
            continue  # a temp file (packages on their own filesystem): not a file of the mirror
        filename = key.rsplit("/", 1)[-1]
        if unreadable and not filename.startswith(".") and project_of_filename(filename) in unreadable | {None}:
            continue
        orphans.append(key)
    return sorted(orphans)


async def delete_orphans(run: _Run) -> None:
    report = run.report
    report.orphans = await find_orphans(run.tree.store, run.tree.record)
    log.info("%d unowned file(s) under %s", len(report.orphans), layout.PACKAGES)
    if run.options.dry_run or not report.orphans:
        return
    report.removed.extend(await remove_keys(run.tree.store, report.orphans, run.options.workers))


async def remove_keys(store: Store, keys: Sequence[str], workers: int) -> list[str]:
    """Remove ``keys``, ``workers`` at a time; the keys that were there and are gone."""
    gate = asyncio.Semaphore(max(1, workers))
    removed: list[str] = []

    async def remove(key: str) -> None:
        async with gate:
            if await store.delete(key):
                removed.append(key)

    await asyncio.gather(*(remove(key) for key in keys))
    return removed
