"""The record's tables, how a ``StoredFile`` is packed into a row, and the migration from schema 1.

Schema 1 took 489 bytes per row on a PyPI-shaped record (425 in the issue's 10M-row copy of
PyPI's: hex digests, the whole key as text and as the primary key, the project name repeated
in every row and again in its index, one row per ``.metadata`` sidecar). Schema 2 packs a row
(measured in benchmarks/README.md, "Compact record"):

- ``id`` is ``project id << 20 | n``: a project's files are one range of the table, so neither
  a project column nor an index by project is needed (2^20 files per project; PyPI's largest
  has tens of thousands).
- the key is split into ``dir`` and ``name``. For a PyPI-shaped key
  (``web/packages/aa/bb/<60 hex>/<name>``, the blake2b of the file, not derivable from the
  sha256 the record keeps) ``dir`` is those 32 bytes; any other key keeps its directory as text
  behind a 4-byte hash of the key (flag ``GENERAL``). Either way the first 4 bytes of ``dir``
  are indexed, which finds the owner of a key (claims, ``verify``) in one short index.
- digests are bytes when they are lowercase hex (else kept as text), the algorithm is NULL
  for sha256, the version NULL when the file name gives it.
- a sidecar with the same version and upload time as its release file (every one the sync
  or ``reindex`` writes) is folded into that file's row (``meta_digest``); any other is a
  row of its own (flag ``SIDECAR``).

``rowid`` tables, not ``WITHOUT ROWID``: a row is ~130 bytes, and the integer key keeps a
project's rows together and appended, where a text primary key spreads them over
half-filled pages; only ``meta`` (tiny rows) is ``WITHOUT ROWID``.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import msgspec

from frumious.models import StoredFile

# The sqlite3 module "adapts" every bound value that is not an exact int, float, str or bytearray: for
# None, bytes and bool (most of a file row: dir, digest, the NULL algorithm and sidecar columns) it looks
# the type up among the adapters, then asks its protocol type for ``__adapt__``, whose absence raises and
# clears a formatted AttributeError: 44,160 values and 55 M instructions (1.3 %) of a full sync of 600 x 5
# files (callgrind). Each registered as a C callable that gives the value back as SQLite binds it, they
# are found at the first step. Module-wide, and the same values reach SQLite: none of these is a base
# type, so every other binding keeps its fast path.
sqlite3.register_adapter(bytes, bytes)  # ``bytes(b)`` is ``b`` itself
sqlite3.register_adapter(bool, int)  # bound as 0 or 1, as sqlite3 binds a bool
_NOTHING: dict[None, None] = {}
sqlite3.register_adapter(type(None), _NOTHING.get)  # ``_NOTHING.get(None)`` is None, bound as NULL

VERSION = "2"
PROJECT_SHIFT = 20
PROJECT_SPAN = 1 << PROJECT_SHIFT
# flags
SIDECAR = 1
GENERAL = 2
# The file name starts with the project's canonical name (with "_" for "-", or as is) and a
# "-", left out of ``name`` (12-17 bytes a row; a display name could change, the canonical not).
STEM_UNDERSCORE = 4
STEM_CANONICAL = 8

TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display TEXT,
    serial INTEGER NOT NULL,
    synced REAL,
    parsed INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    dir BLOB NOT NULL,
    name TEXT NOT NULL,
    version TEXT,
    size INTEGER,
    digest BLOB NOT NULL,
    uploaded REAL,
    algorithm TEXT,
    meta_digest BLOB,
    meta_algorithm TEXT,
    flags INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS files_by_dir ON files (substr(dir, 1, 4));
"""
# Apart from TABLES, which migrate_v1 runs a statement at a time (split on ";"). While the record
# remembers a listing (meta 'listed-names', record/listed.py), every project name inserted, deleted
# or renamed is noted in ``names_since``, whoever writes (another frumious, the sqlite3 shell).
TRIGGERS = """
CREATE TABLE IF NOT EXISTS names_since (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS names_since_added AFTER INSERT ON projects
    WHEN EXISTS (SELECT 1 FROM meta WHERE key = 'listed-names')
    BEGIN INSERT OR IGNORE INTO names_since VALUES (new.name); END;
CREATE TRIGGER IF NOT EXISTS names_since_removed AFTER DELETE ON projects
    WHEN EXISTS (SELECT 1 FROM meta WHERE key = 'listed-names')
    BEGIN INSERT OR IGNORE INTO names_since VALUES (old.name); END;
CREATE TRIGGER IF NOT EXISTS names_since_renamed AFTER UPDATE OF name ON projects
    WHEN EXISTS (SELECT 1 FROM meta WHERE key = 'listed-names')
    BEGIN INSERT OR IGNORE INTO names_since VALUES (old.name), (new.name); END;
"""
# A migration that rebuilds ``projects`` must drop the key (the triggers go with the old table).
LISTED_NAMES = "listed-names"
# Set in the transaction that records or forgets the first project since the root pages were written,
# cleared once they are: a command that finds it set (a run stopped before its root, ``--skip-simple-root``,
# a failed page write) renders the root pages in full, since the names it would edit in are not known.
ROOT_BEHIND = "root-behind"
# Projects, release files (loose sidecars left out; folded ones are no rows) and their bytes.
TOTALS = (
    f"SELECT (SELECT count(*) FROM projects), count(*), coalesce(sum(size), 0) FROM files WHERE flags & {SIDECAR} = 0"
)
FILE_COLUMNS = (
    "files.id, dir, files.name, version, size, digest, uploaded, algorithm, meta_digest, meta_algorithm, flags"
)

