"""The record's project names read in order: whole, by range, in batches with their serials, counted.

What the listing's merge (``reconcile``), the root index (``rootindex``) and progress read of
``projects`` without a row object each; ``MirrorRecord`` has them from here.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

from frumious.record import schema

__all__ = ["NameReads"]


class NameReads:
    """Reads of the ``projects`` table by name, for a class that gives the open connection as ``db``."""

    @property
    def db(self) -> sqlite3.Connection:
        raise NotImplementedError

    def names(self, after: str = "") -> list[str]:
        """Project names in order, those after ``after`` when given."""
        return [n for (n,) in self.db.execute("SELECT name FROM projects WHERE name > ? ORDER BY name", (after,))]

    def names_between(self, after: str | None, upto: str | None) -> list[str]:
        """The names ``> after`` and ``<= upto`` (None: no bound), in order.

        Read as one string joined in SQLite: a row tuple per name costs more than the merge that reads them.
        """
        query = "SELECT count(*), group_concat(name, char(10)) FROM (SELECT name FROM projects"
        query += " WHERE name > ?" + ("" if upto is None else " AND name <= ?") + " ORDER BY name)"
        count, joined = self.db.execute(query, (after or "",) if upto is None else (after or "", upto)).fetchone()
        names: list[str] = joined.split("\n") if joined else []
        if len(names) != count or names != sorted(names):  # a newline in a name: read row by row
            bound = "" if upto is None else " AND name <= ?"
            rows = self.db.execute(
                f"SELECT name FROM projects WHERE name > ?{bound} ORDER BY name",
                (after or "",) + (() if upto is None else (upto,)),
            )
            names = [name for (name,) in rows]
        return names

    def names_from(self, low: str, below: str) -> list[str]:
        """The names ``>= low`` and ``< below``, in order (a bucket of ``reconcile.known``, a few hundred)."""
        rows = self.db.execute("SELECT name FROM projects WHERE name >= ? AND name < ? ORDER BY name", (low, below))
        return [name for (name,) in rows]

    def serials_in_batches(self, size: int = 20_000) -> Iterator[list[tuple[str, int]]]:
        """Every project's name and serial in order, ``size`` at a time (the root index, streamed)."""
        cursor = self.db.execute("SELECT name, serial FROM projects ORDER BY name")
        while rows := cursor.fetchmany(size):
            yield rows

    def names_and_serials(self) -> tuple[list[str], dict[str, int]]:
        """Every project in order, and its serial (one pass: 700,000 projects take about 0.3 s)."""
        serials: dict[str, int] = dict(self.db.execute("SELECT name, serial FROM projects ORDER BY name"))
        return list(serials), serials

    def count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM projects").fetchone()[0])

    def count_files(self, after: str = "") -> int:
        """Files and sidecars of the projects after ``after``."""
        shift = schema.PROJECT_SHIFT
        query = (
            "SELECT count(*) + count(meta_digest) FROM projects JOIN files"
            f" ON files.id BETWEEN (projects.id << {shift}) AND ((projects.id + 1) << {shift}) - 1"
            " WHERE projects.name > ?"
        )
        return int(self.db.execute(query, (after,)).fetchone()[0])
