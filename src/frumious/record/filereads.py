"""The record's file rows read back: a project's keys or files, a range of projects' files, every owned key.

What ``verify``, ``delete``, pruning and the closure read of ``files``; ``MirrorRecord`` has them from here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from frumious.models import StoredFile
from frumious.record import schema

__all__ = ["FileReads"]

_FILES_OF = f"SELECT {schema.FILE_COLUMNS} FROM files WHERE files.id BETWEEN ? AND ?"


class FileReads:
    """Reads of the ``files`` table, for a class that gives the open connection as ``db`` and ids as ``_id``."""

    @property
    def db(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _id(self, name: str) -> int | None:
        raise NotImplementedError

    def file_keys(self, name: str) -> set[str] | None:
        """The release-file keys (no sidecars) a project owns; None when the record has no row for the project."""
        found = self.db.execute("SELECT id, parsed FROM projects WHERE name = ?", (name,)).fetchone()
        if found is None or not found[1]:
            return None
        rows = self.db.execute(
            f"SELECT dir, name, flags FROM files WHERE id BETWEEN ? AND ? AND flags & {schema.SIDECAR} = 0",
            schema.span(found[0]),
        )
        return {schema.join_key(d, schema.file_name(n, flags, name), flags) for d, n, flags in rows}

    def files(self, name: str) -> list[StoredFile]:
        project_id = self._id(name)
        if project_id is None:
            return []
        rows = self.db.execute(_FILES_OF, schema.span(project_id))
        return sorted(schema.expand(name, rows), key=_by_key)

    def files_between(self, first: str, last: str) -> Iterator[StoredFile]:
        """The files of the projects ``first`` to ``last`` (inclusive), ordered by project."""
        found = self.db.execute("SELECT id, name FROM projects WHERE name BETWEEN ? AND ? ORDER BY name", (first, last))
        for project_id, name in found.fetchall():
            rows = self.db.execute(_FILES_OF, schema.span(project_id)).fetchall()
            yield from sorted(schema.expand(name, rows), key=_by_key)

    def owned_keys(self) -> set[str]:
        keys: set[str] = set()
        for project_id, name in self.db.execute("SELECT id, name FROM projects").fetchall():
            for row in self.db.execute(_FILES_OF, schema.span(project_id)):
                keys.update(f.key for f in schema.unpack(name, row).files)
        return keys

    def count_release_files(self) -> int:
        return int(self.db.execute(f"SELECT count(*) FROM files WHERE flags & {schema.SIDECAR} = 0").fetchone()[0])


def _by_key(f: StoredFile) -> str:
    return f.key
