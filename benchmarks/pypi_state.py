"""Build a PyPI-sized mirror state directly, as frumious would have written it (no sync, no server).

    .venv/bin/python benchmarks/pypi_state.py --config CONF [--projects 700000] [--max-files 40000]
        [--journal 1,0,100,d1] [--generation 0] [--package-files 1,3] [--jobs 2]

``CONF`` is the mirror's config (its ``directory`` is where the tree goes; it must not exist yet).
For every project the shape lists at ``--generation``, this takes the very bytes the synthetic
upstream (pypi_upstream.py, same shape arguments) would serve and runs them through frumious's
own code: ``parse_project`` -> ``project.stored_files`` -> ``render.project_html`` /
``project_json`` (the pages, in the config's formats) -> ``project.index_rows`` ->
``MirrorRecord.rebuilding`` (the record). Then the root pages, ``status``, ``generation``,
``web/last-modified``, ``.frumious/listing-etag`` (the upstream's ETag for that listing),
``.frumious/filters`` (the config's filter fingerprints) and the record's stamp, so that
``frumious mirror`` against the upstream at the same generation is a single 304.

Release files are not written (a tree of 10M files is not needed to measure the runs), except
those of the projects that the journal generations named in ``--package-files`` change: a
1-changed-project run then finds that project's old files in place, as on a real mirror.
Page workers run in ``--jobs`` processes; the record is written by this one.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pypi_shape import Shape
from pypi_upstream import add_shape_args, shape_from
from upstream import JSON_LISTING_TYPE, make_body

from frumious.config import load
from frumious.filters.loading import load_filters
from frumious.models import StoredFile
from frumious.project import index_rows, stored_files
from frumious.protocol import layout, render, statefiles
from frumious.protocol.parse import parse_project
from frumious.record.db import RECORD_KEY, MirrorRecord, ProjectRow
from frumious.settings import MirrorSettings

BASE_URL = "http://127.0.0.1:1"  # the pages link files relatively: the upstream's port is not in the tree
CHUNK = 2000

_shape: Shape
_settings: MirrorSettings
_root: Path
_all_pages = True
_paged: set[int] = set()  # with --pages changed: the projects the journal changes


def _write(key: str, data: bytes) -> None:
    path = _root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _file_values(f: StoredFile) -> tuple[object, ...]:
    """A StoredFile's first eight fields (the record's columns), picklable for the worker pool."""
    return (f.key, f.project, f.version, f.size, f.algorithm, f.digest, f.uploaded, f.metadata)


def _project(i: int) -> tuple[ProjectRow, list[tuple[object, ...]]]:
    """One project's pages written, and its rows for the record (what sync_project does, minus the I/O)."""
    project = parse_project(_shape.warehouse_json(i, BASE_URL), expected=_shape.name(i))
    files = stored_files(_settings, project)
    options = {
        "digest_name": _settings.digest_name,
        "root_uri": _settings.root_uri,
        "core_metadata": _settings.core_metadata,
        "has_metadata": lambda dist: False,  # the synthetic upstream serves no PEP 658 metadata
        "file_url": None,
    }
    directory = layout.simple_dir(project.canonical, _settings.hash_index)
    if _settings.simple_format.html:
        html = render.project_html(project, raw_name=_shape.name(i), **options)  # type: ignore[arg-type]
        _write(layout.page_key(directory, "html"), html)
        _write(layout.page_key(directory, "v1_html"), html)
    if _settings.simple_format.json:
        _write(layout.page_key(directory, "v1_json"), render.project_json(project, **options))  # type: ignore[arg-type]
    row, rows = index_rows(project, files, set())
    # Only the record's columns: what the record keeps, and what a worker can pickle (StoredFile cannot).
    return row, [_file_values(f) for f in rows]


def _rows_only(i: int) -> tuple[ProjectRow, list[tuple[object, ...]]]:
    """The record's rows straight from the shape, no page: the rows ``_project`` gives (compared on
    1,000 projects, see benchmarks/README.md), far cheaper, for the projects a measured run never reads."""
    canonical = _shape.canonical(i)
    digest = _settings.digest_name
    files = [
        (layout.package_key(f.url_path), canonical, f.version, f.size, digest, getattr(f, digest),
         float(f.uploaded), False)
        for f in _shape.files(i)
    ]  # fmt: skip
    return ProjectRow(canonical, _shape.name(i), _shape.serial(i), time.time()), files


