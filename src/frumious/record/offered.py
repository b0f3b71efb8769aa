"""What upstream offered for each project, unfiltered, kept in the record beside its rows.

When release, release-file or metadata filters change, the run filters every mirrored project
again from this copy instead of asking upstream (``recheck``). One row per project: the
serial it was fetched at and upstream's document, compact JSON compressed with zlib. The
``urls`` key (the latest release's files, a second time) is left out and file URLs are made
absolute, so the copy parses without knowing where it came from. What Warehouse's shape has no
place for (a page's core-metadata digests, provenance, PEP 708/792 fields, that it was a page)
rides beside it under ``PAGE_KEY``: without it a project filtered again lost its ``.metadata``
sidecars from the record and its pages, and the dependency closure its requirements. A copy
whose serial is not the project's recorded one is stale and ignored (the project is then fetched).
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from frumious.errors import BadUpstreamData
from frumious.models import DistFile, Project, replace
from frumious.protocol import parse
from frumious.record.errors import writes
from frumious.record.lazytable import LazyTable

__all__ = ["PAGE_KEY", "OfferedCopies", "encode"]

PAGE_KEY = "frumious:page"

_SCHEMA = "CREATE TABLE IF NOT EXISTS offered (name TEXT PRIMARY KEY, serial INTEGER NOT NULL, data BLOB NOT NULL)"


def encode(project: Project) -> bytes:
    """The compressed copy of ``project`` (upstream's document, minus ``urls``)."""
    document = project.document
    document.pop("urls", None)
    document["releases"] = {
        version: [{**f.document, "url": f.url} for f in files] for version, files in project.releases.items()
    }
    document[PAGE_KEY] = _page_fields(project)
    return zlib.compress(json.dumps(document, separators=(",", ":")).encode("utf-8"), 6)


def _page_fields(project: Project) -> dict[str, Any]:
    files = project.files
    return {
        "source": project.source,
        "api_version": project.api_version,
        "status": project.status,
        "status_reason": project.status_reason,
        "tracks": list(project.tracks),
        "alternate_locations": list(project.alternate_locations),
        "core_metadata": {f.filename: f.core_metadata for f in files if f.core_metadata is not None},
        "provenance": {f.filename: f.provenance for f in files if f.provenance},
    }


def _restored(project: Project) -> Project:
    """``project`` as decoded, with the fields ``PAGE_KEY`` kept put back (a copy without them as it is)."""
    extra = dict(project.extra)
    page = extra.pop(PAGE_KEY, None)
    if not isinstance(page, dict):
        return replace(project, extra=extra)
    metadata, provenance = page["core_metadata"], page["provenance"]

    def file(f: DistFile) -> DistFile:
        return replace(f, core_metadata=metadata.get(f.filename), provenance=provenance.get(f.filename))

    return replace(
        project,
        releases={version: tuple(map(file, files)) for version, files in project.releases.items()},
        extra=extra,
        source=str(page["source"]),
        api_version=page["api_version"],
        status=page["status"],
        status_reason=page["status_reason"],
        tracks=tuple(page["tracks"]),
        alternate_locations=tuple(page["alternate_locations"]),
    )


class OfferedCopies(LazyTable):
    """The ``offered`` table of one open record."""

    SCHEMA = _SCHEMA

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
            project = _restored(parse.parse_project(zlib.decompress(row[1]), expected=name))
        except (zlib.error, BadUpstreamData, KeyError, TypeError, AttributeError):
            return None  # damaged: the project is fetched instead
        return project if project.serial == serial else None

    def _exists(self) -> bool:
        if self._ready:
            return True
        found = self.record.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'offered'")
        self._ready = found.fetchone() is not None
        return self._ready
