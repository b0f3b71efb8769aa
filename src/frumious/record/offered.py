"""What upstream offered for each project, unfiltered, kept in the record beside its rows.

When release, release-file or metadata filters change, the run filters every mirrored project
again from this copy instead of asking upstream (``recheck``). One row per project: the
serial it was fetched at and upstream's document, compact JSON compressed with zlib. The
``urls`` key (the latest release's files, a second time) is left out and file URLs are made
absolute, so the copy parses without knowing where it came from. A copy whose serial is not
the project's recorded one is stale and ignored (the project is then fetched).
"""

from __future__ import annotations

import json
import sqlite3
import zlib

from frumious.errors import BadUpstreamData
from frumious.models import Project
from frumious.protocol import parse
from frumious.record.db import MirrorRecord
from frumious.record.errors import writes

__all__ = ["OfferedCopies", "encode"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS offered (name TEXT PRIMARY KEY, serial INTEGER NOT NULL, data BLOB NOT NULL)"


def encode(project: Project) -> bytes:
    """The compressed copy of ``project`` (upstream's document, minus ``urls``)."""
    document = project.document
    document.pop("urls", None)
    document["releases"] = {
        version: [{**f.document, "url": f.url} for f in files] for version, files in project.releases.items()
    }
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"), 6)


class OfferedCopies:
    """The ``offered`` table of one open record."""

    def __init__(self, record: MirrorRecord) -> None:
        self.record = record
        self.path = record.path
        self._ready = False

    @property
    def db(self) -> sqlite3.Connection:
        if not self._ready:
            # Created on first use: a mirror without release or file filters never has the table.
            with self.record.db:
                self.record.db.execute(_SCHEMA)
            self._ready = True
        return self.record.db

    @writes
    def put(self, project: Project) -> int:
        """Keep the copy of ``project``; its size in bytes."""
        data = encode(project)
        with self.db:
            row = (project.canonical, project.serial, data)
            self.db.execute("INSERT OR REPLACE INTO offered VALUES (?, ?, ?)", row)
        return len(data)

    @writes
    def forget(self, name: str) -> None:
        if self._exists():
            with self.db:
                self.db.execute("DELETE FROM offered WHERE name = ?", (name,))

    def get(self, name: str, serial: int) -> Project | None:
        """The copy of project ``name`` at ``serial``; None when there is none, or another serial's."""
        if not self._exists():
            return None
        row = self.db.execute("SELECT serial, data FROM offered WHERE name = ?", (name,)).fetchone()
        if row is None or int(row[0]) != serial:
            return None
        try:
            project = parse.parse_project(zlib.decompress(row[1]), expected=name)
        except (zlib.error, BadUpstreamData):
            return None  # damaged: the project is fetched instead
        return project if project.serial == serial else None

    def _exists(self) -> bool:
        if self._ready:
            return True
        found = self.record.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'offered'")
        self._ready = found.fetchone() is not None
        return self._ready
