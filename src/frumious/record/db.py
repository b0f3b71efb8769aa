"""The mirror's own record: an SQLite database of every project and every file it owns.

``frumious.sqlite`` sits at the mirror root, next to ``status``. It holds one row per
project (canonical name, display name, serial, last sync time) and one row per owned
object under ``web/packages`` (release files and their PEP 658 ``.metadata``
sidecars: key, project, version, size, digest, upload time). Every command updates it
in the same step that changes the tree, so ``verify``, ``delete``, pruning and the
root index never have to walk the tree or read every page.

The record is derived data: ``reindex`` rebuilds it from the pages (see record/rebuild.py).
On object stores SQLite still needs a local file; ``attached`` keeps a working copy in
the user's cache directory, fetches it from the store when the local copy is missing
or stale, and uploads it when the command ends.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, closing, contextmanager, suppress
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path

from frumious.errors import ObjectMissing, ResourceError
from frumious.models import StoredFile
from frumious.protocol import layout
from frumious.record.errors import RecordUnusable, db_error, writes
from frumious.storage.base import Store, local_path

log = logging.getLogger("frumious.record.db")

RECORD_KEY = "frumious.sqlite"
# A random token, rewritten with every upload, tells a cached copy from a stale one.
TOKEN_KEY = ".frumious/index-token"
SCHEMA_VERSION = "1"
# The store's token while a command has the record checked out.
IN_USE = "in-use"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    display TEXT NOT NULL,
    serial INTEGER NOT NULL,
    synced REAL,
    parsed INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    key TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    version TEXT,
    size INTEGER,
    algorithm TEXT NOT NULL,
    digest TEXT NOT NULL,
    uploaded REAL,
    metadata INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS files_by_project ON files (project);
"""
_FILE_COLUMNS = "key, project, version, size, algorithm, digest, uploaded, metadata"


@dataclass(frozen=True, slots=True)
class ProjectRow:
    name: str  # canonical
    display: str
    serial: int
    synced: float | None = None
    # False when the project's page could not be read back: its files are unknown.
    parsed: bool = True


# Row values in column order, in C: dataclasses.astuple deep-copies every field, which was most
# of the index's CPU time in a full sync (measured: 0.3 s of 3.9 s for 2,000 projects).
_project_values = attrgetter(*(f.name for f in fields(ProjectRow)))
_file_values = attrgetter(*_FILE_COLUMNS.split(", "))


