"""A new project's rows written behind (``MirrorRecord.record`` with new and claimed): seen as if written."""

from __future__ import annotations

import pytest

from frumious.errors import ends_run
from frumious.models import StoredFile
from frumious.record import db as recorddb
from frumious.record import schema
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.record.errors import RowsLost


def file_row(key: str, project: str, **kw: object) -> StoredFile:
    values: dict[str, object] = {"version": "1.0", "size": 3, "algorithm": "sha256", "digest": "ab" * 32}
    values.update({"uploaded": 1.5, **kw})
    return StoredFile(key, project, **values)  # type: ignore[arg-type]


def key(n: int) -> str:
    return f"web/packages/{n % 256:02x}/aa/{n:060x}/p{n}-1.0.tar.gz"


@pytest.fixture
def record(tmp_path) -> MirrorRecord:
    opened = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    yield opened
    opened.db.close()


def new_project(record: MirrorRecord, n: int, **kw: object) -> ProjectRow:
    row = ProjectRow(f"p{n}", f"P{n}", n, 1_700_000_000.75)
    record.record(row, [file_row(key(n), row.name, **kw)], new=True, claimed=True)
    return row


def test_a_waiting_project_reads_back_as_written(record) -> None:
    new_project(record, 1)
    waiting_row, waiting_holders = record.project("p1"), record.holders([key(1), key(2)])
    assert record.pending == 0  # not in SQLite yet
    assert record.names_changed and list(record.touched or ()) == ["p1"]
    record.commit()
    assert record.pending == 0 and record.count() == 1
    assert waiting_row == record.project("p1") == ProjectRow("p1", "P1", 1, 1_700_000_000.0)
    assert waiting_holders == record.holders([key(1), key(2)]) == {key(1): ("p1", "ab" * 32)}


def test_any_other_read_sees_the_waiting_rows(record) -> None:
    new_project(record, 1)
    new_project(record, 2)
    assert [f.key for f in record.files("p2")] == [key(2)]  # through ``db``: written first
    assert record.names() == ["p1", "p2"] and record.pending == 2


def test_rows_are_written_once_enough_wait(record, monkeypatch) -> None:
    monkeypatch.setattr(recorddb, "BEHIND", 3)
    new_project(record, 1)
    new_project(record, 2)
    assert record.pending == 0
    new_project(record, 3)
    assert record.pending == 3


def test_rows_are_written_once_enough_files_wait(record, monkeypatch) -> None:
    monkeypatch.setattr(recorddb, "BEHIND_FILES", 4)
    row = ProjectRow("big", "big", 1)
    record.record(row, [file_row(key(n), "big") for n in range(3)], new=True, claimed=True)
    assert record.pending == 0
    new_project(record, 7)
    assert record.pending == 2 and record.file_keys("big") == {key(n) for n in range(3)}


def test_a_later_record_of_the_same_project_replaces_the_waiting_one(record) -> None:
    row = new_project(record, 1)
    assert record.project("p1") is not None  # what the caller asks to decide ``new``
    record.record(row, [file_row(key(9), "p1")], new=False, claimed=True)
    record.commit()
    assert record.file_keys("p1") == {key(9)}


def test_rows_that_cannot_bind_fail_their_own_project_at_once(record) -> None:
    new_project(record, 1)
    with pytest.raises(OverflowError):
        new_project(record, 2, size=2**64)
    with pytest.raises(UnicodeEncodeError):
        new_project(record, 3, version="1.0\udcff")
    record.commit()
    assert record.names() == ["p1"]


def test_rows_lost_on_their_way_leave_the_record_to_be_rebuilt(tmp_path, monkeypatch) -> None:
    path = str(tmp_path / "frumious.sqlite")
    record = MirrorRecord(path)
    new_project(record, 1)
    new_project(record, 2)
    packed = schema.pack

    def pack(project_id: int, files: list[StoredFile]) -> list[schema.Row]:
        if files[0].project == "p2":
            raise RuntimeError("lost")
        return packed(project_id, files)

    monkeypatch.setattr(schema, "pack", pack)
    with pytest.raises(RowsLost, match="lost this run's latest projects") as raised:
        record.commit()
    assert ends_run(raised.value)  # the run stops rather than go on with a record that lacks them
    record.close()
    reopened = MirrorRecord(path)
    assert reopened.was_unclean  # the next command rebuilds it from the pages
    assert reopened.names() == []  # the waiting rows go in together or not at all (record/behind.py)
    reopened.close()


