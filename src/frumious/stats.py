"""Live progress counters, the base every command's report shares, and a run stopped with its partial report.

Values only: the core fills a ``Progress`` as it goes (the CLI's ticker reads it) and returns
a report; a run the disk stopped raises ``RunStopped`` carrying the report as far as it got.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager

import msgspec

from frumious.errors import FrumiousError, resource_error


class MirrorSize(msgspec.Struct, frozen=True):
    """The mirror's size by its record: projects, release files and their bytes (``.metadata`` sidecars not counted)."""

    projects: int
    files: int
    bytes: int


class Progress(msgspec.Struct):
    """Live counters, read by the progress line while the run goes (and by the summary's Files line)."""

    projects_total: int = 0
    projects_done: int = 0
    files_total: int = 0
    files_done: int = 0
    files_downloaded: int = 0
    bytes_downloaded: int = 0
    # Requests sent upstream (each attempt counts) and the retries among them, for the run report.
    requests: int = 0
    retries: int = 0
    # The mirror's size when the command closed its record, when the metrics file asked for it.
    mirror_size: MirrorSize | None = None


class Report(msgspec.Struct, kw_only=True):
    """What every command's report shares: when it ran, what failed, the counters it left.

    ``failed`` names each project (or page) that failed, with its reason; ``progress`` is the
    run's live counters, final once the report is returned.
    """

    started: float = 0.0
    finished: float = 0.0
    failed: dict[str, str] = msgspec.field(default_factory=dict)
    progress: Progress = msgspec.field(default_factory=Progress)

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def seconds(self) -> float:
        return self.finished - self.started


class RunStopped(FrumiousError):
    """An error that ends the run (a refused disk) with the report of what was done before it.

    It reads as its cause (message, exit code), so the CLI prints one line, then the partial report.
    """

    def __init__(self, cause: FrumiousError, report: Report) -> None:
        super().__init__(str(cause))
        self.cause, self.report = cause, report

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        return self.cause.exit_code


@contextmanager
def stops_with(report: Report) -> Iterator[None]:
    """Turn a refused disk inside the block into ``RunStopped`` carrying ``report`` as it stands.

    A stop (SIGINT/SIGTERM cancels the run) stays a cancellation, with ``report`` attached for
    ``partial_report``: the run report of a stopped run then has the projects' counts so far.
    """
    try:
        yield
    except asyncio.CancelledError as exc:
        report.finished = time.time()
        setattr(exc, _PARTIAL, report)
        raise
    except (FrumiousError, OSError, BaseExceptionGroup) as exc:
        cause = resource_error(exc)
        if cause is None:
            raise
        report.finished = time.time()
        raise RunStopped(cause, report) from exc


_PARTIAL = "frumious_partial_report"


def partial_report(exc: BaseException) -> Report | None:
    """The report a cancelled run had reached (``stops_with`` attached it), if any."""
    found = getattr(exc, _PARTIAL, None)
    return found if isinstance(found, Report) else None
