"""The run history: one row per ``mirror``, ``sync`` and ``verify`` run, in the mirror's record.

It is a table of its own in ``frumious.sqlite`` (``runs``), created when first written, so
a record from before it existed still opens and a record rebuilt by ``reindex`` (which
replaces only ``projects`` and ``files``) keeps its history. Only the last ``KEEP`` rows are
kept: 500 rows are three and a half days of runs every ten minutes (three weeks of hourly
ones), about 50 KB (measured: 48 KiB without failure reasons).

Rows are appended by the CLI after the run ended, on the record's file, so a run that
failed or was stopped still gets its row whenever the record file exists. ``serve`` reads
the history, and the mirror's totals, through a read-only connection.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from frumious.protocol.runs import RunRow, Totals, capped
from frumious.record import schema

__all__ = ["KEEP", "Totals", "append", "recent", "totals"]

log = logging.getLogger("frumious.record.history")

KEEP = 500
# A run that just released the lock may meet the next one opening the record: wait for it.
BUSY_MS = 10_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    exit_status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    serial_before INTEGER,
    serial_after INTEGER,
    upstream_serial INTEGER,
    lag INTEGER,
    synced INTEGER,
    failed INTEGER,
    removed INTEGER,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    reasons TEXT NOT NULL DEFAULT '{}'
)
"""
_COLUMNS = (
    "command, started, finished, exit_status, outcome, serial_before, serial_after, upstream_serial, lag,"
    " synced, failed, removed, files, bytes, reasons"
)


def append(path: str, row: RunRow, keep: int = KEEP) -> bool:
    """Add ``row`` to the history in the record at ``path`` and drop all but the last ``keep`` rows.

    False (and a warning) when the record cannot be written; nothing when there is no record
    file (a run that stopped before it opened one): the history never creates a record.
    """
    if not Path(path).is_file():
        return False
    values = (
        row.command, row.started, row.finished, row.exit_status, row.outcome, row.serial_before, row.serial_after,
        row.upstream_serial, row.lag, row.synced, row.failed, row.removed, row.files, row.bytes,
        json.dumps(capped(row.reasons), sort_keys=True),
    )  # fmt: skip
    try:
        with closing(sqlite3.connect(path, timeout=BUSY_MS / 1000)) as db, db:
            db.execute(_SCHEMA)
            db.execute(f"INSERT INTO runs ({_COLUMNS}) VALUES ({', '.join('?' * 15)})", values)
            db.execute("DELETE FROM runs WHERE id <= (SELECT max(id) FROM runs) - ?", (keep,))
    except sqlite3.Error as exc:
        log.warning("Could not add this run to the history in %s: %s", path, exc)
        return False
    return True


def _query(path: str, query: str, *args: object) -> list[tuple[Any, ...]]:
    """Rows of a read-only query (``serve`` never writes the record); sqlite3.Error when there are none.

    SQLite opens a WAL database read-only only where it can create the ``-shm`` file beside it;
    the shipped serve unit sees the mirror read-only (``ProtectSystem=strict``). There the file
    is read as immutable: a run writing it meanwhile may make one answer fail (an error: the page
    says unavailable) or miss its newest rows until the next read.
    """
    base = Path(path).absolute().as_uri()
    try:
        return _fetch(base + "?mode=ro", query, args)
    except sqlite3.OperationalError:
        if not Path(path).is_file():
            raise
        return _fetch(base + "?mode=ro&immutable=1", query, args)


def _fetch(uri: str, query: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(uri, uri=True, timeout=BUSY_MS / 1000)) as db:
        return db.execute(query, args).fetchall()


RECENT = 50


def recent(path: str, limit: int = RECENT) -> list[RunRow] | None:
    """The last ``limit`` runs, oldest first; None when the record has no history (or cannot be read)."""
    try:
        rows = _query(path, f"SELECT {_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", limit)
    except sqlite3.Error:
        return None  # no record file, or one from before the history (no ``runs`` table)
    return [_row(values) for values in reversed(rows)]


def totals(path: str) -> Totals | None:
    """Projects, release files and bytes, in one query over the record; None without a record."""
    try:
        [(projects, files, size)] = _query(path, schema.TOTALS)
    except sqlite3.Error:
        return None
    return Totals(int(projects), int(files), int(size))


def _row(values: tuple[Any, ...]) -> RunRow:
    command, started, finished, status, outcome, before, after, upstream, lag, synced, failed, removed = values[:12]
    files, size, reasons = values[12:]
    try:
        loaded = json.loads(str(reasons))
    except ValueError:
        loaded = {}
    return RunRow(
        str(command), float(started), float(finished), int(status), str(outcome),
        _int(before), _int(after), _int(upstream), _int(lag), _int(synced), _int(failed), _int(removed),
        int(files), int(size), {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {},
    )  # fmt: skip


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
