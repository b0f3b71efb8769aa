"""What each project page looked like when last synced, for an upstream that gives no serials.

Without serials nothing says which projects changed, so every listed project's page is asked
for on every run: conditionally (``If-None-Match`` with the ETag it answered last time), and a
page that comes back whole anyway is compared by its sha256. One small row per project (name,
ETag, digest: about 120 bytes), in a table created on first use, so mirrors of upstreams with
serials never have it. A row is written only after its project synced completely: a project
that failed half-way is fetched in full next time.
"""

from __future__ import annotations

from frumious.record.errors import writes
from frumious.record.lazytable import LazyTable

__all__ = ["PageStates"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS pages (name TEXT PRIMARY KEY, etag TEXT, digest TEXT NOT NULL)"


class PageStates(LazyTable):
    """The ``pages`` table of one open record."""

    SCHEMA = _SCHEMA

    def get(self, name: str) -> tuple[str | None, str | None]:
        """The ETag and sha256 the page of ``name`` (canonical) had when last synced; (None, None) if unknown."""
        if not self._exists():
            return None, None
        row = self.db.execute("SELECT etag, digest FROM pages WHERE name = ?", (name,)).fetchone()
        return (None, None) if row is None else (row[0], row[1])

    @writes
    def put(self, name: str, etag: str | None, digest: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, ?)", (name, etag, digest))

    @writes
    def forget(self, name: str) -> None:
        if self._exists():
            with self.db:
                self.db.execute("DELETE FROM pages WHERE name = ?", (name,))

    def _exists(self) -> bool:
        if self._ready:
            return True
        found = self.record.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pages'")
        self._ready = found.fetchone() is not None
        return self._ready
