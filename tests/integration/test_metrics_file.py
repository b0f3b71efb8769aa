"""The metrics file (issue 15 item 5): ``--metrics FILE`` and ``metrics-file``, node_exporter's textfile format.

Every file is parsed with prometheus-client's own parser, and its values compared with what the run did.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from .helpers import mirror_dir, run, tree

Series = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(path: Path) -> Series:
    """Every sample of the file, by name and sorted labels."""
    found: Series = {}
    for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
        assert family.type == "gauge", family.name  # one run's figures, not counters
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def of(series: Series, name: str, command: str | None = "mirror", **labels: str) -> float:
    key = tuple(sorted({**({"command": command} if command else {}), **labels}.items()))
    return series[(name, key)]


def test_a_clean_mirror_run(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    metrics, report = tmp_path / "frumious.prom", tmp_path / "run.json"
    assert run(config, "mirror", "--metrics", str(metrics), "--report", str(report)) == 0
    series, doc = parse(metrics), json.loads(report.read_text())
    root = mirror_dir(config)
    fake_files = fake_pypi.index.all_files()
    assert of(series, "frumious_run_exit_status") == 0
    assert of(series, "frumious_run_files_downloaded") == len(fake_pypi.downloads) > 0
    assert of(series, "frumious_run_downloaded_bytes") == doc["files"]["bytes_downloaded"] > 0
    assert of(series, "frumious_run_requests") == len(fake_pypi.requests)
    assert of(series, "frumious_run_retries") == 0
    assert of(series, "frumious_run_projects", result="synced") == 3
    assert of(series, "frumious_run_projects", result="failed") == 0
    assert of(series, "frumious_run_projects", result="removed") == 0
    status = int((root / "status").read_text())
    assert of(series, "frumious_run_serial_after") == of(series, "frumious_run_upstream_serial") == status > 0
    assert of(series, "frumious_run_serial_before") == 0
    assert of(series, "frumious_run_lag_serials") == 0
    started = of(series, "frumious_run_started_timestamp_seconds")
    finished = of(series, "frumious_run_finished_timestamp_seconds")
    assert of(series, "frumious_last_clean_run_timestamp_seconds") == finished >= started
    assert of(series, "frumious_run_duration_seconds") == doc["seconds"]
    # The mirror's size, from its record: the fake's projects and files, and their bytes in web/packages.
    assert of(series, "frumious_mirror_projects", None) == len(fake_pypi.index.projects())
    assert of(series, "frumious_mirror_files", None) == len(fake_files)
    released = [p for p in tree(root) if p.startswith("web/packages/") and not p.endswith(".metadata")]
    assert len(released) == len(fake_files)
    on_disk = sum((root / path).stat().st_size for path in released)
    assert of(series, "frumious_mirror_size_bytes", None) == on_disk
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("frumious.prom")) == ["frumious.prom"]


def test_a_failed_run_keeps_the_last_clean_run(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    metrics = tmp_path / "frumious.prom"
    assert run(config, "mirror", "--metrics", str(metrics)) == 0
    clean = of(parse(metrics), "frumious_last_clean_run_timestamp_seconds")
    fake_pypi.index.touch("yanky")
    fake_pypi.fail("/simple/yanky/", 403, times=None)
    fake_pypi.reset_log()
    assert run(config, "mirror", "--metrics", str(metrics)) == 1
    series = parse(metrics)
    assert of(series, "frumious_run_exit_status") == 1
    assert of(series, "frumious_run_projects", result="failed") == 1
    assert of(series, "frumious_run_files_downloaded") == 0
    assert of(series, "frumious_run_requests") == len(fake_pypi.requests)
    assert of(series, "frumious_run_finished_timestamp_seconds") > clean
    assert of(series, "frumious_last_clean_run_timestamp_seconds") == clean  # not reset by the failure


def test_one_file_holds_every_command_from_the_config_key(fake_pypi, make_config, tmp_path) -> None:
    metrics = tmp_path / "frumious.prom"
    config = make_config(tmp_path, fake_pypi, metrics_file=metrics)
    assert run(config, "mirror") == 0
    assert run(config, "verify") == 0
    assert run(config, "mirror", "--dry-run") == 0
    series = parse(metrics)
    commands = {dict(labels)["command"] for (name, labels) in series if name == "frumious_run_exit_status"}
    assert commands == {"mirror", "verify", "mirror-dry-run"}
    # A dry run writes nothing, so it does not stand for the mirror's last clean run.
    mirror_clean = of(series, "frumious_last_clean_run_timestamp_seconds")
    assert mirror_clean == of(series, "frumious_run_finished_timestamp_seconds")
    assert of(series, "frumious_last_clean_run_timestamp_seconds", "mirror-dry-run") > mirror_clean
    assert of(series, "frumious_mirror_files", None) == len(fake_pypi.index.all_files())
    other = tmp_path / "other.prom"
    assert run(config, "verify", "--metrics", str(other)) == 0  # the flag overrides the key
    assert {dict(labels)["command"] for (_, labels) in parse(other) if labels} == {"verify"}


def test_a_run_that_cannot_start_keeps_the_previous_figures(fake_pypi, make_config, tmp_path) -> None:
    import filelock

    config = make_config(tmp_path, fake_pypi)
    metrics = tmp_path / "frumious.prom"
    assert run(config, "mirror", "--metrics", str(metrics)) == 0
    before = parse(metrics)
    with filelock.FileLock(str(mirror_dir(config) / ".lock")):
        assert run(config, "mirror", "--metrics", str(metrics)) == 1
    series = parse(metrics)
    assert of(series, "frumious_run_exit_status") == 1
    assert ("frumious_run_projects", (("command", "mirror"), ("result", "synced"))) not in series  # unknown
    for name in ("frumious_mirror_files", "frumious_mirror_size_bytes"):
        assert of(series, name, None) == of(before, name, None)  # not measured this run: carried
    clean = "frumious_last_clean_run_timestamp_seconds"
    assert of(series, clean) == of(before, clean)


def test_a_damaged_previous_file_is_replaced(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    metrics = tmp_path / "frumious.prom"
    metrics.write_text("this is { not a metrics file\n")
    assert run(config, "mirror", "--metrics", str(metrics)) == 0
    assert of(parse(metrics), "frumious_run_exit_status") == 0


def test_an_unwritable_metrics_file_is_one_line(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror", "--metrics", str(tmp_path / "missing" / "frumious.prom")) == 1
    err = capsys.readouterr().err
    assert "frumious: cannot write the metrics file" in err and "Traceback" not in err
    assert os.listdir(tmp_path).count("missing") == 0
