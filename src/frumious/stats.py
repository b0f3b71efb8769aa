"""The live counters of a run, read by the progress display (a plain value every layer may fill)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunStats:
    """Live counters, read by the progress display."""

    projects_total: int = 0
    projects_done: int = 0
    files_total: int = 0
    files_done: int = 0
    files_downloaded: int = 0
    bytes_downloaded: int = 0
    synced: int = 0
    skipped: int = 0
    gone: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    removed_projects: list[str] = field(default_factory=list)
    would_prune: list[str] = field(default_factory=list)
    # Projects that failed quarantine-after runs in a row: name -> when they are tried next.
    quarantined: dict[str, str] = field(default_factory=dict)
    # Listed upstream with no releases (their JSON is a 404); of those, the ones the mirror holds files for.
    no_releases: list[str] = field(default_factory=list)
    no_releases_kept: dict[str, int] = field(default_factory=dict)


@dataclass(kw_only=True)
class Report:
    """What every command's report shares: when it ran, and whether it went well (no failures).

    ``failures`` names each project (or page) that failed, with its reason.
    """

    stats: RunStats = field(default_factory=RunStats)
    started: float = 0.0
    finished: float = 0.0

    @property
    def failures(self) -> dict[str, str]:
        return self.stats.failed

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def seconds(self) -> float:
        return self.finished - self.started
