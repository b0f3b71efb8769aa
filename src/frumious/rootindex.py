"""The root pages (``web/simple/index.html``, ``index.v1_html``, ``index.v1_json``), kept up to date cheaply.

On PyPI's scale the root is 45 MB of HTML and 40 MB of JSON; rendering it in full took 3.38 s
of a run in which one project changed (1.37 s once streamed). So the projects recorded or
forgotten since the pages were written (``MirrorRecord.touched``, a few) are edited in place
(``protocol.rootpatch``): the JSON root's entries get their new serials, and entries are added or
cut in both pages when names came or went (``MirrorRecord.names_changed``; else the HTML, which
lists names only, is left alone). Otherwise (many projects recorded, a page missing or not as
frumious wrote it, an entry count that is not the record's) the pages are rendered again from the
record, streamed in batches (``render.root_*_parts``: no escaping for the names that need none)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from frumious.protocol import layout, render, rootpatch
from frumious.protocol.rootpatch import Pieces
from frumious.record.db import MirrorRecord
from frumious.settings import SimpleFormat
from frumious.storage.base import Store

__all__ = ["write", "write_rows"]

# Projects rendered a batch at a time: a batch's rows and text live together (about 250 bytes a
# project), so 20,000 (the record's default) added 4-5 MiB to a run's end; 2,000 keep it under 0.5.
BATCH = 2_000


async def write(
    store: Store, record: MirrorRecord, formats: SimpleFormat, serial: int, fallbacks: Mapping[str, int]
) -> None:
    """The root pages for the record's projects and ``fallbacks`` (metadata-only pages: name -> serial)."""
    if fallbacks:
        await _render_whole(store, record, formats, serial, fallbacks)
    elif record.touched is None or not await _patched(store, record, formats, serial):
        await _render_streamed(store, record, formats, serial)
    record.root_written()


async def _patched(store: Store, record: MirrorRecord, formats: SimpleFormat, serial: int) -> bool:
    """Whether the pages were brought up to date in place (False: not possible, render them again)."""
    pages = layout.root_page_keys()
    if formats.html and not (await store.exists(pages.html) and await store.exists(pages.v1_html)):
        return False
    if formats.json and not await store.exists(pages.v1_json):
        return False
    changes = _changes(record)
    count = record.count()
    # The HTML lists names only: a run in which no name came or went leaves it alone. Written before the
    # JSON root, as a full render writes them.
    html = [pages.html, pages.v1_html]
    edit_html = formats.html and record.names_changed
    if edit_html and not await _edited(store, html, lambda p: rootpatch.patch_html(p, changes, count)):
        return False
    if formats.json:
        return await _edited(store, [pages.v1_json], lambda p: rootpatch.patch_json(p, changes, serial, count))
    return True


async def _edited(store: Store, keys: list[str], edit: Callable[[bytes], Pieces | None]) -> bool:
    """Whether ``keys[0]``, edited, was written to every key. One page at a time: a 700,000-project root
    is 32-40 MB of JSON and 30-45 MB of HTML, and both pages held at once took a run to 102 MiB."""
    pieces = edit(await store.read(keys[0]))
    if pieces is None:
        return False
    await _write_parts(store, keys, _in_bytes(pieces))
    return True


def _changes(record: MirrorRecord) -> dict[str, int | None]:
    """Each project recorded or forgotten since the pages were written -> its serial now (None: gone)."""
    changes: dict[str, int | None] = {}
    for name in record.touched or ():
        if name not in changes:
            row = record.project(name)
            changes[name] = None if row is None else row.serial
    return changes


def _in_bytes(pieces: Pieces) -> Iterable[bytes]:
    """Views as bytes a megabyte at a time: what every writer (plugins too) takes, never a whole copy."""
    for piece in pieces:
        for at in range(0, len(piece), 1 << 20):
            yield bytes(piece[at : at + (1 << 20)])


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
