"""The metrics file: each run's figures for node_exporter's textfile collector (``--metrics``, ``metrics-file``).

Built from the run report's document (``runfile.document``, so both say the same) and the mirror's
size from its record. One file holds the latest run of every command: the series of the other
commands are carried over from the file already there, and so is a command's last clean run when
this run was not clean (a failed run must not make the mirror look fresh, nor forget when it was).
Every value is a gauge: each describes one run, not a count that grows from run to run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec
from prometheus_client import CollectorRegistry, write_to_textfile
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from frumious.stats import MirrorSize

LAST_CLEAN = "frumious_last_clean_run_timestamp_seconds"

# name -> help, for the gauges labelled by command (plus ``result`` for the projects).
RUN_HELP: Mapping[str, str] = {
    "frumious_run_started_timestamp_seconds": "When the command's last run started (Unix time).",
    "frumious_run_finished_timestamp_seconds": "When the command's last run ended (Unix time).",
    "frumious_run_duration_seconds": "How long the command's last run took.",
    "frumious_run_exit_status": "The exit status of the command's last run (0: clean).",
    "frumious_run_projects": "Projects of the last run by result: synced, failed, removed, skipped, gone.",
    "frumious_run_files_downloaded": "Files the last run downloaded.",
    "frumious_run_downloaded_bytes": "Bytes the last run downloaded.",
    "frumious_run_requests": "Requests the last run sent upstream (each attempt counts).",
    "frumious_run_retries": "Requests of the last run that were retries.",
    "frumious_run_serial_before": "The mirror's serial when the last run started.",
    "frumious_run_serial_after": "The mirror's serial when the last run ended.",
    "frumious_run_upstream_serial": "The newest serial upstream offered the last run.",
    "frumious_run_lag_serials": "How many serials the mirror was behind upstream when the last run ended.",
    LAST_CLEAN: "When the command's last run that exited 0 ended (Unix time).",
}
MIRROR_HELP: Mapping[str, str] = {
    "frumious_mirror_projects": "Projects in the mirror (its record), when the last run ended.",
    "frumious_mirror_files": "Release files in the mirror (.metadata sidecars not counted).",
    "frumious_mirror_size_bytes": "Bytes of the release files in the mirror (.metadata sidecars not counted).",
}


class Sample(msgspec.Struct, frozen=True):
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, key: str) -> str | None:
        return dict(self.labels).get(key)


def samples(
    doc: Mapping[str, Any], command: str, *, started: float, finished: float, size: MirrorSize | None
) -> list[Sample]:
    """This run's samples (``doc``: the run report), labelled ``command``; no last-clean-run sample."""
    files, serial = doc["files"], doc["serial"]
    values: dict[str, float | None] = {
        "frumious_run_started_timestamp_seconds": started,
        "frumious_run_finished_timestamp_seconds": finished,
        "frumious_run_duration_seconds": doc["seconds"],
        "frumious_run_exit_status": doc["exit_status"],
        "frumious_run_files_downloaded": files["downloaded"],
        "frumious_run_downloaded_bytes": files["bytes_downloaded"],
        "frumious_run_requests": doc["requests"],
        "frumious_run_retries": doc["retries"],
        "frumious_run_serial_before": serial["before"],
        "frumious_run_serial_after": serial["after"],
        "frumious_run_upstream_serial": serial["upstream"],
        "frumious_run_lag_serials": serial["lag"],
    }
    ours = (("command", command),)
    found = [Sample(name, ours, value) for name, value in values.items() if value is not None]
    if (projects := doc["projects"]) is not None:  # unknown when the run never got that far
        for result in ("synced", "failed", "removed", "skipped", "gone"):
            count = projects[result] if isinstance(projects[result], int) else len(projects[result])
            found.append(Sample("frumious_run_projects", (*ours, ("result", result)), count))
    if doc["exit_status"] == 0:
        found.append(Sample(LAST_CLEAN, ours, finished))
    if size is not None:
        for name, value in zip(MIRROR_HELP, (size.projects, size.files, size.bytes), strict=True):
            found.append(Sample(name, (), value))
    return found


def merged(new: list[Sample], previous: Iterable[Sample], command: str) -> list[Sample]:
    """``new`` plus what the file already held that this run does not replace."""
    have = {(s.name, s.label("command")) for s in new}
    mirror_measured = any(s.name in MIRROR_HELP for s in new)
    kept = []
    for sample in previous:
        if sample.name in MIRROR_HELP:
            keep = not mirror_measured
        elif sample.label("command") != command:
            keep = True
        else:  # this command's own series: only its last clean run survives a run that was not clean
            keep = sample.name == LAST_CLEAN and (LAST_CLEAN, command) not in have
        if keep:
            kept.append(sample)
    return new + kept


def read_previous(path: str) -> list[Sample]:
    """The samples of ours in the file already at ``path``; none when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        return [
            Sample(s.name, tuple(sorted(s.labels.items())), s.value)
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name in RUN_HELP or s.name in MIRROR_HELP
        ]
    except (OSError, ValueError, TypeError, UnicodeDecodeError):
        return []  # a damaged file is replaced: the next runs fill it again


class _Samples(Collector):
    """The samples as gauge families: built directly, so no process-wide metric state is touched."""

    def __init__(self, found: list[Sample]) -> None:
        self.found = found

    def collect(self) -> Iterator[Metric]:
        for name, text in {**RUN_HELP, **MIRROR_HELP}.items():
            rows = sorted((s.labels, s.value) for s in self.found if s.name == name)
            if not rows:
                continue
            family = GaugeMetricFamily(name, text, labels=[key for key, _ in rows[0][0]])
            for labels, value in rows:
                family.add_metric([v for _, v in labels], value)
            yield family


def write(path: str, found: list[Sample]) -> None:
    """Write the samples to ``path`` atomically (prometheus-client: a temp file beside it, then a rename)."""
    registry = CollectorRegistry()
    registry.register(_Samples(found))
    write_to_textfile(path, registry)  # removes its temp file when the rename fails
