"""Build the record from the tree, without the network.

The project pages (``web/simple/<name>/index.v1_json``, else ``index.html``) list
every file the mirror keeps, with its digest, and in JSON its size and upload
time; ``web/json/<name>``, when present, adds exact versions and the display
name. That is enough to rebuild ``frumious.sqlite`` for a bandersnatch mirror,
or after the record was lost, and to keep it when another tool changed the tree.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import msgspec
from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename

from frumious.errors import BadUpstreamData, ObjectMissing
from frumious.models import StoredFile, canonicalize_name
from frumious.protocol import layout, pagelinks, statefiles
from frumious.record import attach
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.settings import MirrorSettings
from frumious.stats import Progress, Report, stops_with
from frumious.storage.base import Store

log = logging.getLogger("frumious.record.rebuild")

# Projects read concurrently (object stores answer in parallel; local reads are quick anyway).
BATCH = 256


class Rebuilt(Report):
    """The ``reindex`` result; ``started``/``finished`` are monotonic clock readings."""

    projects: int = 0
    files: int = 0
    unparsed: list[str] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unparsed


@asynccontextmanager
async def current_record(store: Store, mirror: MirrorSettings) -> AsyncIterator[MirrorRecord]:
    """The mirror's record, rebuilt from the tree first when it may not match it."""
    async with attach.attached(store) as opened:
        reason = await stale_reason(store, opened)
        if reason:
            log.info("Rebuilding the mirror's record from its pages: %s", reason)
            found = await rebuild(store, mirror, opened)
            log.info("Recorded %d project(s) and %d file(s) in %.1fs", found.projects, found.files, found.seconds)
        yield opened


async def stale_reason(store: Store, opened: MirrorRecord) -> str | None:
    if not opened.built:
        return "there is no record yet"
    if opened.was_unclean:
        return "the last command did not close the record cleanly"
    if opened.get_meta("stamp") != await attach.tree_stamp(store):
        return "the tree was synced by another tool since (status or web/last-modified changed)"
    return None


async def rebuild(
    store: Store, mirror: MirrorSettings, opened: MirrorRecord, progress: Progress | None = None
) -> Rebuilt:
    """Replace the whole record with what the tree's pages say (``progress`` shows how far it got).

    A refused disk stops it with ``RunStopped`` carrying the result so far.
    """
    result = Rebuilt(progress=progress or Progress(), started=time.monotonic())
    with stops_with(result):
        await _rebuild(store, mirror, opened, result)
    if result.unparsed:
        log.warning(
            "%d project page(s) could not be read; their files are kept but unknown: %s",
            len(result.unparsed),
            ", ".join(result.unparsed[:20]),
        )
    result.finished = time.monotonic()
    return result


async def _rebuild(store: Store, mirror: MirrorSettings, opened: MirrorRecord, result: Rebuilt) -> None:
    progress = result.progress
    names = await project_dirs(store, mirror.hash_index)
    if mirror.shard is not None:  # a shard's record holds its own projects only
        names = [name for name in names if mirror.shard.holds(name)]
    progress.projects_total = len(names)
    fallbacks = statefiles.parse_metadata_only(
        (await _read(store, layout.METADATA_ONLY) or b"").decode("utf-8", "replace")
    )
    with opened.rebuilding() as add:
        for start in range(0, len(names), BATCH):
            chunk = names[start : start + BATCH]
            found = [entry for entry in await asyncio.gather(*(read_project(store, mirror, n) for n in chunk)) if entry]
            # A metadata-only page (metaonly) is no project of the mirror's: it owns no file.
            found = [(project, files) for project, files in found if files or project.name not in fallbacks]
            for project, files in found:
                result.projects += 1
                result.files += len(files)
                if not project.parsed:
                    result.unparsed.append(project.name)
            add(found)
            progress.projects_done += len(chunk)
            progress.files_done = progress.files_total = result.files
    await attach.restamp(store, opened)


async def project_dirs(store: Store, hash_index: bool) -> list[str]:
    """The project directories present under web/simple."""
    top = [n for n in await store.children(layout.SIMPLE) if not n.startswith("index.") and not n.startswith(".")]
    if not hash_index:
        return sorted(top)
    names: list[str] = []
    for letter in top:
        names.extend(await store.children(f"{layout.SIMPLE}/{letter}"))
    return sorted(n for n in names if not n.startswith("."))


async def _read(store: Store, key: str) -> bytes | None:
    try:
        return await store.read(key)
    except ObjectMissing:
        return None