_PYPI = re.compile(r"web/packages/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{60})/([^/]+)")
_SDIST = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".tar")


def span(project_id: int) -> tuple[int, int]:
    """The first and last file id of a project."""
    return project_id << PROJECT_SHIFT, (project_id << PROJECT_SHIFT) | (PROJECT_SPAN - 1)


def prefix(key: str) -> bytes:
    """The indexed first 4 bytes of ``dir`` for ``key`` (a sidecar's are its release file's)."""
    base = key.removesuffix(".metadata")
    found = _PYPI.fullmatch(base)
    if found:
        return bytes.fromhex(found[1] + found[2] + found[3][:4])
    return hashlib.blake2b(base.encode("utf-8", "surrogateescape"), digest_size=4).digest()


def split_key(key: str, project: str) -> tuple[bytes, str, int]:
    """(dir, name, flags) for ``key`` of ``project`` (canonical)."""
    found = _PYPI.fullmatch(key)
    if found:
        directory, name, flags = bytes.fromhex(found[1] + found[2] + found[3]), found[4], 0
    else:
        head, slash, name = key.rpartition("/")
        directory, flags = prefix(key) + (head + slash).encode("utf-8", "surrogateescape"), GENERAL
    stem = project.replace("-", "_") + "-"
    if name.startswith(stem):
        return directory, name[len(stem) :], flags | STEM_UNDERSCORE
    if name.startswith(project + "-"):
        return directory, name[len(project) + 1 :], flags | STEM_CANONICAL
    return directory, name, flags


def file_name(name: str, flags: int, project: str) -> str:
    if flags & STEM_UNDERSCORE:
        return f"{project.replace('-', '_')}-{name}"
    if flags & STEM_CANONICAL:
        return f"{project}-{name}"
    return name


def join_key(directory: bytes, name: str, flags: int) -> str:
    """The key of a row (``name``: the whole file name)."""
    if flags & GENERAL:
        return directory[4:].decode("utf-8", "surrogateescape") + name
    text = directory.hex()
    return f"web/packages/{text[:2]}/{text[2:4]}/{text[4:]}/{name}"


def pack_digest(digest: str) -> bytes | str:
    if len(digest) % 2 == 0 and digest == digest.lower():
        try:
            return bytes.fromhex(digest)
        except ValueError:
            pass
    return digest


def unpack_digest(value: bytes | str) -> str:
    return value.hex() if isinstance(value, bytes) else value


