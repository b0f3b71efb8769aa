"""Issue 15 item 6: the run history the CLI keeps in the record, and the status page ``serve`` shows at ``/``."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from pathlib import Path

import filelock

from frumious.mirror import Mirror
from frumious.record import history
from frumious.storage.filesystem import FilesystemStore
from frumious.testing.fsvariants import PathlessStore

from .helpers import mirror_dir, run
from .test_serve import fetch, run_frumious


def runs(config: Path) -> list[history.RunRow]:
    return history.recent(str(mirror_dir(config) / "frumious.sqlite")) or []


def test_each_run_adds_a_row_with_the_figures_of_its_report(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    report = tmp_path / "run.json"
    assert run(config, "mirror", "--report", str(report)) == 0
    doc = json.loads(report.read_text())
    [first] = runs(config)
    assert (first.command, first.exit_status, first.outcome) == ("mirror", 0, "ok")
    serial = doc["serial"]
    assert (first.serial_before, first.serial_after, first.upstream_serial, first.lag) == (
        serial["before"], serial["after"], serial["upstream"], serial["lag"],
    )  # fmt: skip
    assert (first.synced, first.failed, first.removed) == (3, 0, 0)
    assert (first.files, first.bytes) == (doc["files"]["downloaded"], doc["files"]["bytes_downloaded"])
    assert first.files > 0 and round(first.seconds, 3) == doc["seconds"]

    fake_pypi.fail("/simple/yanky/", 403, times=None)
    assert run(config, "mirror", "--force-check") == 1
    assert run(config, "sync", "foo-bar") == 0
    assert run(config, "verify") == 0
    assert run(config, "mirror", "--dry-run") == 0  # changes nothing: not a run of the mirror
    with filelock.FileLock(str(mirror_dir(config) / ".lock")):
        assert run(config, "mirror") == 1  # another run holds the lock: that run's row, not this one's
    kept = runs(config)
    assert [(r.command, r.outcome) for r in kept] == [
        ("mirror", "ok"), ("mirror", "failed"), ("sync", "ok"), ("verify", "ok"),
    ]  # fmt: skip
    assert kept[1].failed == 1 and "HTTP 403" in kept[1].reasons["yanky"]


def test_a_run_stopped_by_sigterm_gets_its_row(fake_pypi, make_config, tmp_path, monkeypatch, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0

    async def stop_here(self: Mirror, serial: int) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(60)

    monkeypatch.setattr(Mirror, "write_root_index", stop_here)
    assert run(config, "mirror", "--force-check") == 143
    first, last = runs(config)[0], runs(config)[-1]
    # Stopped at the root index, after every project: the row carries the partial report's counts.
    assert (last.outcome, last.exit_status, last.synced) == ("stopped", 143, first.synced)
    assert first.synced


def test_the_status_page_and_status_json(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    fake_pypi.fail("/simple/yanky/", 403, times=None)
    assert run(config, "mirror", "--force-check") == 1
    root = mirror_dir(config)
    with run_frumious(FilesystemStore(str(root))) as url:
        port = url.rsplit(":", 1)[1]
        page = fetch(url, "/")
        status = json.loads(fetch(url, "/-/status.json").body)
        assert fetch(url, "/simple/").status == 200  # the index is where it was
        hostile = fetch(url, "/", {"Host": '"><script>x</script>'}).body.decode()
        proxied = fetch(url, "/", {"Host": "pypi.example", "X-Forwarded-Proto": "https"}).body.decode()
    assert page.status == 200 and page.media_type == "text/html"
    body = page.body.decode()
    for expected in ("Last clean run", "Failing projects", "yanky", "HTTP 403", "Use this mirror", "<svg"):
        assert expected in body
    assert f"pip config set global.index-url http://127.0.0.1:{port}/simple/" in body
    assert "<script" not in hostile and f"http://127.0.0.1:{port}/simple/" in hostile
    assert "pip config set global.index-url https://pypi.example/simple/" in proxied
    assert "trusted-host" not in proxied  # https needs no trust
    assert status["serial"] == int((root / "status").read_text())
    assert status["projects"] == 3 and status["files"] > 0 and status["bytes"] > 0
    assert [f["name"] for f in status["failing"]] == ["yanky"]
    assert [r["outcome"] for r in status["history"]] == ["ok", "failed"]


def test_under_a_root_path(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    with run_frumious(FilesystemStore(str(mirror_dir(config))), root_path="/pypi") as url:
        body = fetch(url, "/pypi/").body.decode()
        assert fetch(url, "/pypi/-/status.json").status == 200
        assert fetch(url, "/").status == 404
    assert "/pypi/simple/" in body and "Last clean run" in body


def test_a_bandersnatch_tree_without_history(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    (root / "frumious.sqlite").unlink()  # as bandersnatch leaves a tree: no record at all
    with run_frumious(FilesystemStore(str(root))) as url:
        page = fetch(url, "/")
        status = json.loads(fetch(url, "/-/status.json").body)
    assert page.status == 200 and "No run history yet" in page.body.decode()
    assert status["history"] is None and status["projects"] is None
    assert status["serial"] == int((root / "status").read_text())


def test_an_empty_directory_and_an_object_store(tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with run_frumious(FilesystemStore(str(empty))) as url:
        assert "No run history yet" in fetch(url, "/").body.decode()
    copy = tmp_path / "copy"
    shutil.copytree(empty, copy)
    (copy / "status").write_text("42")
    (copy / ".frumious").mkdir()
    (copy / ".frumious" / "failed").write_text("broken 40 3 0\n")
    with run_frumious(PathlessStore(str(copy))) as url:  # no local paths: as S3 or Swift
        body = fetch(url, "/").body.decode()
        status = json.loads(fetch(url, "/-/status.json").body)
    assert "run history is unavailable" in body and "broken" in body
    assert status["serial"] == 42 and status["failing"][0]["failed_runs"] == 3 and status["projects"] is None
