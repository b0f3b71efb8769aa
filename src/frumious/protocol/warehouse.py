"""The Warehouse JSON the mirror serves (``web/json/<name>``, ``web/pypi/<name>/json``): what it holds.

A downstream mirror (frumious, or bandersnatch 6.8 with ``api_method = simple``) reads
``/pypi/<name>/json`` and fetches every file its ``url`` names, so upstream's document cannot be
saved as it came: it lists files the filters left out, and its URLs point at upstream. The
document saved is upstream's with only the kept releases and files (``releases`` and ``urls``),
each ``url`` pointing into the mirror; ``info``, ``last_serial`` and the other keys stay as they
came. (Filtering again when a filter changes reads the record's unfiltered copy, ``record/offered``.)

A ``url`` is ``root_uri`` plus the file's path under ``/packages/`` when ``root_uri`` is set,
else that path alone (``/packages/...``, absolute on the serving host): bandersnatch refuses a
file URL whose path does not start with ``/packages`` (``_file_url_to_local_path``) and prefixes
a path with its ``master``, so a relative ``../../packages/...`` would not do. A mirror served
under a path prefix sets ``root_uri`` to the prefixed URL.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from frumious.models import DistFile, Project, replace
from frumious.protocol import layout

__all__ = ["held_document", "held_files", "mirror_url"]


def mirror_url(file: DistFile, root_uri: str) -> str:
    """Where the mirror serves ``file``, as its saved JSON gives it."""
    # The same path the mirror's pages link to (layout.dist_place), wherever upstream kept the file.
    return root_uri.rstrip("/") + layout.dist_place(file).href


def held_files(project: Project, keep: Callable[[DistFile], bool]) -> Project:
    """``project`` with only the files ``keep`` accepts (releases left without files dropped)."""
    releases = {v: kept for v, files in project.releases.items() if (kept := tuple(f for f in files if keep(f)))}
    return replace(project, releases=releases)


def held_document(project: Project, *, root_uri: str) -> bytes:
    """The saved JSON of ``project`` (already filtered): its files only, URLs into the mirror.

    Dumped as bandersnatch saves upstream's (sorted keys, four-space indent, no final newline).
    """
    releases = {version: [_file(f, root_uri) for f in files] for version, files in project.releases.items()}
    document: dict[str, Any] = {**project.extra, "info": project.info, "releases": releases}
    document.setdefault("last_serial", project.serial)
    if isinstance(project.extra.get("urls"), list):  # the newest release's files, as upstream listed them
        held = {f.filename: f for f in project.files}
        document["urls"] = [
            _file(held[entry["filename"]], root_uri, entry)
            for entry in project.extra["urls"]
            if isinstance(entry, dict) and entry.get("filename") in held
        ]
    return json.dumps(document, indent=4, sort_keys=True).encode("ascii")


def _file(file: DistFile, root_uri: str, given: dict[str, Any] | None = None) -> dict[str, Any]:
    return {**(given if given is not None else file.document), "url": mirror_url(file, root_uri)}
