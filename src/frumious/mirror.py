"""The mirror: one noun for the tree, its record and its state files.

``Mirror`` owns the store, the SQLite record and the state files (their text is
``protocol.statefiles``, their keys ``layout``; ``state`` keeps the todo checkpoint), and
offers the verbs the commands need: the serial and the todo, the files a project owns,
writing pages and JSON, removing projects or files, the root index, and publishing a
clean run. The core asks the mirror; it never builds keys for state
files or calls the filesystem itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime

import msgspec

from frumious import rootindex
from frumious.errors import ObjectMissing, StateError
from frumious.models import Project, canonicalize_name
from frumious.protocol import layout, pagelinks, render, statefiles, warehouse
from frumious.protocol.statefiles import Todo
from frumious.record import attach
from frumious.record.db import MirrorRecord
from frumious.record.offered import OfferedCopies
from frumious.record.pagestate import PageStates
from frumious.retries import Failure
from frumious.settings import MirrorSettings, SimpleFormat
from frumious.state import TodoCheckpoint
from frumious.storage import localfs
from frumious.storage.base import Store, local_paths

log = logging.getLogger("frumious.mirror")


class Layout(msgspec.Struct, frozen=True):
    """The settings that shape the tree (and so must agree between runs)."""

    hash_index: bool = False
    root_uri: str = ""
    formats: SimpleFormat = SimpleFormat.ALL
    digest: str = "sha256"
    keep_index_versions: int = 0
    json: bool = False

    @classmethod
    def of(cls, settings: MirrorSettings) -> Layout:
        return cls(
            hash_index=settings.hash_index,
            root_uri=settings.root_uri,
            formats=settings.simple_format,
            digest=settings.digest_name,
            keep_index_versions=settings.keep_index_versions,
            json=settings.json,
        )


class Mirror:
    """The tree in ``store``, its ``record``, and the state files beside them."""

    def __init__(self, store: Store, record: MirrorRecord, settings: MirrorSettings) -> None:
        self.store, self.record, self.settings = store, record, settings
        self.layout = Layout.of(settings)
        # Upstream's unfiltered documents, for filtering projects again without asking (``recheck``).
        self.offered = OfferedCopies(record)
        # Each project page's ETag and digest, for an upstream without serials (``record/pagestate``).
        self.pages = PageStates(record)

    # -- state: serial, todo, what earlier runs carried ------------------------------------

    async def bootstrap(self) -> None:
        """Upgrade the generation marker and make the top directories a local tree needs."""
        await self._upgrade_generation()
        localfs.ensure_dirs(self.store, (layout.SIMPLE, layout.PACKAGES, layout.LOCAL_STATS))

    async def _upgrade_generation(self) -> None:
        """Upgrade or initialise the generation marker, as bandersnatch does."""
        generation = statefiles.parse_generation(await self._read_text(layout.GENERATION))
        if generation == statefiles.CURRENT_GENERATION:
            return
        if generation not in statefiles.UPGRADABLE_GENERATIONS:
            raise StateError(f"unknown mirror generation {generation} in {layout.GENERATION}; refusing to touch it")
        # Older or unknown state layouts force a full sync.
        await self.store.delete(layout.STATUS)
        await self.store.delete(layout.TODO)
        await self.store.write(layout.GENERATION, str(statefiles.CURRENT_GENERATION).encode())

    async def serial(self) -> int:
        return statefiles.parse_serial(await self._read_text(layout.STATUS) or "") or 0

    async def forget_serial(self) -> None:
        """``--force-check``: serial 0, and the record restamped so it is not taken as stale."""
        await self.store.write(layout.STATUS, b"0")
        await attach.restamp(self.store, self.record)

    async def todo(self, *, discard_unusable: bool = True) -> Todo | None:
        """The todo; an unusable one is deleted (``discard_unusable``) and read as none."""
        text = await self._read_text(layout.TODO)
        if text is None:
            return None
        todo = statefiles.parse_todo(text)
        if todo is None:
            log.warning("Discarding unusable todo file (%s)", text.split("\n", 1)[0][:40])
            if discard_unusable:
                await self.store.delete(layout.TODO)
        return todo

    def checkpoint(self, todo: Todo) -> TodoCheckpoint:
        return TodoCheckpoint(self.store, todo)

    async def failures(self) -> dict[str, Failure]:
        return statefiles.parse_failures(await self._read_text(layout.FAILED) or "")

    async def vanishing(self) -> dict[str, float]:
        return statefiles.parse_vanishing(await self._read_text(layout.VANISHING) or "")

    async def filters_changed(self, fingerprint: str) -> bool:
        """Whether the filter configuration differs from the last clean run's."""
        return statefiles.parse_filters(await self._read_text(layout.FILTERS))[0] != fingerprint

    async def changed_filter_kinds(self, fingerprint: str, kinds: Mapping[str, str]) -> frozenset[str]:
        """The kinds of filter (``FilterSet.fingerprints``) whose configuration differs from the last clean run's.

        No earlier fingerprint counts as changed project filters only (what this meant before
        kinds were told apart); an older run's single fingerprint that differs, as every kind.
        """
        before, before_kinds = statefiles.parse_filters(await self._read_text(layout.FILTERS))
        if before == fingerprint:
            return frozenset()
        if before is None:
            return frozenset({"project"})
        if before_kinds is None:
            return frozenset(kinds)
        return frozenset(kind for kind, value in kinds.items() if before_kinds.get(kind) != value)

    async def held(self) -> dict[str, float]:
        """Projects whose files a time-based filter holds back: when the first becomes eligible."""
        return statefiles.parse_vanishing(await self._read_text(layout.HELD) or "")

    async def metadata_only(self) -> dict[str, statefiles.Fallback] | None:
        """The metadata-only pages written (``metaonly``), by canonical name; None when no run kept any."""
        text = await self._read_text(layout.METADATA_ONLY)
        return None if text is None else statefiles.parse_metadata_only(text)

    async def has_metadata_only(self) -> bool:
        return await self.store.exists(layout.METADATA_ONLY)

    async def save_metadata_only(self, pages: Mapping[str, statefiles.Fallback] | None) -> None:
        """Remember the metadata-only pages (None: there are none, and the policy is not metadata-only)."""
        data = None if pages is None else statefiles.render_metadata_only(pages)
        await self._write_or_delete(layout.METADATA_ONLY, data)

    async def listing_etag(self, serial: int) -> str | None:
        text = await self._read_text(layout.LISTING_ETAG)
        return statefiles.parse_listing_etag(text, serial) if text else None

    async def carry(
        self, failures: dict[str, Failure], vanishing: dict[str, float], held: Mapping[str, float] | None = None
    ) -> None:
        """A finished run: remember failures, first absences and held files by name; the todo is done."""
        await self._write_or_delete(layout.FAILED, statefiles.render_failures(failures) if failures else None)
        await self._write_or_delete(layout.VANISHING, statefiles.render_vanishing(vanishing) if vanishing else None)
        if held is not None:
            await self._write_or_delete(layout.HELD, statefiles.render_held(held) if held else None)
        await self.store.delete(layout.TODO)

    async def publish(
        self,
        serial: int,
        started: float,
        listing_etag: str | None,
        fingerprint: str,
        kinds: Mapping[str, str] | None = None,
    ) -> None:
        """Publish the serial: only reached after a finished run whose files are durable."""
        await self.store.write(layout.STATUS, str(serial).encode())
        await self.store.write(layout.LAST_MODIFIED, render.last_modified(datetime.fromtimestamp(started, UTC)))
        etag = statefiles.render_listing_etag(listing_etag, serial) if listing_etag else None
        await self._write_or_delete(layout.LISTING_ETAG, etag)
        await self.store.write(layout.FILTERS, statefiles.render_filters(fingerprint, kinds or {}))
        await attach.restamp(self.store, self.record)

    async def closure_state(self) -> bytes | None:
        """The dependency closure's state (``closure.py``), None when there is none."""
        try:
            return await self.store.read(layout.CLOSURE)
        except ObjectMissing:
            return None

    async def save_closure_state(self, data: bytes) -> None:
        await self.store.write(layout.CLOSURE, data)

    async def feed_state(self, key: str) -> bytes | None:
        """A state file of the change feed (``feedformat``'s keys), None when there is none."""
        return await self._read_bytes(key)

    async def save_feed_state(self, key: str, data: bytes | None) -> None:
        await self._write_or_delete(key, data)

    async def _read_bytes(self, key: str) -> bytes | None:
        try:
            return await self.store.read(key)
        except ObjectMissing:
            return None

    async def _read_text(self, key: str) -> str | None:
        try:
            return (await self.store.read(key)).decode("ascii", "replace")
        except ObjectMissing:
            return None

    async def _write_or_delete(self, key: str, data: bytes | None) -> None:
        # Nothing to carry is no file at all, so a mirror without failures holds none.
        if data is None:
            await self.store.delete(key)
        else:
            await self.store.write(key, data)

    async def flush(self) -> None:
        await self.store.flush()

    # -- what a project owns -----------------------------------------------------------------

    async def page_file_keys(self, name: str) -> set[str] | None:
        """The release-file keys the project's current page links to; None without a page."""
        canonical = canonicalize_name(name)
        pages = layout.page_keys(layout.simple_dir(canonical, self.layout.hash_index))
        for key, json_page in ((pages.v1_json, True), (pages.html, False)):
            try:
                body = await self.store.read(key)
            except ObjectMissing:
                continue
            return pagelinks.file_keys(canonical, pagelinks.page_hrefs(body, json_page=json_page), self.layout.root_uri)
        return None

    async def held_keys(self, name: str) -> set[str] | None:
        """The files the mirror holds for a project: the record, else its page; None when neither knows it."""
        canonical = canonicalize_name(name)
        keys = self.record.file_keys(canonical)
        if keys is None:
            keys = await self.page_file_keys(canonical)
        return keys

    async def owned_keys(self, name: str) -> set[str]:
        return await self.held_keys(name) or set()

    # -- writing a project -------------------------------------------------------------------

    async def save_json(self, project: Project) -> str:
        """The Warehouse JSON of what the mirror holds of ``project`` (filtered: its files, URLs into the
        mirror; ``protocol/warehouse``), at both of bandersnatch's places; the key written."""
        data = warehouse.held_document(project, root_uri=self.layout.root_uri)
        json_key = layout.json_key(project.canonical)
        await self.store.write(json_key, data)
        await self.store.write(layout.pypi_json_key(project.canonical), data)
        return json_key

    async def write_page(self, directory: str, ext: str, data: bytes, serial: int, now: datetime) -> str:
        """One page of a project; with ``keep_index_versions`` a versioned copy it links to. The key written."""
        key = layout.page_key(directory, ext)
        if self.layout.keep_index_versions <= 0:
            await self.store.write(key, data)
            return key
        versions_dir = layout.versions_dir(directory)
        existing = sorted(n for n in await self.store.children(versions_dir) if n.endswith(f".{ext}"))
        for name in layout.versions_to_prune(existing, self.layout.keep_index_versions):
            await self.store.delete(layout.versions_file_key(directory, name))
        versioned = layout.versioned_page_key(directory, serial, now, ext)
        await self.store.write(versioned, data)
        await self.store.link(key, versioned)
        return versioned

    async def write_root_index(self, serial: int) -> None:
        """The root pages: every project of the record and every metadata-only page, in JSON with its serial."""
        # A client resolving by name needs only the page, so the root lists metadata-only pages too.
        fallbacks = {name: f.serial for name, f in (await self.metadata_only() or {}).items() if f.page}
        await rootindex.write(self.store, self.record, self.layout.formats, serial, fallbacks)

    # -- removing ----------------------------------------------------------------------------

    async def remove_files(self, keys: Iterable[str], keep: Callable[[str], bool] | None = None) -> list[str]:
        """Remove release files and their .metadata sidecars, except those ``keep`` names; the keys removed."""
        removed = []
        for key in sorted(keys):
            for candidate in (key, layout.metadata_key(key)):
                if keep is not None and keep(candidate):
                    log.warning("Keeping %s: another project's page links it", candidate)
                    continue
                if await self.store.delete(candidate):
                    removed.append(candidate)
        return removed

    async def remove_project(self, name: str) -> list[str]:
        """Remove a whole project: files, sidecars, pages (any spelling), JSON, and its record rows."""
        canonical = canonicalize_name(name)
        files, prefixes, documents = await self._project_parts(name)
        # Keys another project owns (a page from an older tree may link them) stay.
        removed = await self.remove_files(files, self.owned_elsewhere(canonical))
        self.record.forget(canonical)
        self.offered.forget(canonical)
        self.pages.forget(canonical)
        for prefix in prefixes:
            if await self.store.delete_prefix(prefix):
                removed.append(prefix + "/")
        for key in documents:
            if await self.store.delete(key):
                removed.append(key)
        log.info("Removed %s (%d objects)", name, len(removed))
        return removed

    async def project_objects(self, name: str) -> list[str]:
        """Every stored object ``remove_project`` would delete (``delete --dry-run``): the same parts."""
        files, prefixes, documents = await self._project_parts(name)
        found = []
        for key in sorted(files):
            for candidate in (key, layout.metadata_key(key)):
                if await self.store.exists(candidate):
                    found.append(candidate)
        for prefix in prefixes:
            found.extend(sorted([key async for key in self.store.walk(prefix)]))
        found.extend([key for key in documents if await self.store.exists(key)])
        return found

    async def _project_parts(self, name: str) -> tuple[set[str], list[str], list[str]]:
        """What a project is made of: its file keys, its directories (both spellings) and its JSON keys.

        A name that cannot be a key raises BadUpstreamData here, before anything is removed.
        """
        canonical = canonicalize_name(name)
        spellings = dict.fromkeys((canonical, name))
        documents = [layout.json_key(spelling) for spelling in spellings]
        prefixes = [layout.simple_dir(spelling, self.layout.hash_index) for spelling in spellings]
        prefixes.append(layout.pypi_dir(canonical))
        return await self.owned_keys(canonical), prefixes, documents

    def owned_elsewhere(self, name: str, claims: Mapping[str, tuple[str, str]] | None = None) -> Callable[[str], bool]:
        """Whether a key is held by a project other than ``name``: such keys are never removed for it.

        ``claims`` (key -> (project, digest)) are a run's claims of projects still in flight; they
        speak for a key before the record does.
        """
        pending = claims or {}

        def held_by_other(key: str) -> bool:
            owner = pending[key][0] if key in pending else self.record.owner(key)
            return owner is not None and owner != name

        return held_by_other

    async def remove_pages(self, name: str) -> None:
        """Remove a project's simple directory only (a metadata-only page: it owns no files)."""
        await self.store.delete_prefix(layout.simple_dir(canonicalize_name(name), self.layout.hash_index))

    async def remove_legacy_dir(self, directory: str, canonical_dir: str) -> bool:
        """Remove a pre-PEP 503 spelling of a project's directory unless it is the canonical one."""
        if not await self.store.children(directory):
            return False
        if localfs.same_directory(self.store, directory, canonical_dir):
            return False  # a case-insensitive filesystem: it is the canonical directory
        log.info("Removing legacy simple directory %s", directory)
        await self.store.delete_prefix(directory)
        return True

    # -- the diff file -----------------------------------------------------------------------

    async def write_diff_file(self, written: Iterable[str]) -> None:
        """bandersnatch's diff file: every path written this run, one a line."""
        settings = self.settings
        if not settings.diff_file:
            return
        directory = settings.directory.rstrip("/")
        paths = local_paths(self.store)
        lines = [f"{directory}/{key}" if paths is None else paths.local_path(key) for key in written]
        data = "\n".join(lines).encode("utf-8")
        epoch = f"-{int(time.time())}" if settings.diff_append_epoch else ""
        if settings.shard is not None:  # each shard lists its own writes, beside the others'
            epoch = f"-shard-{settings.shard.label}{epoch}"
        diff_file = settings.diff_file.rstrip("/")
        if paths is None and (diff_file + "/").startswith(directory + "/"):
            # On an object store a diff file under the mirror directory lives in the bucket too.
            key = diff_file[len(directory) :].strip("/")
            if not key or await self.store.children(key):
                key = f"{key}/mirrored-files".lstrip("/")
            await self.store.write(key + epoch, data)
            return
        localfs.write_outside(diff_file, data, default_name="mirrored-files", suffix=epoch)
