"""The mirror's own record: an SQLite database of every project and every file it owns.

``frumious.sqlite`` sits at the mirror root, next to ``status``. It holds one row per
project (canonical name, display name, serial, last sync time) and one row per owned
object under ``web/packages`` (release files and their PEP 658 ``.metadata``
sidecars: key, project, version, size, digest, upload time). Every command updates it
in the same step that changes the tree, so ``verify``, ``delete``, pruning and the
root index never have to walk the tree or read every page.

The record is derived data: ``reindex`` rebuilds it from the pages (see record/rebuild.py);
record/attach.py opens it for a command (a working copy on object stores). The tables and
how rows are packed are record/schema.py's.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import msgspec

from frumious.compact import Names
from frumious.errors import ResourceError, StateError
from frumious.models import StoredFile
from frumious.protocol import layout
from frumious.record import schema
from frumious.record.behind import insert_new, project_values, whole
from frumious.record.errors import RowsLost, db_error, writes
from frumious.record.filereads import FileReads
from frumious.record.names import NameReads

log = logging.getLogger("frumious.record.db")

RECORD_KEY = layout.RECORD
SCHEMA_VERSION = schema.VERSION
# A sync's writes are committed every BATCH_PROJECTS projects or BATCH_SECONDS, not per project
# (one commit per project was 56k pwrite calls for 2,000 projects). A crash loses at most the
# open batch, and loses nothing that matters: the record is then not marked closed, so the
# next command rebuilds it from the pages (record/rebuild.py).
BATCH_PROJECTS = 500
BATCH_SECONDS = 1.0
# Past this many projects recorded in a run, the root index is rendered again rather than patched.
TOUCHED_LIMIT = 20_000
# A new project's rows whose keys were claimed wait, up to BEHIND projects or BEHIND_FILES files (memory
# stays flat), and are written in one go (``db`` writes them first for anyone else): SQLite's code and
# pages stay in the CPU's caches across the inserts. One record() took 20 us in a loop and 76 us with 8 MB
# touched between calls; in a whole sync (cpu_ab.py, 8 rounds) 423 -> 365 us a project.
BEHIND = 64
BEHIND_FILES = 4096


class ProjectRow(msgspec.Struct, frozen=True):
    name: str  # canonical
    display: str
    serial: int
    synced: float | None = None
    # False when the project's page could not be read back: its files are unknown.
    parsed: bool = True


class MirrorRecord(NameReads, FileReads):
    """One open record; every method is a short synchronous SQLite call."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._behind: list[tuple[ProjectRow, list[StoredFile]]] = []
        self._behind_rows: dict[str, ProjectRow] = {}  # as ``project`` would read them back
        self._behind_keys: dict[str, tuple[str, str]] = {}  # as ``holders`` would
        self._lost = False  # rows written behind were lost to an error: the record may lag the tree
        self.pending = 0
        self.batch_started = 0.0
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            # Autocommit mode: the record opens and commits its batches itself.
            self._db = sqlite3.connect(path, isolation_level=None)
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
        # Since the root pages were last written: whether a name came or went, and the names recorded or
        # forgotten (None past TOUCHED_LIMIT, a name recorded twice counted twice): the root pages are
        # edited for those (rootindex). Deflated ``Names``, not a set: 20,000 names took 3.1 MiB.
        # What an earlier command changed and did not write into the root pages is not known: rendered in full.
        self.root_behind = self.get_meta(schema.ROOT_BEHIND) is not None
        self.names_changed = False
        self.touched: Names | None = None if self.root_behind else Names()

    @property
    def db(self) -> sqlite3.Connection:
        """The connection, once the rows written behind are in it: every read and write past ``record`` sees them."""
        if self._behind:
            self._write_behind()
        return self._db

    def touch(self, name: str, *, new: bool, noted: bool = False) -> None:
        if not self.root_behind:  # in the transaction that changes the project (autocommit outside one)
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (schema.ROOT_BEHIND,))
            self.root_behind = True
        if not noted:
            self._note(name, new=new)

    def _note(self, name: str, *, new: bool) -> None:
        self.names_changed = self.names_changed or new
        if self.touched is not None:
            self.touched.append(name)
            if len(self.touched) > TOUCHED_LIMIT:
                self.touched = None

    def _rolled_back(self) -> None:
        """A rollback may have taken the root-behind mark with it: what the database holds decides again."""
        self.root_behind = self.get_meta(schema.ROOT_BEHIND) is not None

    def root_written(self) -> None:
        """The root pages show the record as it is now: the mark is cleared and the open batch committed with it."""
        if self.root_behind:
            self.set_meta(schema.ROOT_BEHIND, None)
            self.root_behind = False
        self.commit()
        self.names_changed, self.touched = False, Names()

    def _migrate(self) -> None:
        version = schema.schema_of(self.db)
        if version == "1":
            rows, seconds = schema.migrate_v1(self.db)
            log.info("Converted the mirror's record to schema %s: %d file rows in %.1fs", SCHEMA_VERSION, rows, seconds)
            self.db.execute("VACUUM")  # give the old tables' pages back to the disk
        elif version not in (None, SCHEMA_VERSION):
            log.warning("The mirror's record has schema %s, not %s; it will be rebuilt", version, SCHEMA_VERSION)
            with self.db:
                self.db.executescript("DROP TABLE IF EXISTS files; DROP TABLE IF EXISTS projects; DELETE FROM meta;")
        self.db.executescript(schema.TABLES + schema.TRIGGERS)
        self.set_meta("schema", SCHEMA_VERSION)

    @property
    def changed(self) -> bool:
        return self.db.total_changes != self.changes_at_open

    def close(self) -> None:
        """Mark a clean close (committing the open batch), fold the WAL into the database file and close it.

        On a refused disk the index stays marked open (the next command re-indexes the
        tree) and SQLite keeps its WAL to replay: nothing is lost, and the error that
        stopped the command is the one reported.
        """
        try:
            try:
                self.commit()  # the rows written behind too
            except StateError as exc:
                self._lost = True
                log.warning("%s; the next command rebuilds the record from the pages", exc)
            if not self._lost:  # else left marked open: the next command rebuilds the record from the pages
                self.set_meta("open", "0")
            with suppress(sqlite3.DatabaseError):
                self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except ResourceError as exc:
            log.warning("Could not mark the mirror index closed (%s); the next command re-indexes", exc.problem)
        finally:
            self.db.close()

    @writes
    def commit(self) -> None:
        """Commit the open batch of ``record`` calls, if any."""
        if self.db.in_transaction:
            self.db.commit()
        self.pending = 0

    # -- meta ---------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @writes
    def set_meta(self, key: str, value: str | None) -> None:
        if self.get_meta(key) == value:
            return
        with self.db:  # commits the open batch too
            if value is None:
                self.db.execute("DELETE FROM meta WHERE key = ?", (key,))
            else:
                self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        self.pending = 0

    @property
    def built(self) -> bool:
        return self.get_meta("built") == "1"

    # -- writing ------------------------------------------------------------------------

    @writes
    def record(
        self, project: ProjectRow, files: Iterable[StoredFile], *, new: bool | None = None, claimed: bool = False
    ) -> None:
        """Replace what the record knows of one project: all of it or none, committed with its batch.

        ``new``: the caller knows whether the record had a row for the project (else it is looked up).
        ``claimed``: the caller claimed every key against the record (``claims.claim_keys`` raises when
        another project holds one), so no other project's rows need looking for.
        """
        files = files if isinstance(files, list) else list(files)
        if new and claimed and schema.binds(project.name, project.display, project.serial, files):
            # As ``project`` reads it back; may raise, so before anything is queued.
            self._behind_rows[project.name] = msgspec.structs.replace(project, synced=whole(project.synced))
            self._behind.append((project, files))
            self._behind_keys.update((f.key, (project.name, f.digest)) for f in files)
            self._note(project.name, new=True)
            if len(self._behind) >= BEHIND or len(self._behind_keys) >= BEHIND_FILES:
                self._write_behind()
            return
        self._record_now(project, files, new=new, claimed=claimed)

    def _write_behind(self) -> None:
        behind, self._behind, self._behind_rows, self._behind_keys = self._behind, [], {}, {}
        try:
            if not self._db.in_transaction:
                self._db.execute("BEGIN")
                self.batch_started = time.monotonic()
            self.touch(behind[0][0].name, new=True, noted=True)
            insert_new(self._db, behind)
            self.pending += len(behind)
            if self.pending >= BATCH_PROJECTS or time.monotonic() - self.batch_started >= BATCH_SECONDS:
                self.commit()  # here: a commit that fails loses these rows too
        except BaseException as exc:
            self._lost = True  # projects already reported synced may have no rows: the run stops
            if not isinstance(exc, Exception):
                raise  # an interrupt or a cancellation goes through as it is
            found: Exception = db_error(exc, self.path) if isinstance(exc, sqlite3.Error) else exc
            if not getattr(found, "stops_run", False):
                found = RowsLost(f"the mirror's record {self.path} lost this run's latest projects ({found})")
            if found is exc:
                raise
            raise found from exc

    def _record_now(self, project: ProjectRow, files: list[StoredFile], *, new: bool | None, claimed: bool) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN")
            self.batch_started = time.monotonic()
        self.db.execute("SAVEPOINT project")
        try:
            self._insert(project, files, replace=True, new=new, claimed=claimed)
        except BaseException:
            self.db.execute("ROLLBACK TO project")
            self._rolled_back()
            raise
        finally:
            self.db.execute("RELEASE project")
        self.pending += 1
        if self.pending >= BATCH_PROJECTS or time.monotonic() - self.batch_started >= BATCH_SECONDS:
            self.commit()

    def _insert(
        self,
        project: ProjectRow,
        files: Iterable[StoredFile],
        *,
        replace: bool,
        new: bool | None = None,
        claimed: bool = False,
    ) -> None:
        if new is None:
            new = not replace or self._id(project.name) is None
        self.touch(project.name, new=new)
        (project_id,) = self.db.execute(
            "INSERT INTO projects (id, name, display, serial, synced, parsed) VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET display = excluded.display, serial = excluded.serial,"
            " synced = excluded.synced, parsed = excluded.parsed RETURNING id",
            project_values(None, project),
        ).fetchone()
        if replace and not new:
            # A new project has no rows to replace: each project's rows go with it (``forget``, ``rebuilding``),
            # so a reused id has none either.
            self.db.execute("DELETE FROM files WHERE id BETWEEN ? AND ?", schema.span(project_id))
        rows = schema.pack(project_id, files)
        if claimed:
            self.db.executemany(f"INSERT INTO files VALUES ({', '.join('?' * 11)})", rows)
            return
        # A key belongs to one project: recording it takes it from any other (as the old key column did).
        found = self._holding({row[1][:4] for row in rows})
        others = [(i, row) for i, row in found if i >> schema.PROJECT_SHIFT != project_id]
        if others:
            keys = {f.key for f in files}
            taken = {i for i, row in others if keys & self._keys_of(row)}
            self.db.executemany("DELETE FROM files WHERE id = ?", ((i,) for i in taken))
        self.db.executemany(f"INSERT INTO files VALUES ({', '.join('?' * 11)})", rows)

    @writes
    def forget(self, name: str) -> None:
        """Drop a removed project and its files."""
        try:
            with self.db:
                found = self.db.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone()
                if found is not None:
                    self.touch(name, new=True)  # its root entries are cut (rootindex)
                    self.db.execute("DELETE FROM files WHERE id BETWEEN ? AND ?", schema.span(found[0]))
                    self.db.execute("DELETE FROM projects WHERE id = ?", (found[0],))
        except BaseException:
            self._rolled_back()
            raise
        self.pending = 0

    @contextmanager
    def rebuilding(self) -> Iterator[Callable[[Iterable[tuple[ProjectRow, list[StoredFile]]]], None]]:
        """Replace the whole record: add batches of rows; all of it is committed at the end, or none."""

        def add(batch: Iterable[tuple[ProjectRow, list[StoredFile]]]) -> None:
            for project, files in batch:
                self._insert(project, files, replace=False)

        self.commit()
        try:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM files")
            # No remembered listing first: the triggers then note none of the names (a whole record's worth).
            self.db.execute("DELETE FROM meta WHERE key = ?", (schema.LISTED_NAMES,))
            self.db.execute("DELETE FROM projects")
            self.names_changed, self.touched = True, None  # every name replaced: the root is rendered again
            yield add
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('built', '1')")
            self.db.commit()
        except sqlite3.OperationalError as exc:
            self.db.rollback()
            self._rolled_back()
            raise db_error(exc, self.path) from exc
        except BaseException:
            self.db.rollback()
            self._rolled_back()
            raise

    # -- reading ------------------------------------------------------------------------

    def _id(self, name: str) -> int | None:
        found = self.db.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone()
        return None if found is None else int(found[0])

    def project(self, name: str) -> ProjectRow | None:
        waiting = self._behind_rows.get(name)
        if waiting is not None:
            return waiting
        # No row is written behind for a name the database has (only new projects wait).
        row = self._db.execute(f"SELECT {_PROJECT} FROM projects WHERE name = ?", (name,)).fetchone()
        return None if row is None else _project(row)

    def projects(self) -> list[ProjectRow]:
        return [_project(row) for row in self.db.execute(f"SELECT {_PROJECT} FROM projects ORDER BY name")]

    def unparsed(self) -> set[str]:
        return {n for (n,) in self.db.execute("SELECT name FROM projects WHERE parsed = 0")}

    def owner(self, key: str) -> str | None:
        found = self.holders([key]).get(key)
        return None if found is None else found[0]

    def holders(self, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Who owns each of ``keys`` that somebody owns: key -> (project, digest)."""
        wanted = set(keys)
        found: dict[str, tuple[str, str]] = {}
        for file_id, row in self._holding({schema.prefix(key) for key in wanted}):
            name = self._name(file_id >> schema.PROJECT_SHIFT)
            for f in schema.unpack(name, row).files:
                if f.key in wanted:
                    found[f.key] = (name, f.digest)
        # A new project's keys waiting to be written were claimed: no row above holds them.
        found.update((key, self._behind_keys[key]) for key in wanted & self._behind_keys.keys())
        return found

    def _name(self, project_id: int) -> str:
        return str(self._db.execute("SELECT name FROM projects WHERE id = ?", (project_id,)).fetchone()[0])

    def _keys_of(self, row: schema.Row) -> set[str]:
        return {f.key for f in schema.unpack(self._name(row[0] >> schema.PROJECT_SHIFT), row).files}

    def _holding(self, wanted: set[bytes]) -> Iterator[tuple[int, schema.Row]]:
        """(file id, row) of the rows that may hold keys with these indexed prefixes."""
        prefixes = list(wanted)
        for start in range(0, len(prefixes), 500):  # one query per 500 keys, under SQLite's variable limit
            chunk = prefixes[start : start + 500]
            query = f"SELECT {schema.FILE_COLUMNS} FROM files WHERE substr(dir, 1, 4) IN ({','.join('?' * len(chunk))})"
            for row in self._db.execute(query, chunk).fetchall():
                yield int(row[0]), row


_PROJECT = "name, coalesce(display, name), serial, synced, parsed"


def _project(row: tuple[object, ...]) -> ProjectRow:
    name, display, serial, synced, parsed = row
    return ProjectRow(str(name), str(display), int(serial), synced, bool(parsed))  # type: ignore[call-overload, arg-type]
