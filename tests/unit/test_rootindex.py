"""The root pages: edited in place for the projects a run changed, streamed in full otherwise; render.root_*'s bytes."""

from __future__ import annotations

import asyncio
import tracemalloc
from pathlib import Path

import pytest

from frumious import rootindex
from frumious.models import StoredFile
from frumious.protocol import layout, render
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.settings import SimpleFormat
from frumious.testing.memstore import MemoryStore

PAGES = layout.root_page_keys()
NAMES = ["a-b", "caf\u00e9", "q&a", 'x"y', "zed"]


def pages(store: MemoryStore) -> tuple[bytes, bytes, bytes]:
    async def read() -> tuple[bytes, bytes, bytes]:
        return await store.read(PAGES.html), await store.read(PAGES.v1_html), await store.read(PAGES.v1_json)

    return asyncio.run(read())


def expected(record: MirrorRecord, serial: int) -> tuple[bytes, bytes, bytes]:
    names, serials = record.names_and_serials()
    html = render.root_html(names)
    return html, html, render.root_json(names, serial, serials)


@pytest.fixture
def record(tmp_path: Path) -> MirrorRecord:
    found = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    for i, name in enumerate(NAMES):
        found.record(ProjectRow(name, name, 10 + i), [])
    return found


def test_written_in_full_then_patched_with_the_same_bytes(
    record: MirrorRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 50, {}))
    assert pages(store) == expected(record, 50)
    written: list[str] = []
    writer = store.writer

    async def logged(key: str):  # type: ignore[no-untyped-def]
        written.append(key)
        return await writer(key)

    monkeypatch.setattr(store, "writer", logged)
    record.record(ProjectRow("q&a", "q&a", 99), [])  # a serial moved, no name came or went
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 99, {}))
    assert written == [PAGES.v1_json]  # the HTML root is left alone
    assert pages(store) == expected(record, 99)


def rendered(record: MirrorRecord, monkeypatch: pytest.MonkeyPatch, batch: int | None = None) -> list[int]:
    """Each time the pages are rendered from the record (not edited), the batch size asked; ``batch``: given."""
    asked: list[int] = []
    batches = record.serials_in_batches

    def spied(size: int = 20_000):  # type: ignore[no-untyped-def]
        asked.append(size)
        return batches(batch or size)

    monkeypatch.setattr(record, "serials_in_batches", spied)
    return asked


def test_projects_that_came_or_went_are_edited_into_the_pages(
    record: MirrorRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 50, {}))
    asked = rendered(record, monkeypatch)
    record.record(ProjectRow("new", "new", 60), [])
    record.record(ProjectRow("a-b", "a-b", 60), [])
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 60, {}))
    assert pages(store) == expected(record, 60)
    record.forget("zed")
    record.forget("never-there")
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 61, {}))
    assert pages(store) == expected(record, 61)
    # A project added and removed in the same run leaves no entry.
    record.record(ProjectRow("brief", "brief", 62), [])
    record.forget("brief")
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 62, {}))
    assert pages(store) == expected(record, 62) and b"brief" not in pages(store)[2]
    assert asked == []  # edited each time, never rendered from the record


def test_pages_behind_the_record_or_a_rebuilt_record_are_rendered_again(
    record: MirrorRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 50, {}))
    asked = rendered(record, monkeypatch)
    # A run that stopped before writing the pages: the next run does not know its names, the count tells.
    record.record(ProjectRow("lost", "lost", 55), [])
    record.root_written()
    record.record(ProjectRow("zed", "zed", 56), [])
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 56, {}))
    assert pages(store) == expected(record, 56) and len(asked) == 2  # each format from the record
    with record.rebuilding() as add:
        add([(ProjectRow(n, n, 70), []) for n in NAMES[:2]])
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 70, {}))
    assert pages(store) == expected(record, 70) and len(asked) == 4


def test_an_html_only_mirror_edits_its_html_root(record: MirrorRecord, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.HTML, 50, {}))
    asked = rendered(record, monkeypatch)
    record.record(ProjectRow("new", "new", 60), [])
    asyncio.run(rootindex.write(store, record, SimpleFormat.HTML, 60, {}))
    html, v1_html, _ = expected(record, 60)
    assert asyncio.run(store.read(PAGES.html)) == html and asyncio.run(store.read(PAGES.v1_html)) == v1_html
    assert asked == [] and not asyncio.run(store.exists(PAGES.v1_json))


