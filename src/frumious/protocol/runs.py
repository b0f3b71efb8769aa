"""One finished run as the history keeps it: the figures of its run report, as a value.

The CLI makes a ``RunRow`` from the run report (``cli/runfile``), ``record/history`` stores
it in the mirror's record, and the status page (``protocol/statuspage``) draws it; all three
share this one shape so a figure means the same thing everywhere.
"""

from __future__ import annotations

import msgspec

# At most this many failure reasons are kept per run: a run where all of PyPI failed (an
# upstream outage) must not write a megabyte of reasons into the record 500 times over.
MAX_REASONS = 100


class RunRow(msgspec.Struct, frozen=True):
    """A run's command, when it ran and how it ended, and what it did (None: not known for that run)."""

    command: str
    started: float  # Unix seconds
    finished: float
    exit_status: int
    outcome: str  # ok, failed, stopped, error (the run report's outcome)
    serial_before: int | None = None
    serial_after: int | None = None
    upstream_serial: int | None = None
    lag: int | None = None
    synced: int | None = None
    failed: int | None = None
    removed: int | None = None
    files: int = 0  # downloaded
    bytes: int = 0  # downloaded
    reasons: dict[str, str] = msgspec.field(default_factory=dict)  # failed project -> why (the first MAX_REASONS)

    @property
    def seconds(self) -> float:
        return max(0.0, self.finished - self.started)

    @property
    def clean(self) -> bool:
        return self.outcome == "ok"


class Totals(msgspec.Struct, frozen=True):
    """What the mirror holds, from the record: projects, release files (no sidecars) and their bytes."""

    projects: int
    files: int
    bytes: int


def capped(reasons: dict[str, str]) -> dict[str, str]:
    """The first ``MAX_REASONS`` reasons by name, each cut to one short line."""
    return {name: " ".join(reasons[name].split())[:300] for name in sorted(reasons)[:MAX_REASONS]}
