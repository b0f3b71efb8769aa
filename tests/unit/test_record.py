"""The record database (frumious.sqlite), reading pages back into rows, and the verify watermark."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from frumious.errors import StateError
from frumious.models import DistFile, Project, StoredFile
from frumious.protocol import pagelinks, render
from frumious.record import rebuild
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.verify import Watermark


def file_row(key: str, project: str = "foo", **kw: object) -> StoredFile:
    values: dict[str, object] = {"version": "1.0", "size": 3, "algorithm": "sha256", "digest": "ab", "uploaded": 1.5}
    values.update(kw)
    return StoredFile(key, project, **values)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path) -> MirrorRecord:
    opened = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    yield opened
    opened.db.close()


def test_record_replaces_a_project_and_forget_drops_it(db) -> None:
    db.record(ProjectRow("foo", "Foo", 3), [file_row("web/packages/a/foo-1.0.tar.gz"), file_row("web/packages/b/x")])
    db.record(ProjectRow("foo", "Foo", 4), [file_row("web/packages/b/x")])
    db.record(ProjectRow("bar", "bar", 1), [])
    assert db.file_keys("foo") == {"web/packages/b/x"}
    assert db.names() == ["bar", "foo"] and db.names(after="bar") == ["foo"]
    assert db.names_and_serials() == (["bar", "foo"], {"bar": 1, "foo": 4})
    assert db.count() == 2 and db.count_files() == 1
    db.forget("foo")
    assert db.file_keys("foo") is None and db.owned_keys() == set()


def test_a_projects_moment_is_kept_in_whole_seconds(db) -> None:
    db.record(ProjectRow("foo", "foo", 1, 1_700_000_000.75), [])
    db.record(ProjectRow("bar", "bar", 1, 1_700_000_001.25), [])
    db.commit()
    assert db.project("foo").synced == 1_700_000_000.0 and db.project("bar").synced == 1_700_000_001.0

    def payload() -> int:
        return int(db.db.execute("SELECT sum(payload) FROM dbstat WHERE name = 'projects'").fetchone()[0])

    # SQLite stores a REAL without a fraction as a 4-byte integer: 4 bytes a row fewer than with one.
    whole = payload()
    db.db.execute("UPDATE projects SET synced = synced + 0.5")
    assert payload() == whole + 2 * 4


def test_a_new_project_is_recorded_without_deleting_first(db) -> None:
    """A project new to the record has no rows to replace, so its record() issues no DELETE."""
    db.record(ProjectRow("foo", "Foo", 3), [file_row("web/packages/a/foo-1.0.tar.gz")], new=True, claimed=True)
    db.forget("foo")  # the id is free again: a project that takes it finds no rows of foo's
    statements: list[str] = []
    db.db.set_trace_callback(statements.append)
    db.record(ProjectRow("bar", "bar", 1), [file_row("web/packages/b/x", "bar")], new=True, claimed=True)
    db.db.set_trace_callback(None)
    assert not [s for s in statements if s.lstrip().upper().startswith("DELETE")]
    assert db.file_keys("bar") == {"web/packages/b/x"} and db.file_keys("foo") is None
    db.record(ProjectRow("bar", "bar", 2), [file_row("web/packages/b/y", "bar")], new=False, claimed=True)
    assert db.file_keys("bar") == {"web/packages/b/y"}


def test_file_keys_leave_out_sidecars_and_unknown_projects(db) -> None:
    db.record(ProjectRow("foo", "Foo", 1), [file_row("k"), file_row("k.metadata", size=None, metadata=True)])
    db.record(ProjectRow("broken", "broken", 0, parsed=False), [])
    assert db.file_keys("foo") == {"k"}
    assert db.file_keys("broken") is None and db.file_keys("nope") is None
    assert db.unparsed() == {"broken"}
    assert db.files("foo")[1].dist_key == "k"


def test_a_failed_rebuild_leaves_the_old_index(db) -> None:
    db.record(ProjectRow("foo", "Foo", 1), [file_row("k")])
    with pytest.raises(RuntimeError), db.rebuilding() as add:
        add([(ProjectRow("bar", "bar", 1), [])])
        raise RuntimeError("interrupted")
    assert db.names() == ["foo"] and not db.built
    with db.rebuilding() as add:
        add([(ProjectRow("bar", "bar", 1), [])])
    assert db.names() == ["bar"] and db.built


def test_open_marker_tells_an_unclean_close(tmp_path) -> None:
    path = str(tmp_path / "i.sqlite")
    first = MirrorRecord(path)
    assert not first.was_unclean
    first.db.close()  # as if killed: no clean close
    second = MirrorRecord(path)
    assert second.was_unclean
    second.close()
    assert not MirrorRecord(path).was_unclean


def test_meta_writes_only_on_change(db) -> None:
    db.set_meta("stamp", "x")
    before = db.db.total_changes
    db.set_meta("stamp", "x")
    assert db.db.total_changes == before
    db.set_meta("stamp", None)
    assert db.get_meta("stamp") is None


def test_another_schema_is_dropped_for_a_rebuild(tmp_path) -> None:
    path = tmp_path / "i.sqlite"
    MirrorRecord(str(path)).close()
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
        raw.execute("INSERT INTO meta VALUES ('built', '1')")
    reopened = MirrorRecord(str(path))
    assert not reopened.built and reopened.get_meta("schema") == "2"


def test_a_file_that_is_not_sqlite_is_a_state_error(tmp_path) -> None:
    path = tmp_path / "i.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(StateError, match="delete it to rebuild it"):
        MirrorRecord(str(path))


def project() -> Project:
    dist = DistFile(
        "foo-1.0-py3-none-any.whl",
        "https://files.example/packages/ab/cd/ef/foo-1.0-py3-none-any.whl",
        10,
        {"sha256": "aa" * 32},
        "1.0",
        "2020-01-02T03:04:05.000000Z",
        core_metadata={"sha256": "bb" * 32},
    )
    return Project("Foo", 7, {"1.0": (dist,)})


@pytest.mark.parametrize("fmt", ["json", "html"])
def test_pages_read_back_into_the_rows_sync_records(fmt) -> None:
    options = {"digest_name": "sha256", "root_uri": "", "core_metadata": True, "has_metadata": lambda d: True}
    if fmt == "json":
        page = pagelinks.read_page(render.project_json(project(), **options), json_page=True)  # type: ignore[arg-type]
    else:
        page = pagelinks.read_page(render.project_html(project(), raw_name="Foo", **options), json_page=False)  # type: ignore[arg-type]
        assert page.title == "Foo"
    assert page.serial == 7
    rows = rebuild.file_rows("foo", page, None)
    # Off PyPI's layout, the file lands by its sha256; the page links there and reads back the same key.
    key = f"web/packages/aa/aa/{'aa' * 30}/foo-1.0-py3-none-any.whl"
    uploaded = project().files[0].upload_timestamp
    # frumious' HTML pages carry data-size and data-upload-time too, so both read back the same rows.
    assert rows == [
        StoredFile(key, "foo", "1.0", 10, "sha256", "aa" * 32, uploaded),
        StoredFile(key + ".metadata", "foo", "1.0", None, "sha256", "bb" * 32, uploaded, True),
    ]


def test_saved_json_fills_in_what_html_pages_lack() -> None:
    page = pagelinks.Page([pagelinks.PageFile("../../packages/ab/x/foo-1.0.tar.gz", "sha256", "cc")])
    saved = {"releases": {"1.0rc": [{"filename": "foo-1.0.tar.gz", "size": 5, "upload_time_iso_8601": "2020-01-01"}]}}
    (row,) = rebuild.file_rows("foo", page, saved)
    assert (row.version, row.size, row.uploaded) == ("1.0rc", 5, rebuild.timestamp("2020-01-01"))


def test_root_uri_links_are_ours_too() -> None:
    href = "https://mirror.example/packages/ab/x/foo-1.0.tar.gz"
    assert pagelinks.file_key("foo", href, "https://mirror.example") == "web/packages/ab/x/foo-1.0.tar.gz"
    assert pagelinks.file_key("foo", href) is None


@pytest.mark.parametrize(
    ("filename", "project_name", "version"),
    [
        ("Foo_Bar-1.0-py3-none-any.whl", "foo-bar", "1.0"),
        ("foo_bar-2.0rc1.tar.gz", "foo-bar", "2.0rc1"),
        ("foo_bar-2.0rc1.tar.gz.metadata", "foo-bar", None),
        ("setup.exe", None, None),
    ],
)
def test_names_and_versions_from_filenames(filename, project_name, version) -> None:
    assert rebuild.project_of_filename(filename) == project_name
    if not filename.endswith(".metadata"):
        assert rebuild.version_from_filename(filename) == version


def test_watermark_advances_over_a_contiguous_prefix(db, monkeypatch) -> None:
    monkeypatch.setattr("frumious.verify.CHECKPOINT_EVERY", 0.0)
    mark = Watermark(db, ["a", "b", "c", "d"], enabled=True)
    mark.finished("b")
    assert db.get_meta("verify-after") is None
    mark.finished("a")
    assert db.get_meta("verify-after") == "b"
    mark.finished("d")
    mark.finished("c")
    assert db.get_meta("verify-after") == "d"
    dry = Watermark(db, ["e"], enabled=False)
    dry.finished("e")
    assert db.get_meta("verify-after") == "d"


def test_a_schema_1_record_is_converted_in_place(tmp_path) -> None:
    path = tmp_path / "i.sqlite"
    key = "web/packages/ab/cd/" + "e" * 60 + "/foo_bar-1.0-py3-none-any.whl"
    old = [
        (key, "foo-bar", "1.0", 3, "sha256", "aa" * 32, 1.5, 0),
        (key + ".metadata", "foo-bar", "1.0", None, "sha256", "bb" * 32, 1.5, 1),
        ("web/packages/source/f/foo-bar/Foo-Bar-1.0.tar.gz", "foo-bar", "1.0rc", 5, "md5", "ABC", None, 0),
    ]
    with closing(sqlite3.connect(path)) as raw, raw:
        raw.executescript(
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
            "CREATE TABLE projects (name TEXT PRIMARY KEY, display TEXT NOT NULL, serial INTEGER NOT NULL,"
            " synced REAL, parsed INTEGER NOT NULL DEFAULT 1) WITHOUT ROWID;"
            "CREATE TABLE files (key TEXT PRIMARY KEY, project TEXT NOT NULL, version TEXT, size INTEGER,"
            " algorithm TEXT NOT NULL, digest TEXT NOT NULL, uploaded REAL, metadata INTEGER NOT NULL DEFAULT 0);"
            "INSERT INTO meta VALUES ('schema', '1'), ('built', '1'), ('open', '0');"
            "INSERT INTO projects VALUES ('foo-bar', 'Foo.Bar', 7, 2.0, 1);"
        )
        raw.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?)", old)
    record = MirrorRecord(str(path))
    assert record.built and not record.was_unclean and record.get_meta("schema") == "2"
    assert record.project("foo-bar") == ProjectRow("foo-bar", "Foo.Bar", 7, 2.0)
    assert {(f.key, f.project, f.version, f.size, f.algorithm, f.digest, f.uploaded, f.metadata) for f in
            record.files("foo-bar")} == {(*row[:7], bool(row[7])) for row in old}  # fmt: skip
    assert record.holders([key + ".metadata"]) == {key + ".metadata": ("foo-bar", "bb" * 32)}


def test_rows_are_packed_and_read_back_exactly(db) -> None:
    pypi = "web/packages/ab/cd/" + "0f" * 30
    files = [
        file_row(f"{pypi}/foo-1.0.tar.gz", digest="cd" * 32),
        file_row(f"{pypi}/foo-1.0.tar.gz.metadata", size=None, metadata=True, digest="ef" * 32, algorithm="md5"),
        file_row(f"{pypi}/Foo-2.0-py3-none-any.whl", version=None, digest="ABCD"),
        file_row(f"{pypi}/Foo-2.0-py3-none-any.whl.metadata", size=None, metadata=True, uploaded=9.0),
        file_row("web/packages/x/ünï/foo-bar-3.zip", version="3", algorithm="blake2b_256", uploaded=None),
    ]
    db.record(ProjectRow("foo", "Foo", 1), files)
    assert db.files("foo") == sorted(files, key=lambda f: f.key)
    assert db.owned_keys() == {f.key for f in files}
    assert db.count_files() == 5 and db.count_release_files() == 3  # a sidecar of another time is a row of its own
    assert db.file_keys("foo") == {files[0].key, files[2].key, files[4].key}


def test_recording_a_key_takes_it_from_its_old_owner(db) -> None:
    db.record(ProjectRow("foo", "foo", 1), [file_row("web/packages/a/k"), file_row("web/packages/a/j")])
    db.record(ProjectRow("bar", "bar", 1), [file_row("web/packages/a/k", "bar")])
    assert db.owner("web/packages/a/k") == "bar" and db.file_keys("foo") == {"web/packages/a/j"}


def test_records_are_committed_in_batches_and_a_failed_one_leaves_the_batch(db, monkeypatch) -> None:
    from frumious.record import db as dbmodule

    monkeypatch.setattr(dbmodule, "BATCH_SECONDS", 1e9)
    monkeypatch.setattr(dbmodule, "BATCH_PROJECTS", 3)
    commits: list[str] = []
    db.db.set_trace_callback(lambda sql: commits.append(sql) if sql.startswith("COMMIT") else None)
    for n in range(7):
        db.record(ProjectRow(f"p{n}", f"p{n}", 1), [file_row(f"web/packages/{n}", f"p{n}")])
    assert len(commits) == 2 and db.db.in_transaction
    with pytest.raises(sqlite3.ProgrammingError):
        db.record(ProjectRow("bad", "bad", 1), [file_row("k", "bad", size=object())])  # not storable
    assert db.db.in_transaction and db.count() == 7 and db.project("bad") is None
    db.close()
    assert len(commits) == 3