def test_a_page_not_as_frumious_wrote_it_is_rendered_again(record: MirrorRecord) -> None:
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 50, {}))
    asyncio.run(store.write(PAGES.v1_json, b'{"meta": {"_last-serial": 50, "api-version": "1.1"}, "projects": []}'))
    record.record(ProjectRow("a-b", "a-b", 70), [])
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 70, {}))
    assert pages(store) == expected(record, 70)


def test_rendered_from_small_batches(record: MirrorRecord, monkeypatch: pytest.MonkeyPatch) -> None:
    # A batch's rows and text are held together while it is written: the batch bounds the run's end.
    asked = rendered(record, monkeypatch, batch=2)  # and the pages are the same bytes from batches of two
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 50, {}))
    assert asked and max(asked) <= 2_000
    assert pages(store) == expected(record, 50)


def test_the_names_a_run_recorded_are_kept_compact(record: MirrorRecord) -> None:
    # Up to TOUCHED_LIMIT (20,000) names are kept for the patch: as a set of them, 3.1 MiB.
    names = [f"project-{i:06d}" for i in range(19_990)]  # the fixture recorded 5
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for name in names:
            record.touch(name.upper().lower(), new=False)  # a string of its own, as each project's canonical name
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 20_000 * 25
    assert record.touched is not None and set(record.touched) == {*names, *NAMES}


def test_a_project_recorded_twice_is_patched_once(record: MirrorRecord) -> None:
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 50, {}))
    record.record(ProjectRow("zed", "zed", 60), [])
    record.record(ProjectRow("zed", "zed", 61), [])
    before = pages(store)[0]
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 61, {}))
    assert pages(store) == expected(record, 61) and pages(store)[0] == before


def reopened(record: MirrorRecord) -> MirrorRecord:
    """The next command's record: closed cleanly, opened again (what it knows of the last run is on disk)."""
    record.close()
    return MirrorRecord(record.path)


def test_what_a_command_left_out_of_the_pages_is_rendered_by_the_next(record: MirrorRecord) -> None:
    # sync --skip-simple-root, or a run stopped before its root: a new name, a removed one, a moved serial.
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 50, {}))
    record.record(ProjectRow("new", "new", 55), [])
    record.forget("zed")
    record.record(ProjectRow("a-b", "a-b", 56), [])
    record = reopened(record)
    record.record(ProjectRow("later", "later", 57), [])  # the next run adds a name: the counts agree
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 57, {}))
    assert pages(store) == expected(record, 57)
    # Written: the command after that edits again.
    record = reopened(record)
    assert record.touched is not None and not record.root_behind


def test_an_html_only_root_behind_the_record_is_rendered(record: MirrorRecord) -> None:
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.HTML, 50, {}))
    record.record(ProjectRow("new", "new", 55), [])  # --skip-simple-root
    record = reopened(record)
    record.record(ProjectRow("a-b", "a-b", 56), [])  # only a serial moves in this run
    asyncio.run(rootindex.write(store, record, SimpleFormat.HTML, 56, {}))
    assert asyncio.run(store.read(PAGES.html)) == expected(record, 56)[0]


def test_a_page_write_that_fails_leaves_the_next_command_to_render(
    record: MirrorRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 50, {}))
    record.record(ProjectRow("new", "new", 55), [])
    writer = store.writer

    async def failing(key: str):  # type: ignore[no-untyped-def]
        if key == PAGES.html:
            raise OSError("the store refused the page")
        return await writer(key)

    monkeypatch.setattr(store, "writer", failing)
    with pytest.raises(OSError):
        asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 55, {}))
    monkeypatch.setattr(store, "writer", writer)
    record = reopened(record)
    record.record(ProjectRow("a-b", "a-b", 56), [])
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 56, {}))
    assert pages(store) == expected(record, 56)


def test_a_project_that_fails_to_record_does_not_take_the_mark_with_it(record: MirrorRecord) -> None:
    # sync NAME... --skip-simple-root whose first project fails inside record() (that project fails,
    # the run goes on): the rollback took the mark, the next project's change must set it again.
    store = MemoryStore()
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 50, {}))
    record = reopened(record)
    huge = StoredFile("packages/aa/bb/bad-1.tar.gz", "bad", "1", 2**70, "sha256", "00" * 32, None)
    with pytest.raises(OverflowError):
        record.record(ProjectRow("bad", "bad", 51), [huge], new=True, claimed=True)
    record.record(ProjectRow("zed", "zed", 55), [])  # a serial moves, the root is not written
    record = reopened(record)
    record.record(ProjectRow("a-b", "a-b", 57), [])
    asyncio.run(rootindex.write(store, record, SimpleFormat.ALL, 57, {}))
    assert pages(store) == expected(record, 57)