class MirrorRecord:
    """One open record; every method is a short synchronous SQLite call."""

    def __init__(self, path: str) -> None:
        self.path = path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self.db = sqlite3.connect(path)
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
                # Whether the previous command closed the record cleanly (else it may lag the tree).
                self.was_unclean = self.get_meta("open") == "1"
                self.set_meta("open", "1")
            except BaseException:
                self.db.close()
                raise
        except sqlite3.Error as exc:
            raise db_error(exc, path) from exc
        self.changes_at_open = self.db.total_changes

    def _migrate(self) -> None:
        with self.db:
            self.db.executescript(_SCHEMA)
        version = self.get_meta("schema")
        if version not in (None, SCHEMA_VERSION):
            log.warning("The mirror's record has schema %s, not %s; it will be rebuilt", version, SCHEMA_VERSION)
            with self.db:
                self.db.executescript("DROP TABLE files; DROP TABLE projects; DELETE FROM meta;")
                self.db.executescript(_SCHEMA)
        self.set_meta("schema", SCHEMA_VERSION)

    @property
    def changed(self) -> bool:
        return self.db.total_changes != self.changes_at_open

    def close(self) -> None:
        """Mark a clean close, fold the WAL into the database file and close it.

        On a refused disk the index stays marked open (the next command re-indexes the
        tree) and SQLite keeps its WAL to replay: nothing is lost, and the error that
        stopped the command is the one reported.
        """
        try:
            self.set_meta("open", "0")
            with suppress(sqlite3.DatabaseError):
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except ResourceError as exc:
            log.warning("Could not mark the mirror index closed (%s); the next command re-indexes", exc.problem)
        finally:
            self.db.close()

    # -- meta ---------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @writes
    def set_meta(self, key: str, value: str | None) -> None:
        if self.get_meta(key) == value:
            return
        with self.db:
            if value is None:
                self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    @property
    def built(self) -> bool:
        return self.get_meta("built") == "1"

    # -- writing ------------------------------------------------------------------------

    @writes
    def record(self, project: ProjectRow, files: Iterable[StoredFile]) -> None:
        """Replace what the record knows of one project, in one transaction."""
        with self.db:
            self._insert(project, files, replace=True)

    def _insert(self, project: ProjectRow, files: Iterable[StoredFile], *, replace: bool) -> None:
        if replace:
            self.db.execute("DELETE FROM files WHERE project = ?", (project.name,))
        self.db.execute("INSERT OR REPLACE INTO projects VALUES (?, ?, ?, ?, ?)", _project_values(project))
        self.db.executemany(
            f"INSERT OR REPLACE INTO files ({_FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            map(_file_values, files),
        )

    @writes
    def forget(self, name: str) -> None:
        """Drop a removed project and its files."""
        with self.db:
            self.db.execute("DELETE FROM files WHERE project = ?", (name,))
            self.db.execute("DELETE FROM projects WHERE name = ?", (name,))

    @contextmanager
    def rebuilding(self) -> Iterator[Callable[[Iterable[tuple[ProjectRow, list[StoredFile]]]], None]]:
        """Replace the whole record: add batches of rows; all of it is committed at the end, or none."""

        def add(batch: Iterable[tuple[ProjectRow, list[StoredFile]]]) -> None:
            for project, files in batch:
                self._insert(project, files, replace=False)

        try:
            self.db.execute("DELETE FROM files")
            self.db.execute("DELETE FROM projects")
            yield add
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('built', '1')")
            self.db.commit()
        except sqlite3.OperationalError as exc:
            self.db.rollback()
            raise db_error(exc, self.path) from exc
        except BaseException:
            self.db.rollback()
            raise

    # -- reading ------------------------------------------------------------------------

    def project(self, name: str) -> ProjectRow | None:
        row = self.db.execute("SELECT * FROM projects WHERE name = ?", (name,)).fetchone()
        return None if row is None else _project(row)

    def projects(self) -> list[ProjectRow]:
        return [_project(row) for row in self.db.execute("SELECT * FROM projects ORDER BY name")]

    def names(self, after: str = "") -> list[str]:
        """Project names in order, those after ``after`` when given."""
        return [n for (n,) in self.db.execute("SELECT name FROM projects WHERE name > ? ORDER BY name", (after,))]

    def names_and_serials(self) -> tuple[list[str], dict[str, int]]:
        """Every project in order, and its serial (one pass: 700,000 projects take about 0.3 s)."""
        serials: dict[str, int] = dict(self.db.execute("SELECT name, serial FROM projects ORDER BY name"))
        return list(serials), serials

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM projects").fetchone()[0])

    def count_files(self, after: str = "") -> int:
        return int(self.db.execute("SELECT count(*) FROM files WHERE project > ?", (after,)).fetchone()[0])

    def unparsed(self) -> set[str]:
        return {n for (n,) in self.db.execute("SELECT name FROM projects WHERE parsed = 0")}

    def file_keys(self, name: str) -> set[str] | None:
        """The release-file keys (no sidecars) a project owns; None when the record has no row for the project."""
        found = self.db.execute("SELECT parsed FROM projects WHERE name = ?", (name,)).fetchone()
        if found is None or not found[0]:
            return None
        rows = self.db.execute("SELECT key FROM files WHERE project = ? AND metadata = 0", (name,))
        return {key for (key,) in rows}

    def files(self, name: str) -> list[StoredFile]:
        rows = self.db.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE project = ? ORDER BY key", (name,))
        return [_file(row) for row in rows]

    def files_between(self, first: str, last: str) -> Iterator[StoredFile]:
        """The files of the projects ``first`` to ``last`` (inclusive), ordered by project."""
        query = f"SELECT {_FILE_COLUMNS} FROM files WHERE project BETWEEN ? AND ? ORDER BY project, key"
        for row in self.db.execute(query, (first, last)).fetchall():
            yield _file(row)

    def owned_keys(self) -> set[str]:
        return {key for (key,) in self.db.execute("SELECT key FROM files")}

    def owner(self, key: str) -> str | None:
        row = self.db.execute("SELECT project FROM files WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def holders(self, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Who owns each of ``keys`` that somebody owns: key -> (project, digest)."""
        found: dict[str, tuple[str, str]] = {}
        wanted = list(keys)
        for start in range(0, len(wanted), 500):  # one query per 500 keys, under SQLite's variable limit
            chunk = wanted[start : start + 500]
            query = f"SELECT key, project, digest FROM files WHERE key IN ({','.join('?' * len(chunk))})"
            found.update((str(k), (str(p), str(d))) for k, p, d in self.db.execute(query, chunk))
        return found

    def count_release_files(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM files WHERE metadata = 0").fetchone()[0])


def _project(row: tuple[object, ...]) -> ProjectRow:
    name, display, serial, synced, parsed = row
    return ProjectRow(str(name), str(display), int(serial), synced, bool(parsed))  # type: ignore[call-overload, arg-type]


def _file(row: tuple[object, ...]) -> StoredFile:
    key, project, version, size, algorithm, digest, uploaded, metadata = row
    return StoredFile(str(key), str(project), version, size, str(algorithm), str(digest), uploaded, bool(metadata))  # type: ignore[arg-type]


# -- where the database lives ----------------------------------------------------------------


def cache_path(store: Store) -> Path:
    """The local working copy for a store without local paths (object stores)."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    digest = hashlib.sha256(store.description.encode("utf-8")).hexdigest()[:24]
    return base / "frumious" / f"{digest}.sqlite"


async def tree_stamp(store: Store) -> str:
    """What the record was last in step with: ``status`` and ``web/last-modified``.

    Another tool (bandersnatch) syncing the tree rewrites both, so a changed stamp
    means the record may lag the tree and must be rebuilt.
    """
    parts = []
    for key in (layout.STATUS, layout.LAST_MODIFIED):
        try:
            parts.append((await store.read(key)).decode("ascii", "replace").strip())
        except ObjectMissing:
            parts.append("")
    return "|".join(parts)


async def restamp(store: Store, record: MirrorRecord) -> None:
    record.set_meta("stamp", await tree_stamp(store))


@asynccontextmanager
async def attached(store: Store) -> AsyncIterator[MirrorRecord]:
    """The mirror's record, opened for one command and closed (and uploaded) after it."""
    local = local_path(store, RECORD_KEY)
    if local is not None:
        record = open_or_replace(local)
        try:
            yield record
        finally:
            record.close()
        return
    path = cache_path(store)
    interrupted = await _fetch_copy(store, path)
    record = open_or_replace(str(path))
    record.was_unclean = record.was_unclean or interrupted
    # Until the upload at the end, the store's copy may lag the tree: say so.
    await store.write(TOKEN_KEY, IN_USE.encode("ascii"))
    try:
        yield record
    finally:
        await _upload(store, record)


def open_or_replace(path: str) -> MirrorRecord:
    """Open the record; a damaged one is set aside (it is rebuilt from the tree).

    Only damage does that: a record the disk will not let us write (full, read-only)
    is an error, and the file and its WAL stay as they are.
    """
    try:
        return MirrorRecord(path)
    except RecordUnusable as exc:
        log.warning("%s; moving it to %s.unusable", str(exc).split(";")[0], path)
        os.replace(path, path + ".unusable")
        for suffix in ("-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)
        return MirrorRecord(path)


async def _fetch_copy(store: Store, path: Path) -> bool:
    """Make ``path`` a copy of the store's record unless it is one; True when that copy may lag the tree."""
    try:
        remote_token = (await store.read(TOKEN_KEY)).decode("ascii", "replace").strip()
    except ObjectMissing:
        remote_token = ""
    if path.exists() and remote_token not in ("", IN_USE) and _local_token(path) == remote_token:
        return False
    for stale in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        stale.unlink(missing_ok=True)
    if not remote_token:
        return False  # no record in the store: start empty, rebuilt from the pages
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = await store.read(RECORD_KEY)
    except ObjectMissing:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    log.info("Fetched the mirror's record from %s (%d bytes)", store.description, len(data))
    return remote_token == IN_USE


def _local_token(path: Path) -> str | None:
    try:
        with closing(sqlite3.connect(path)) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'token'").fetchone()
    except sqlite3.DatabaseError:
        return None
    return None if row is None else str(row[0])


async def _upload(store: Store, record: MirrorRecord) -> None:
    """Put the working copy back into the store (when it changed), then its token."""
    changed = record.changed
    token = secrets.token_hex(16) if changed else record.get_meta("token") or secrets.token_hex(16)
    record.set_meta("token", token)
    record.close()
    if changed:
        writer = await store.writer(RECORD_KEY)
        try:
            with open(record.path, "rb") as handle:
                while chunk := handle.read(1024 * 1024):
                    await writer.write(chunk)
            await writer.commit()
        except BaseException:
            await writer.abort()
            raise
    await store.write(TOKEN_KEY, token.encode("ascii"))
