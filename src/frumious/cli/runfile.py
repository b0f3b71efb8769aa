"""The run report: one JSON document per run (``--report FILE``, ``report-file``, ``--json``).

``document`` is pure: a command's typed report (or None, when the run stopped before it had
one) and the run's live counters in, a dict of the documented schema out (``docs/report.md``,
``docs/report.schema.json``). ``write`` puts it in place atomically (a temp file and a rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import msgspec

from frumious.protocol.runs import RunRow
from frumious.stats import Progress, Report

SCHEMA = "frumious.report/1"

# ok: finished cleanly; failed: finished, with failures; stopped: a signal or a refused disk ended it;
# error: it could not start (the lock held, a broken config or upstream...): no core report.
Outcome = Literal["ok", "failed", "stopped", "error"]


class Request(msgspec.Struct, frozen=True):
    """What the user asked for: the command's name, the report file (empty: none), ``--json``, the
    metrics file (empty: none) with the ``command`` label its series carry (``mirror-dry-run`` for a dry
    run), and the record file the run's history row goes to (empty: none, as for a dry run).
    """

    command: str
    path: str = ""
    json: bool = False
    metrics: str = ""
    label: str = ""
    history: str = ""

    @property
    def wanted(self) -> bool:
        return bool(self.path) or self.json or bool(self.metrics)


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def document(
    command: str,
    report: Report | None,
    counters: Progress,
    *,
    exit_status: int,
    outcome: Outcome,
    started: float,
    finished: float,
    error: str | None = None,
) -> dict[str, Any]:
    """The run report of ``command`` (a dict ready for ``json.dumps``); times are Unix seconds."""
    before, after, upstream = _serials(report)
    progress = report.progress if report is not None else counters
    removed_projects, removed_files = _removed(report)
    # No core report (stopped by a signal, or never started): what became of each project is unknown.
    projects = None
    if report is not None:
        projects = {
            "synced": len(getattr(report, "synced", ())),
            "skipped": len(getattr(report, "skipped", ())),
            "gone": len(getattr(report, "gone", ())),
            "failed": dict(sorted(report.failed.items())),
            "removed": sorted(removed_projects),
        }
    return {
        "schema": SCHEMA,
        "command": command,
        "started": iso(started),
        "finished": iso(finished),
        "seconds": round(max(0.0, finished - started), 3),
        "exit_status": exit_status,
        "outcome": outcome,
        "error": error,
        "serial": {
            "before": before,
            "after": after,
            "upstream": upstream,
            "lag": None if upstream is None or after is None else max(0, upstream - after),
        },
        "projects": projects,
        "files": {
            "checked": progress.files_done,
            "downloaded": progress.files_downloaded,
            "bytes_downloaded": progress.bytes_downloaded,
            "removed": removed_files,
        },
        "requests": counters.requests,
        "retries": counters.retries,
        **_shards(report),
    }


def _shards(report: Report | None) -> dict[str, Any]:
    """The shard a run was, or what ``publish`` found of the shards (docs/scale-out.md); nothing otherwise."""
    from frumious.publish import PublishReport

    if isinstance(report, PublishReport):
        return {"shards": {"count": report.shards, "behind": dict(report.behind), "idle": list(report.idle)}}
    shard = getattr(report, "shard", None)
    return {} if shard is None else {"shard": str(shard)}


def _serials(report: Report | None) -> tuple[int | None, int | None, int | None]:
    """The mirror's serial before and after the run, and upstream's: None where the command does not touch it."""
    from frumious.publish import PublishReport
    from frumious.runreport import DryRun, SyncReport
    from frumious.sync import upstream_serial

    if isinstance(report, SyncReport):
        return report.serial_before, report.serial, report.upstream_serial
    if isinstance(report, DryRun):
        return report.serial, report.serial, upstream_serial(report.plan)
    if isinstance(report, PublishReport):
        return report.previous, report.serial if report.serial is not None else report.previous, None
    return None, None, None


def _removed(report: Report | None) -> tuple[list[str], int]:
    """The projects removed whole, and how many objects (files, pages) the run removed."""
    projects = list(getattr(report, "removed_projects", ()))
    return projects, len(getattr(report, "removed", ()))


def history_row(doc: dict[str, Any], started: float, finished: float) -> RunRow:
    """The run's row in the mirror's history (``record/history``): the same figures as its report."""
    serial, projects, files = doc["serial"], doc["projects"] or {}, doc["files"]
    failed = projects.get("failed")
    return RunRow(
        doc["command"], started, finished, doc["exit_status"], doc["outcome"],
        serial["before"], serial["after"], serial["upstream"], serial["lag"],
        projects.get("synced"), None if failed is None else len(failed), _count(projects.get("removed")),
        files["downloaded"], files["bytes_downloaded"], dict(failed or {}),
    )  # fmt: skip


def _count(items: list[str] | None) -> int | None:
    return None if items is None else len(items)


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def write(path: str, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``path`` atomically: a temp file beside it, then a rename (OSError if refused)."""
    target = Path(path)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(render(doc))
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