async def read_project(
    store: Store, mirror: MirrorSettings, dirname: str
) -> tuple[ProjectRow, list[StoredFile]] | None:
    """One project's rows from its pages; None for a directory that holds no page."""
    canonical = canonicalize_name(dirname)
    # A pre-PEP 503 spelling is recorded (under the canonical name) only when there is no canonical directory.
    if canonical != dirname and await _has_page(store, layout.simple_dir(canonical, mirror.hash_index)):
        return None
    try:
        pages = layout.page_keys(layout.simple_dir(dirname, mirror.hash_index))
    except BadUpstreamData:
        return None
    json_body = await _read(store, pages.v1_json)
    html_body = await _read(store, pages.html)
    if json_body is None and html_body is None:
        return None
    saved = _saved_json(await _read(store, layout.json_key(canonical)))
    page = _page(json_body, html_body)
    info = await store.stat(pages.v1_json if json_body is not None else pages.html)
    display = _display(saved, html_body, canonical)
    if page is None:
        return ProjectRow(canonical, display, _saved_serial(saved), info.mtime if info else None, parsed=False), []
    serial = page.serial if page.serial is not None else _saved_serial(saved)
    project = ProjectRow(canonical, display, serial, info.mtime if info else None)
    return project, file_rows(canonical, page, saved, mirror.root_uri)


async def _has_page(store: Store, directory: str) -> bool:
    pages = layout.page_keys(directory)
    return await store.exists(pages.html) or await store.exists(pages.v1_json)


def _page(json_body: bytes | None, html_body: bytes | None) -> pagelinks.Page | None:
    if json_body is not None:
        try:
            return pagelinks.read_page(json_body, json_page=True)
        except ValueError:
            pass
    if html_body is not None:
        try:
            return pagelinks.read_page(html_body, json_page=False)
        except ValueError:  # UnicodeDecodeError
            pass
    return None


def _saved_json(body: bytes | None) -> dict[str, Any] | None:
    if body is None:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _saved_serial(saved: Mapping[str, Any] | None) -> int:
    value = (saved or {}).get("last_serial")
    return value if isinstance(value, int) else 0


def _display(saved: Mapping[str, Any] | None, html_body: bytes | None, canonical: str) -> str:
    info = (saved or {}).get("info")
    if isinstance(info, dict) and isinstance(info.get("name"), str) and info["name"]:
        return str(info["name"])
    title = pagelinks.page_title(html_body) if html_body is not None else None
    return title or canonical


def _saved_files(saved: Mapping[str, Any] | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """filename -> (version, file entry) from a saved Warehouse JSON document."""
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    releases = (saved or {}).get("releases")
    if not isinstance(releases, dict):
        return found
    for version, files in releases.items():
        for entry in files if isinstance(files, list) else ():
            if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
                found[entry["filename"]] = (str(version), entry)
    return found


def file_rows(
    canonical: str, page: pagelinks.Page, saved: Mapping[str, Any] | None, root_uri: str = ""
) -> list[StoredFile]:
    """The rows of the files (and advertised sidecars) a page links to."""
    known = _saved_files(saved)
    rows = []
    for entry in page.files:
        key = pagelinks.file_key(canonical, entry.href, root_uri)
        if key is None:
            continue
        filename = key.rsplit("/", 1)[-1]
        version, upstream = known.get(filename, (None, {}))
        size = entry.size if entry.size is not None else _int(upstream.get("size"))
        upload_time = entry.upload_time or str(upstream.get("upload_time_iso_8601") or "")
        uploaded = timestamp(upload_time)
        version = version or version_from_filename(filename)
        rows.append(StoredFile(key, canonical, version, size, entry.algorithm, entry.digest, uploaded))
        if entry.metadata is not None:
            algorithm, digest = entry.metadata
            sidecar = StoredFile(layout.metadata_key(key), canonical, version, None, algorithm, digest, uploaded, True)
            rows.append(sidecar)
    return rows


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def timestamp(upload_time: str) -> float | None:
    """An ISO 8601 upload time as a POSIX timestamp (as DistFile.upload_timestamp)."""
    if not upload_time:
        return None
    try:
        return datetime.fromisoformat(upload_time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def version_from_filename(filename: str) -> str | None:
    """The version a wheel or sdist filename carries, when it follows the standards."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None


def project_of_filename(filename: str) -> str | None:
    """The canonical project name a filename starts with, best effort."""
    filename = filename.removesuffix(".metadata")
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[0])
        return str(parse_sdist_filename(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
