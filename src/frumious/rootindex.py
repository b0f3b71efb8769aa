"""The root pages (``web/simple/index.html``, ``index.v1_html``, ``index.v1_json``), kept up to date cheaply.

On PyPI's scale the root is 45 MB of HTML and 40 MB of JSON; rendering it in full took 3.38 s
of a run in which one project changed. The HTML lists names only, so a run that added or
removed no project (``MirrorRecord.names_changed``) leaves it alone. The JSON root carries each
project's ``_last-serial``: the projects the run recorded (``MirrorRecord.touched``, a few)
are patched in place, found in name order in one forward pass over the old page, and the page
is written back in pieces. Otherwise (names came or went, many projects recorded, a page missing
or not as frumious wrote it) the pages are rendered again from the record, streamed in batches
(``render.root_*_parts``: no escaping for the names that need none).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping

from frumious.protocol import layout, render
from frumious.record.db import MirrorRecord
from frumious.settings import SimpleFormat
from frumious.storage.base import Store

__all__ = ["write", "write_rows"]

# Projects rendered a batch at a time: a batch's rows and text live together (about 250 bytes a
# project), so 20,000 (the record's default) added 4-5 MiB to a run's end; 2,000 keep it under 0.5.
BATCH = 2_000
_HEAD = re.compile(rb'\{"meta": \{"_last-serial": ([0-9]+), "api-version": "[^"]*"\}, "projects": \[')


async def write(
    store: Store, record: MirrorRecord, formats: SimpleFormat, serial: int, fallbacks: Mapping[str, int]
) -> None:
    """The root pages for the record's projects and ``fallbacks`` (metadata-only pages: name -> serial)."""
    if fallbacks:
        await _render_whole(store, record, formats, serial, fallbacks)
    elif record.names_changed or record.touched is None or not await _patched(store, record, formats, serial):
        await _render_streamed(store, record, formats, serial)
    record.root_written()


async def _patched(store: Store, record: MirrorRecord, formats: SimpleFormat, serial: int) -> bool:
    """Whether the pages were brought up to date by patching the JSON root's serials (False: not possible)."""
    pages = layout.root_page_keys()
    if formats.html and not (await store.exists(pages.html) and await store.exists(pages.v1_html)):
        return False
    # The JSON root tells whether the names are current: an HTML-only mirror renders its root again.
    if not formats.json or not await store.exists(pages.v1_json):
        return False
    pieces = _patch(await store.read(pages.v1_json), record, serial)
    if pieces is None:
        return False
    await _write_parts(store, [pages.v1_json], _in_bytes(pieces))
    return True


def _in_bytes(pieces: list[bytes | memoryview]) -> Iterable[bytes]:
    """Views as bytes a megabyte at a time: what every writer (plugins too) takes, never a whole copy."""
    for piece in pieces:
        for at in range(0, len(piece), 1 << 20):
            yield bytes(piece[at : at + (1 << 20)])


def _patch(page: bytes, record: MirrorRecord, serial: int) -> list[bytes | memoryview] | None:
    """The page in pieces with the new serials, or None when a name is not where the page should have it."""
    head = _HEAD.match(page)
    # As many entries as projects: the pages list no metadata-only page any more (a cheap count, 40 MB in 20 ms).
    if head is None or page.count(b'{"name": ') != record.count():
        return None
    view = memoryview(page)  # pieces are views: no second 40 MB copy of the page
    pieces: list[bytes | memoryview] = [view[: head.start(1)], str(serial).encode()]
    at = head.end(1)
    for name in sorted(set(record.touched or ())):  # a project recorded twice is patched once
        row = record.project(name)
        key = b'{"name": ' + json.dumps(name).encode() + b', "_last-serial": '
        found = page.find(key, at)
        if row is None or found < 0:
            return None
        start = found + len(key)
        end = page.find(b"}", start)
        pieces += [view[at:start], str(row.serial).encode()]
        at = end
    pieces.append(view[at:])
    return pieces


async def _render_streamed(store: Store, record: MirrorRecord, formats: SimpleFormat, serial: int) -> None:
    await write_rows(store, formats, serial, lambda: record.serials_in_batches(BATCH))


async def write_rows(
    store: Store, formats: SimpleFormat, serial: int, batches: Callable[[], Iterable[list[tuple[str, int]]]]
) -> None:
    """The root pages rendered from ``batches()`` (sorted name and serial rows; asked once per format)."""
    pages = layout.root_page_keys()
    if formats.html:
        names = ([name for name, _ in rows] for rows in batches())
        await _write_parts(store, [pages.html, pages.v1_html], (p.encode() for p in render.root_html_parts(names)))
    if formats.json:
        parts = render.root_json_parts(serial, batches())
        await _write_parts(store, [pages.v1_json], (p.encode("ascii") for p in parts))


async def _render_whole(
    store: Store, record: MirrorRecord, formats: SimpleFormat, serial: int, fallbacks: Mapping[str, int]
) -> None:
    """With metadata-only pages among the names (rare, and no larger than the listing): in memory."""
    names, serials = record.names_and_serials()
    if fallbacks.keys() - serials.keys():
        serials = {**fallbacks, **serials}
        names = sorted(serials)
    pages = layout.root_page_keys()
    if formats.html:
        html = render.root_html(names)
        await store.write(pages.html, html)
        await store.write(pages.v1_html, html)
    if formats.json:
        await store.write(pages.v1_json, render.root_json(names, serial, serials))


async def _write_parts(store: Store, keys: list[str], parts: Iterable[bytes]) -> None:
    """Each key written from the same parts as they come, atomically (nothing shows before the commits)."""
    writers = [await store.writer(key) for key in keys]
    try:
        for part in parts:
            for writer in writers:
                await writer.write(part)
        for writer in writers:
            await writer.commit()
    except BaseException:
        for writer in writers:
            await writer.abort()
        raise