def _chunk(start: int) -> list[tuple[ProjectRow, list[tuple[object, ...]]]]:
    pick = _project if _all_pages else (lambda i: _project(i) if i in _paged else _rows_only(i))
    # A project listed with no release is never recorded by a sync (norelease): nor here, or the
    # state would flatter the listing's remembered answer (its "listed, not held" names).
    return [pick(i) for i in range(start, min(start + CHUNK, _shape.n)) if _shape.listed(i) and not _shape.empty(i)]


def _rows(jobs: int) -> Iterator[list[tuple[ProjectRow, list[tuple[object, ...]]]]]:
    starts = range(0, _shape.n, CHUNK)
    if jobs <= 1:
        yield from map(_chunk, starts)
        return
    with get_context("fork").Pool(jobs) as pool:
        yield from pool.imap(_chunk, starts)


def _package_files(generations: list[int]) -> int:
    """The gen-0 release files of the projects those generations change (what their run checks)."""
    written = 0
    for g in generations:
        for i in _shape.changed(g):
            for info in _shape.files(i):
                _write(layout.package_key(info.url_path), _shape.content(info.index, info.version, info.wheel))
                written += 1
    return written


def build(conf: str, shape: Shape, jobs: int, package_generations: list[int], all_pages: bool) -> dict[str, float]:
    global _shape, _settings, _root, _all_pages, _paged
    settings = load(conf)
    _shape, _settings, _root = shape, settings.mirror, Path(settings.mirror.directory)
    _all_pages = all_pages
    _paged = {e.index for e in shape.events if e.index >= 0}
    if _root.exists():
        raise SystemExit(f"{_root} exists: the state is built into a new directory")
    started = time.perf_counter()
    _root.mkdir(parents=True)
    record = MirrorRecord(str(_root / RECORD_KEY))
    projects = files = 0
    with record.rebuilding() as add:
        for batch in _rows(jobs):
            add((row, [StoredFile(*values) for values in rows]) for row, rows in batch)  # type: ignore[arg-type]
            projects += len(batch)
            files += sum(len(rows) for _, rows in batch)
    pages_done = time.perf_counter()
    names, serials = record.names_and_serials()
    serial = shape.last_serial
    keys = layout.root_page_keys()
    if _settings.simple_format.html:
        _write(keys.html, render.root_html(names))
        _write(keys.v1_html, render.root_html(names))
    if _settings.simple_format.json:
        _write(keys.v1_json, render.root_json(names, serial, serials))
    record.root_written()  # the pages show the record, as rootindex.write leaves it (else the first run renders them)
    now = datetime.now(UTC)
    _write(layout.STATUS, str(serial).encode())
    _write(layout.GENERATION, str(statefiles.CURRENT_GENERATION).encode())
    _write(layout.LAST_MODIFIED, render.last_modified(now))
    etag = make_body(shape.listing(), JSON_LISTING_TYPE, serial).etag
    _write(layout.LISTING_ETAG, statefiles.render_listing_etag(etag, serial))
    filters = load_filters(settings)
    _write(layout.FILTERS, statefiles.render_filters(filters.fingerprint, filters.fingerprints))
    stamp = f"{serial}|{render.last_modified(now).decode('ascii').strip()}"
    record.set_meta("stamp", stamp)
    record.close()
    written = _package_files(package_generations)
    done = time.perf_counter()
    size = sum(p.stat().st_size for p in _root.glob(RECORD_KEY + "*"))
    return {"projects": projects, "files": files, "package_files": written, "pages_and_record_s": pages_done - started,
            "total_s": done - started, "record_bytes": size, "record_bytes_per_file": size / max(files, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Write a PyPI-sized frumious mirror state directly.")
    add_shape_args(p)
    p.add_argument("--config", required=True, help="the mirror's config; its directory must not exist")
    p.add_argument("--generation", type=int, default=0, help="the journal generation the mirror is in step with")
    p.add_argument("--package-files", default="", help="journal generations whose changed projects get files")
    p.add_argument(
        "--pages",
        choices=["all", "changed"],
        default="all",
        help="pages of every project (a full tree, for a takeover), or only of those the journal changes",
    )
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    args = p.parse_args(argv)
    shape = shape_from(args).at(args.generation)
    generations = [int(g) for g in args.package_files.split(",") if g.strip()]
    result = build(args.config, shape, args.jobs, generations, args.pages == "all")
    print(" ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