def test_rows_lost_at_the_close_are_a_warning_not_the_commands_error(tmp_path, monkeypatch, caplog) -> None:
    path = str(tmp_path / "frumious.sqlite")
    record = MirrorRecord(path)
    new_project(record, 1)
    monkeypatch.setattr(schema, "pack", lambda *_: (_ for _ in ()).throw(RuntimeError("lost")))
    record.close()
    assert "rebuilds the record from the pages" in caplog.text
    assert MirrorRecord(path).was_unclean


def test_a_project_that_fails_before_waiting_leaves_the_others_alone(record) -> None:
    new_project(record, 1)
    with pytest.raises((OverflowError, ValueError)):
        record.record(ProjectRow("p2", "p2", 2, float("inf")), [file_row(key(2), "p2")], new=True, claimed=True)
    record.commit()
    assert record.names() == ["p1"] and record.project("p2") is None


def test_a_clean_close_writes_the_waiting_rows(tmp_path) -> None:
    path = str(tmp_path / "frumious.sqlite")
    record = MirrorRecord(path)
    new_project(record, 1)
    record.close()
    reopened = MirrorRecord(path)
    assert not reopened.was_unclean and reopened.names() == ["p1"]
    reopened.close()


def test_waiting_projects_take_the_ids_after_the_largest_and_keep_their_own_files(record) -> None:
    first = ProjectRow("old", "old", 1)
    record.record(first, [file_row(key(100), "old")], new=True, claimed=False)  # written at once: id 1
    record.record(ProjectRow("gone", "gone", 2), [file_row(key(101), "gone")], new=True, claimed=False)
    record.forget("gone")  # its id (2) is free again, and none of its rows is left to be taken over
    for n in (1, 2, 3):
        new_project(record, n)
    record.commit()
    ids = dict(record.db.execute("SELECT name, id FROM projects"))
    assert ids == {"old": 1, "p1": 2, "p2": 3, "p3": 4}
    assert {name: record.file_keys(name) for name in ids} == {
        "old": {key(100)},
        "p1": {key(1)},
        "p2": {key(2)},
        "p3": {key(3)},
    }
    assert record.project("p3") == ProjectRow("p3", "P3", 3, 1_700_000_000.0)
    assert record.holders([key(2)]) == {key(2): ("p2", "ab" * 32)}


def test_values_reach_sqlite_as_bound_without_adapters() -> None:
    # record/schema registers None, bytes and bool with sqlite3 (a shortcut past its adaptation):
    # what SQLite stores must be what it stored before.
    import sqlite3

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t (a, b, c, d)")
    db.execute("INSERT INTO t VALUES (?, ?, ?, ?)", (None, b"\x00\xff", True, False))
    row = db.execute("SELECT typeof(a), typeof(b), typeof(c), a, b, c, d FROM t").fetchone()
    assert row == ("null", "blob", "integer", None, b"\x00\xff", 1, 0)
    assert sqlite3.adapters[(type(None), sqlite3.PrepareProtocol)](None) is None


def test_a_commit_that_fails_after_the_batch_leaves_the_record_to_be_rebuilt(tmp_path, monkeypatch) -> None:
    import sqlite3

    path = str(tmp_path / "frumious.sqlite")
    record = MirrorRecord(path)
    monkeypatch.setattr(recorddb, "BATCH_PROJECTS", 1)  # the batch's own write commits

    def commit() -> None:
        raise sqlite3.OperationalError("disk I/O error")

    new_project(record, 1)
    monkeypatch.setattr(record, "commit", commit)
    with pytest.raises(Exception) as raised:
        record.names()  # any read writes the waiting rows first
    assert ends_run(raised.value)
    monkeypatch.undo()
    record.close()
    assert MirrorRecord(path).was_unclean  # the next command rebuilds it from the pages
