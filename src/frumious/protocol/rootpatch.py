"""The root pages edited in place: a few entries added, cut or given a new serial, found by bisection.

The root pages list every project sorted by name, one entry each (``render.root_*_parts``). A run that
changed k projects changes k entries: each is found in about 26 steps over the page's bytes (a
700,000-project JSON root is 40 MB), and the page comes back as views of the old one around the new
entries, never parsed or copied whole. Rendering the pages again from the record took 1.37 s of CPU
(of 1.6 s) in a run on PyPI-sized state whose 100 changed projects included a new one.

The result has the bytes rendering again would give (the tests hold both to it). A page that is not
as ``render`` writes it, or whose entry count would not match the record's, gives None: the caller
then renders the pages in full.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping

import msgspec

from frumious.protocol import render

__all__ = ["Changes", "Pieces", "patch_html", "patch_json"]

# Projects by name -> their serial now, None when no longer in the record.
Changes = Mapping[str, int | None]
Pieces = list[bytes | memoryview]

_JSON_HEAD = re.compile(rb'\{"meta": \{"_last-serial": ([0-9]+), "api-version": "[^"]*"\}, "projects": \[')
_JSON_TAIL = b"]}"


class _Shape(msgspec.Struct, frozen=True):
    """How a page spells an entry: neither marker nor name end can occur inside an escaped name."""

    marker: bytes  # an entry's first bytes
    name_end: bytes  # what follows the name
    end: bytes  # an entry's last bytes (after the name)
    sep: bytes  # between two entries
    serials: bool  # whether an entry shows its serial (else a present project's entry stays as it is)
    name: Callable[[bytes], str]  # the name as written -> the name
    entry: Callable[[str, int], bytes]


# A bare quote (or ``<`` in HTML) is no name as render writes it: the name's end was not found in its
# own entry (an entry without its serial, say), and the bytes up to another entry's are refused.
def _json_name(raw: bytes) -> str:
    if b"\\" in raw or b'"' in raw:
        return str(json.loads(b'"' + raw + b'"'))  # ValueError on a bare quote
    return raw.decode("ascii")


def _html_name(raw: bytes) -> str:
    text = raw.decode()
    if '"' in text or "<" in text:
        raise ValueError(text)
    return html.unescape(text) if "&" in text else text


_JSON = _Shape(b'{"name": "', b'", "_last-serial": ', b"}", b", ", True, _json_name, render.root_json_entry)
_HTML = _Shape(
    b'    <a href="', b'/">', b"<br/>\n", b"", False, _html_name, lambda name, _: render.root_html_entry(name)
)


def patch_json(page: bytes, changes: Changes, serial: int, count: int) -> Pieces | None:
    """``index.v1_json`` with ``changes`` made, ``count`` entries, the root serial set; None if it can't be."""
    head = _JSON_HEAD.match(page)
    if head is None or not page.endswith(_JSON_TAIL):
        return None
    view = memoryview(page)
    before: Pieces = [view[: head.start(1)], str(serial).encode(), view[head.end(1) : head.end()]]
    return _patch(page, _JSON, changes, (head.end(), len(page) - len(_JSON_TAIL)), count, before, [_JSON_TAIL])


def patch_html(page: bytes, changes: Changes, count: int) -> Pieces | None:
    """``index.html`` with the projects of ``changes`` added or cut, ``count`` entries; None if it can't be."""
    head = render.root_html_head()
    if not page.startswith(head) or not page.endswith(render.ROOT_HTML_TAIL):
        return None
    region = (len(head), len(page) - len(render.ROOT_HTML_TAIL))
    return _patch(page, _HTML, changes, region, count, [head], [render.ROOT_HTML_TAIL])


def _patch(
    page: bytes, shape: _Shape, changes: Changes, region: tuple[int, int], count: int, *ends: Pieces
) -> Pieces | None:
    """The page's entries in ``region`` with ``changes`` made, between ``ends``; None unless ``count`` result."""
    start, stop = region
    view = memoryview(page)
    units: Pieces = []  # runs of old entries (without their outer separators) and new entries, in order
    run = start  # where the run of old entries not yet copied begins
    entries = page.count(shape.marker, start, stop)
    for name, serial in sorted(changes.items()):
        at = _first_at_least(page, shape, name, run, stop)
        if at is None:
            return None
        present = at < stop and _name_at(page, shape, at) == name
        if (serial is None and not present) or (serial is not None and present and not shape.serials):
            continue
        if run < at:  # the old entries before this one, without the separator that follows them
            units.append(view[run : at - len(shape.sep) if at < stop else stop])
        if present:
            entries -= 1
            end = _entry_end(page, shape, at)
            if end < 0 or end > stop or (end < stop and not page.startswith(shape.sep, end)):
                return None
            run = end + len(shape.sep) if end < stop else stop
        else:
            run = at
        if serial is not None:
            entries += 1
            units.append(shape.entry(name, serial))
    if run < stop:
        units.append(view[run:stop])
    if entries != count:
        return None
    head, tail = ends
    body: Pieces = []
    for i, unit in enumerate(units):
        body += [shape.sep, unit] if i and shape.sep else [unit]
    return head + body + tail


def _first_at_least(page: bytes, shape: _Shape, name: str, lo: int, stop: int) -> int | None:
    """Where the first entry named ``name`` or after it starts (``stop``: none does); None on a damaged page.

    Every entry starting before ``lo`` is named before ``name``, and every entry starting at ``hi`` or
    later is not: halving the bytes between them, the entry starting first at or after the middle
    tells which half to keep.
    """
    hi = stop
    while lo < hi:
        mid = (lo + hi) // 2
        found = page.find(shape.marker, mid)
        if found < 0 or found >= hi:
            hi = mid
            continue
        here = _name_at(page, shape, found)
        if here is None:
            return None
        if here < name:
            lo = found + 1
        else:
            hi = found
    found = page.find(shape.marker, lo)
    return stop if found < 0 or found >= stop else found


def _name_at(page: bytes, shape: _Shape, at: int) -> str | None:
    begin = at + len(shape.marker)
    end = page.find(shape.name_end, begin)
    if end < 0:
        return None
    try:
        return shape.name(page[begin:end])
    except ValueError:  # JSON or UTF-8 that is not: the page was not written by render
        return None


def _entry_end(page: bytes, shape: _Shape, at: int) -> int:
    """Where the entry starting at ``at`` ends (after its name, the first ``shape.end``); -1 if it doesn't."""
    after_name = page.find(shape.name_end, at + len(shape.marker))
    found = page.find(shape.end, after_name) if after_name >= 0 else -1
    return found + len(shape.end) if found >= 0 else -1
