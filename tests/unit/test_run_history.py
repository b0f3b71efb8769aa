"""The run history in the mirror's record (record/history): written, bounded, read back, survives old records."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from frumious.models import StoredFile
from frumious.protocol.runs import RunRow, Totals
from frumious.record import history
from frumious.record.db import MirrorRecord, ProjectRow


def row(n: int, **figures: object) -> RunRow:
    return RunRow("mirror", 1000.0 + n, 1010.0 + n, 0, "ok", serial_after=n, files=n, **figures)  # type: ignore[arg-type]


def record_file(tmp_path: Path) -> str:
    path = str(tmp_path / "frumious.sqlite")
    record = MirrorRecord(path)
    record.record(
        ProjectRow("foo", "Foo", 5),
        [
            StoredFile("web/packages/a/foo-1.whl", "foo", "1", 100, "sha256", "aa", None),
            StoredFile("web/packages/a/foo-1.whl.metadata", "foo", "1", 7, "sha256", "bb", None, metadata=True),
            StoredFile("web/packages/a/foo-1.tar.gz", "foo", "1", 50, "sha256", "cc", None),
        ],
    )
    record.close()
    return path


def test_rows_are_read_back_oldest_first_with_every_figure(tmp_path: Path) -> None:
    path = record_file(tmp_path)
    assert history.recent(path) is None  # a record from before the history: no table yet
    first = row(1, serial_before=0, upstream_serial=9, lag=8, synced=2, failed=1, removed=0, bytes=4096)
    failed = RunRow("sync", 2000.0, 2003.5, 1, "failed", failed=1, reasons={"yanky": "HTTP 403"})
    assert history.append(path, first) and history.append(path, failed)
    assert history.recent(path) == [first, failed]
    assert history.recent(path, limit=1) == [failed]
    assert failed.seconds == 3.5


def test_the_history_keeps_the_last_rows_only(tmp_path: Path) -> None:
    path = record_file(tmp_path)
    for n in range(12):
        history.append(path, row(n), keep=5)
    kept = history.recent(path, limit=100)
    assert kept is not None and [r.serial_after for r in kept] == [7, 8, 9, 10, 11]


def test_no_record_file_no_history_and_none_created(tmp_path: Path) -> None:
    path = str(tmp_path / "frumious.sqlite")
    assert history.append(path, row(1)) is False
    assert not Path(path).exists()
    assert history.recent(path) is None and history.totals(path) is None


def test_the_record_still_opens_and_rebuilds_with_a_history(tmp_path: Path) -> None:
    path = record_file(tmp_path)
    history.append(path, row(1))
    record = MirrorRecord(path)  # an old frumious opening a newer record: the extra table is ignored
    with record.rebuilding() as add:  # reindex replaces projects and files only
        add([(ProjectRow("bar", "bar", 6), [])])
    record.close()
    assert history.recent(path) == [row(1)]


def test_a_record_rebuilt_for_another_schema_keeps_its_history(tmp_path: Path) -> None:
    path = record_file(tmp_path)
    history.append(path, row(1))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '0' WHERE key = 'schema'")
    MirrorRecord(path).close()
    assert history.recent(path) == [row(1)]


def test_totals_count_release_files_and_their_bytes_in_one_query(tmp_path: Path) -> None:
    assert history.totals(record_file(tmp_path)) == Totals(projects=1, files=2, bytes=150)


def test_an_unwritable_record_is_a_warning_not_an_error(tmp_path: Path, caplog) -> None:
    path = tmp_path / "frumious.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    assert history.append(str(path), row(1)) is False
    assert "Could not add this run to the history" in caplog.text
    assert history.recent(str(path)) is None


def test_a_record_in_a_read_only_directory_is_still_read(tmp_path: Path) -> None:
    """As the shipped serve unit sees the mirror (``ProtectSystem=strict``): SQLite cannot create the
    ``-shm`` file a read-only WAL reader needs beside the record, and the history is still read."""
    directory = Path(tempfile.mkdtemp(prefix="frumious-ro-"))  # under /tmp, so another user can reach it
    try:
        path = record_file(directory)
        history.append(path, row(1))
        src = str(Path(history.__file__).parents[2])
        code = "import sys; from frumious.record import history; print(history.recent(sys.argv[1]))"
        command = [sys.executable, "-c", code, path]
        if os.geteuid() == 0:  # root writes anywhere: read as nobody instead
            if shutil.which("setpriv") is None:
                pytest.skip("setpriv is missing: cannot read the record as another user")
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", *command]
        directory.chmod(0o555)
        found = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": src})
        assert found.returncode == 0, found.stderr
        assert "serial_after=1" in found.stdout
    finally:
        directory.chmod(0o755)
        shutil.rmtree(directory)