def name_version(filename: str) -> str | None:
    """The version a wheel or sdist file name spells (cheap: no parsing, just where it sits)."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return parts[1] if len(parts) in (5, 6) else None
    for suffix in _SDIST:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            return stem.rpartition("-")[2] if "-" in stem else None
    return None


def pack_version(filename: str, version: str | None) -> str | None:
    """NULL when the name gives the version; '' for no version when the name would give one."""
    derived = name_version(filename.removesuffix(".metadata"))
    if version == derived:
        return None
    return "" if version is None else version


def unpack_version(filename: str, stored: str | None) -> str | None:
    if stored is None:
        return name_version(filename.removesuffix(".metadata"))
    return stored or None


Row = tuple[Any, ...]

_INT64 = 2**63 - 1


def binds(name: str, display: str, serial: int, files: Sequence[StoredFile]) -> bool:
    """Whether a project's rows cannot fail to pack or bind: too many files, an integer past 64 bits, a surrogate.

    What ``MirrorRecord.record`` may write behind: a project whose rows would fail fails on its own, as before.
    """
    if len(files) > PROJECT_SPAN or not -_INT64 <= serial <= _INT64:
        return False
    text = [name, display]
    for f in files:
        if (f.size is not None and not -_INT64 <= f.size <= _INT64) or (
            f.uploaded is not None and not -_INT64 <= f.uploaded <= _INT64
        ):
            return False
        text += (f.key, f.digest, f.version or "", f.algorithm, f.project)
    return "".join(text).isascii()


def pack(project_id: int, files: Iterable[StoredFile]) -> list[Row]:
    """The rows of one project's files, sidecars folded into their file's row where they can be."""
    latest = {f.key: f for f in files}  # a key given twice: the last one, as INSERT OR REPLACE did
    releases = {k: f for k, f in latest.items() if not f.metadata}
    folded: dict[str, StoredFile] = {}
    loose: list[StoredFile] = []
    for f in latest.values():
        if not f.metadata:
            continue
        base = releases.get(f.dist_key)
        if base is not None and f.size is None and (f.version, f.uploaded) == (base.version, base.uploaded):
            folded[f.dist_key] = f
        else:
            loose.append(f)
    if len(releases) + len(loose) > PROJECT_SPAN:
        raise ValueError(f"{len(releases) + len(loose)} files in one project; the record holds {PROJECT_SPAN}")
    first = project_id << PROJECT_SHIFT
    rows = []
    for n, f in enumerate([*releases.values(), *loose]):
        directory, name, flags = split_key(f.key, f.project)
        meta = folded.get(f.key)
        version = pack_version(f.key.rpartition("/")[2], f.version)
        rows.append((
            first + n, directory, name, version, f.size, pack_digest(f.digest), f.uploaded,
            None if f.algorithm == "sha256" else f.algorithm,
            None if meta is None else pack_digest(meta.digest),
            None if meta is None or meta.algorithm == "sha256" else meta.algorithm,
            flags | (SIDECAR if f.metadata else 0),
        ))  # fmt: skip
    return rows


class Unpacked(msgspec.Struct, frozen=True):
    """One row read back: its key, whether it is a loose sidecar, and its files."""

    key: str
    sidecar: bool
    files: tuple[StoredFile, ...]


def unpack(project: str, row: Row) -> Unpacked:
    _id, directory, name, version, size, digest, uploaded, algorithm, meta_digest, meta_algorithm, flags = row
    name = file_name(name, flags, project)
    key = join_key(directory, name, flags)
    version = unpack_version(name, version)
    sidecar = bool(flags & SIDECAR)
    first = StoredFile(key, project, version, size, algorithm or "sha256", unpack_digest(digest), uploaded, sidecar)
    if meta_digest is None:
        return Unpacked(key, sidecar, (first,))
    meta = StoredFile(
        key + ".metadata",
        project,
        version,
        None,
        meta_algorithm or "sha256",
        unpack_digest(meta_digest),
        uploaded,
        True,
    )
    return Unpacked(key, sidecar, (first, meta))


def expand(project: str, rows: Iterable[Row]) -> Iterator[StoredFile]:
    for row in rows:
        yield from unpack(project, row).files


# -- migration ---------------------------------------------------------------------------------


def schema_of(db: sqlite3.Connection) -> str | None:
    """The schema the file holds: its ``meta`` row, else None (a new file)."""
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").fetchone() is None:
        return None
    row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    return None if row is None else str(row[0])


def migrate_v1(db: sqlite3.Connection) -> tuple[int, float]:
    """Convert a schema-1 record in place, in one transaction; (rows converted, seconds).

    Measured: see benchmarks/README.md ("Compact record"). The old tables' pages are then
    free pages inside the file; ``VACUUM`` (by the caller) gives them back to the disk.
    """
    start = time.monotonic()
    converted = 0
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DROP INDEX IF EXISTS files_by_project")
        db.execute("ALTER TABLE files RENAME TO files_v1")
        db.execute("ALTER TABLE projects RENAME TO projects_v1")
        db.execute("DELETE FROM meta WHERE key = ?", (LISTED_NAMES,))
        # One statement at a time: executescript would commit the transaction.
        for statement in TABLES.split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("CREATE INDEX files_v1_by_project ON files_v1 (project)")
        projects = db.execute("SELECT name, display, serial, synced, parsed FROM projects_v1 ORDER BY name")
        for project_id, (name, display, serial, synced, parsed) in enumerate(projects.fetchall(), start=1):
            db.execute(
                "INSERT INTO projects VALUES (?, ?, ?, ?, ?, ?)",
                (project_id, name, None if display == name else display, serial, synced, parsed),
            )
            old = db.execute(
                "SELECT key, project, version, size, algorithm, digest, uploaded, metadata"
                " FROM files_v1 WHERE project = ?",
                (name,),
            )
            files = [StoredFile(k, p, v, s, a, d, u, bool(m)) for k, p, v, s, a, d, u, m in old]
            converted += len(files)
            db.executemany(f"INSERT INTO files VALUES ({', '.join('?' * 11)})", pack(project_id, files))
        db.execute("DROP TABLE files_v1")
        db.execute("DROP TABLE projects_v1")
        db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (VERSION,))
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return converted, time.monotonic() - start
