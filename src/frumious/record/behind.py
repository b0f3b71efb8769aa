"""New projects' rows written together: the batch ``MirrorRecord`` lets wait (``BEHIND``), in two statements.

Each waiting project is new to the record and its keys were claimed, so no row is replaced or taken
from another project: its id can be given here, one past the largest, as SQLite would give it. One
``executemany`` for the projects and one for their files, instead of a savepoint, an
``INSERT ... RETURNING`` and a release per project: 21 M instructions less in a 300-project sync
(callgrind; benchmarks/README.md, "Issue 12 (session 12)").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Protocol

from frumious.models import StoredFile
from frumious.record import schema

__all__ = ["insert_new", "project_values", "whole"]

_PROJECTS = "INSERT INTO projects (id, name, display, serial, synced, parsed) VALUES (?, ?, ?, ?, ?, ?)"
_FILES = f"INSERT INTO files VALUES ({', '.join('?' * 11)})"


class ProjectRow(Protocol):
    """What of ``record.db.ProjectRow`` goes into ``projects`` (imported from there, it would be a cycle)."""

    @property
    def name(self) -> str: ...
    @property
    def display(self) -> str: ...
    @property
    def serial(self) -> int: ...
    @property
    def synced(self) -> float | None: ...
    @property
    def parsed(self) -> bool: ...


def whole(synced: float | None) -> float | None:
    """A moment in whole seconds: SQLite keeps a REAL with no fraction as a 4-byte integer, not 8 bytes
    (nothing reads the moment finer; 2 bytes a file at PyPI's two files a project)."""
    return None if synced is None else float(int(synced))


def project_values(project_id: int | None, project: ProjectRow) -> tuple[object, ...]:
    """A project's row as ``projects`` takes it: the display name only where it is not the canonical one."""
    display = None if project.display == project.name else project.display
    return (project_id, project.name, display, project.serial, whole(project.synced), project.parsed)


def insert_new(db: sqlite3.Connection, batch: Sequence[tuple[ProjectRow, list[StoredFile]]]) -> None:
    """Insert ``batch`` (projects the record has no row for, keys claimed) inside the open transaction.

    All of it or none: on an error the batch's savepoint is rolled back and the error raised.
    """
    db.execute("SAVEPOINT behind")
    try:
        (last,) = db.execute("SELECT coalesce(max(id), 0) FROM projects").fetchone()
        projects = []
        files: list[schema.Row] = []
        for project_id, (project, rows) in enumerate(batch, last + 1):
            projects.append(project_values(project_id, project))
            files += schema.pack(project_id, rows)
        db.executemany(_PROJECTS, projects)
        db.executemany(_FILES, files)
    except BaseException:
        if db.in_transaction:  # a full disk may have rolled the whole transaction back already
            db.execute("ROLLBACK TO behind")
            db.execute("RELEASE behind")
        raise
    db.execute("RELEASE behind")
