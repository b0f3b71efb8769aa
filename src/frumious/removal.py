"""Removing what the mirror holds: whole projects, or files a project no longer has.

Used by pruning after a filter change, by upstream deletions and by ``delete``.
What a project owns comes from the index; its page is the fallback when the index
has no record of it.
Every removal returns the keys it removed, for the log and the summary.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from frumious.errors import BadUpstreamData, ObjectMissing
from frumious.models import canonicalize_name
from frumious.protocol import layout, pagelinks
from frumious.record.db import MirrorRecord
from frumious.settings import MirrorSettings
from frumious.storage.base import Store

log = logging.getLogger("frumious.removal")


async def project_file_keys(store: Store, mirror: MirrorSettings, name: str) -> set[str] | None:
    """The release-file keys the project's current page links to; None without a page."""
    canonical = canonicalize_name(name)
    pages = layout.page_keys(layout.simple_dir(canonical, mirror.hash_index))
    for key, json_page in ((pages.v1_json, True), (pages.html, False)):
        try:
            body = await store.read(key)
        except ObjectMissing:
            continue
        return pagelinks.file_keys(canonical, pagelinks.page_hrefs(body, json_page=json_page), mirror.root_uri)
    return None


async def remove_files(store: Store, keys: Iterable[str], keep: Callable[[str], bool] | None = None) -> list[str]:
    """Remove release files and their .metadata sidecars, except those ``keep`` names; the keys removed."""
    removed = []
    for key in sorted(keys):
        for candidate in (key, layout.metadata_key(key)):
            if keep is not None and keep(candidate):
                log.warning("Keeping %s: another project's page links it", candidate)
                continue
            if await store.delete(candidate):
                removed.append(candidate)
    return removed


async def owned_keys(store: Store, mirror: MirrorSettings, record: MirrorRecord, name: str) -> set[str]:
    """The release files a project owns: from the index, else from its page."""
    canonical = canonicalize_name(name)
    keys = record.file_keys(canonical)
    if keys is None:
        keys = await project_file_keys(store, mirror, canonical)
    return keys or set()


def _owned_elsewhere(record: MirrorRecord, name: str) -> Callable[[str], bool]:
    def keep(key: str) -> bool:
        owner = record.owner(key)
        return owner is not None and owner != name

    return keep


async def remove_project(store: Store, mirror: MirrorSettings, record: MirrorRecord, name: str) -> list[str]:
    """Remove a whole project: files, sidecars, pages (any spelling), JSON, and its index rows."""
    canonical = canonicalize_name(name)
    # Keys another project owns (a page from an older tree may link them) stay.
    removed = await remove_files(
        store, await owned_keys(store, mirror, record, canonical), _owned_elsewhere(record, canonical)
    )
    record.forget(canonical)
    for spelling in dict.fromkeys((canonical, name)):
        try:
            directory = layout.simple_dir(spelling, mirror.hash_index)
        except BadUpstreamData:
            continue  # a spelling that cannot be a directory name has nothing to remove
        if await store.delete_prefix(directory):
            removed.append(directory + "/")
    for key in (layout.json_key(canonical), layout.json_key(name)):
        if await store.delete(key):
            removed.append(key)
    if await store.delete_prefix(f"{layout.PYPI_DIR}/{canonical}"):
        removed.append(f"{layout.PYPI_DIR}/{canonical}/")
    log.info("Removed %s (%d objects)", name, len(removed))
    return removed
