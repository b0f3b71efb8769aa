"""The run report (issue 15 item 4): ``--report FILE``, ``report-file``, ``--json``, schema frumious.report/1.

Every report is validated against ``docs/report.schema.json`` (the documented schema).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
from pathlib import Path
from typing import Any

import filelock
import jsonschema  # a test dependency (pyproject: test extra)

from frumious.mirror import Mirror

from .helpers import mirror_dir, run

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text(encoding="utf-8"))


def valid(doc: Any) -> dict[str, Any]:
    jsonschema.validate(doc, SCHEMA)
    assert isinstance(doc, dict)
    return doc


def load(path: Path) -> dict[str, Any]:
    return valid(json.loads(path.read_text(encoding="utf-8")))


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_a_clean_mirror_run(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    report = tmp_path / "run.json"
    assert run(config, "mirror", "--report", str(report)) == 0
    assert "Projects: 3 synced" in capsys.readouterr().out  # the text summary is still printed
    doc = load(report)
    assert doc["schema"] == "frumious.report/1"
    assert (doc["command"], doc["exit_status"], doc["outcome"], doc["error"]) == ("mirror", 0, "ok", None)
    serial = doc["serial"]
    assert serial["before"] == 0
    assert serial["after"] == serial["upstream"] > 0
    assert serial["after"] == int((mirror_dir(config) / "status").read_text())
    assert serial["lag"] == 0
    assert doc["projects"] == {"synced": 3, "skipped": 0, "gone": 0, "failed": {}, "removed": []}
    assert doc["files"]["downloaded"] > 0 and doc["files"]["bytes_downloaded"] > 0
    assert doc["requests"] == len(fake_pypi.requests)
    assert doc["retries"] == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".run.json")] == []  # no temp file left


def test_a_run_with_a_failed_project_and_a_retry(fake_pypi, make_config, tmp_path, capsys) -> None:
    fake_pypi.fail("/simple/yanky/", 403, times=None)
    fake_pypi.fail("/simple/", 503, times=1)
    config = make_config(tmp_path, fake_pypi)
    report = tmp_path / "run.json"
    assert run(config, "mirror", "--report", str(report)) == 1
    doc = load(report)
    assert (doc["exit_status"], doc["outcome"]) == (1, "failed")
    assert list(doc["projects"]["failed"]) == ["yanky"]
    assert "HTTP 403" in doc["projects"]["failed"]["yanky"]
    assert doc["projects"]["synced"] == 2
    assert doc["retries"] >= 1  # the 503 on the listing
    assert doc["requests"] == len(fake_pypi.requests)


def test_json_prints_the_report_instead_of_the_summary(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror", "--json") == 0
    out = capsys.readouterr().out
    doc = valid(json.loads(out))  # stdout is the document and nothing else
    assert doc["outcome"] == "ok" and doc["projects"]["synced"] == 3
    assert "Projects:" not in out


def test_report_file_from_the_config_and_report_overrides_it(fake_pypi, make_config, tmp_path) -> None:
    configured = tmp_path / "configured.json"
    config = make_config(tmp_path, fake_pypi, report_file=configured)
    assert run(config, "mirror") == 0
    first = load(configured)
    assert first["projects"]["synced"] == 3
    assert run(config, "verify") == 0
    assert load(configured)["command"] == "verify"  # one document per run, replaced
    other = tmp_path / "other.json"
    assert run(config, "mirror", "--report", str(other)) == 0
    assert load(other)["serial"]["before"] == first["serial"]["after"]
    assert load(configured)["command"] == "verify"


def test_a_stopped_run_writes_its_partial_report(fake_pypi, make_config, tmp_path, monkeypatch, capsys) -> None:
    async def full_disk(self: Mirror, serial: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "mirror" / "web" / "simple"))

    monkeypatch.setattr(Mirror, "write_root_index", full_disk)
    config = make_config(tmp_path, fake_pypi)
    report = tmp_path / "run.json"
    assert run(config, "mirror", "--report", str(report)) == 1
    assert "No space left on device" in capsys.readouterr().err
    doc = load(report)
    assert (doc["exit_status"], doc["outcome"]) == (1, "stopped")
    assert "No space left on device" in doc["error"]
    assert doc["projects"]["synced"] == 3  # the partial report: the projects synced before the stop
    assert doc["serial"]["after"] == doc["serial"]["before"] == 0  # nothing was published
    assert doc["serial"]["lag"] == doc["serial"]["upstream"] > 0


def test_a_run_stopped_by_sigterm_writes_its_report(fake_pypi, make_config, tmp_path, monkeypatch, capsys) -> None:
    async def stop_here(self: Mirror, serial: int) -> None:
        os.kill(os.getpid(), signal.SIGTERM)  # as systemctl stop would, once every project was synced
        await asyncio.sleep(60)  # cancelled by the stop

    monkeypatch.setattr(Mirror, "write_root_index", stop_here)
    config = make_config(tmp_path, fake_pypi)
    report = tmp_path / "run.json"
    assert run(config, "mirror", "--report", str(report)) == 143
    assert "stopped by SIGTERM" in capsys.readouterr().err
    doc = load(report)
    assert (doc["exit_status"], doc["outcome"], doc["error"]) == (143, "stopped", "stopped by SIGTERM")
    # The partial report: every project was synced before the stop; nothing published.
    assert doc["projects"] == {"synced": 3, "skipped": 0, "gone": 0, "failed": {}, "removed": []}
    assert doc["serial"]["after"] == doc["serial"]["before"] == 0
    assert doc["serial"]["upstream"] > 0
    assert doc["files"]["downloaded"] > 0
    assert doc["requests"] == len(fake_pypi.requests)


def test_a_run_that_cannot_start_still_writes_a_report(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    root.mkdir()
    report = tmp_path / "run.json"
    with filelock.FileLock(str(root / ".lock")):
        assert run(config, "mirror", "--report", str(report)) == 1
    doc = load(report)
    assert (doc["outcome"], doc["exit_status"]) == ("error", 1)
    assert "another run holds" in doc["error"]
    assert doc["serial"] == {"before": None, "after": None, "upstream": None, "lag": None}
    assert doc["projects"] is None


def test_an_unwritable_report_is_one_line(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror", "--report", str(tmp_path / "missing" / "run.json")) == 1
    err = capsys.readouterr().err
    assert "frumious: cannot write the run report" in err and "Traceback" not in err
