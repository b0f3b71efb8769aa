"""State files in bandersnatch's formats (text: ``protocol.statefiles``, files: ``Mirror``), the todo checkpoint."""

from __future__ import annotations

import pytest

from frumious import compact, state
from frumious.errors import StateError
from frumious.mirror import Mirror
from frumious.models import ListingEntry
from frumious.protocol import statefiles
from frumious.record.db import MirrorRecord
from frumious.settings import MirrorSettings
from frumious.storage.filesystem import FilesystemStore


@pytest.fixture
def store(tmp_path) -> FilesystemStore:
    return FilesystemStore(str(tmp_path))


@pytest.fixture
def tree(store, tmp_path) -> Mirror:
    record = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    yield Mirror(store, record, MirrorSettings(directory=str(tmp_path)))
    record.close()


def test_todo_round_trips_in_bandersnatch_format() -> None:
    todo = statefiles.Todo(42, (ListingEntry("Foo.Bar", 40), ListingEntry("b", 42)))
    assert todo.render() == b"42\nFoo.Bar 40\nb 42"
    assert statefiles.parse_todo(todo.render().decode()) == todo


@pytest.mark.parametrize("text", ["None\nfoo 1", "12\nfoo", "12\nfoo x", "x"])
def test_unusable_todo_is_rejected(text: str) -> None:
    assert statefiles.parse_todo(text) is None


async def test_unusable_todo_file_is_deleted(tree, tmp_path) -> None:
    (tmp_path / "todo").write_text("None\nfoo 1")
    assert await tree.todo() is None
    assert not (tmp_path / "todo").exists()


async def test_generation_is_written_and_old_ones_force_a_full_sync(tree, tmp_path) -> None:
    await tree.bootstrap()
    assert (tmp_path / "generation").read_bytes() == b"5"
    (tmp_path / "generation").write_text("3")
    (tmp_path / "status").write_text("77")
    await tree.bootstrap()
    assert not (tmp_path / "status").exists()
    (tmp_path / "generation").write_text("6")
    with pytest.raises(StateError):
        await tree.bootstrap()


async def test_serial_is_plain_ascii_without_newline(tree, tmp_path) -> None:
    assert await tree.serial() == 0
    await tree.publish(1234, 0.0, None, "")
    assert (tmp_path / "status").read_bytes() == b"1234"
    (tmp_path / "status").write_text("junk")
    with pytest.raises(StateError):
        await tree.serial()


async def test_checkpoint_does_not_rewrite_todo_per_project(store, tmp_path, monkeypatch) -> None:
    writes = []
    original = store.writer

    async def counting(key):
        writes.append(key)
        return await original(key)

    monkeypatch.setattr(store, "writer", counting)
    entries = tuple(ListingEntry(f"p{i}", i) for i in range(1000))
    checkpoint = state.TodoCheckpoint(store, statefiles.Todo(999, entries), interval=3600)
    await checkpoint.start()
    for index in range(600):
        await checkpoint.done(index)
    assert writes == ["todo"]  # only the initial write: no O(n^2) rewrites
    await checkpoint.flush()
    left = statefiles.parse_todo((tmp_path / "todo").read_text())
    assert left is not None and [e.name for e in left.entries] == [f"p{i}" for i in range(600, 1000)]


async def test_checkpoint_rewrites_after_its_interval(store, tmp_path) -> None:
    entries = (ListingEntry("a", 1), ListingEntry("b", 2))
    checkpoint = state.TodoCheckpoint(store, statefiles.Todo(2, entries), interval=0)
    await checkpoint.start()
    await checkpoint.done(0)
    assert (tmp_path / "todo").read_text() == "2\nb 2"


async def test_checkpoint_keeps_failed_and_unfinished_entries_in_queue_order(store, tmp_path) -> None:
    # Workers finish out of order; a failed entry stays for the next run; the chunks wholly done are skipped.
    count = compact.CHUNK * 2 + 10
    entries = compact.Entries(ListingEntry(f"p{i}", i) for i in range(count))
    checkpoint = state.TodoCheckpoint(store, statefiles.Todo(count, entries), interval=3600)
    await checkpoint.start()
    assert (tmp_path / "todo").read_text().count("\n") == count
    for index in [1, 0, 3, *range(5, compact.CHUNK + 7)]:
        await checkpoint.done(index)
    await checkpoint.kept(2)
    await checkpoint.done(2)  # settled already: a failed entry is not finished by a later call
    await checkpoint.flush()
    left = statefiles.parse_todo((tmp_path / "todo").read_text())
    assert left is not None and left.target == count
    expected = [2, 4, *range(compact.CHUNK + 7, count)]
    assert [(e.name, e.serial) for e in left.entries] == [(f"p{i}", i) for i in expected]
    assert checkpoint.low == 4 and checkpoint.above == set(range(5, compact.CHUNK + 7))
