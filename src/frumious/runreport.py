"""What a sync returns: one frozen ``Outcome`` per project, aggregated into the run's ``SyncReport``.

``mirror --dry-run`` returns a ``DryRun`` instead: the plan, and nothing written. Values only:
the algorithm that fills them is ``sync.py``.
"""

from __future__ import annotations

from enum import Enum

import msgspec

from frumious.compact import Canonical, Names
from frumious.models import ListingEntry, canonicalize_name
from frumious.plan import Plan
from frumious.shardshare import Share
from frumious.stats import Report


class Kind(Enum):
    """What became of one queued project."""

    SYNCED = "synced"
    SKIPPED = "skipped by a metadata filter"
    NO_RELEASES = "listed with no releases"
    GONE = "gone upstream"
    FAILED = "failed"


class Outcome(msgspec.Struct, frozen=True):
    """What syncing one project did, by its listed name; the run aggregates these into its report.

    ``reason`` says why it FAILED; ``kept`` counts the files a project with NO_RELEASES still holds;
    ``removed`` its stale files removed, ``would_prune`` those kept though filtered (prune-filtered = false).
    """

    name: str
    kind: Kind
    reason: str = ""
    kept: int = 0
    removed: tuple[str, ...] = ()
    would_prune: tuple[str, ...] = ()
    # When a file a time-based filter (the cooldown) holds back becomes eligible; None when none is held.
    revisit: float | None = None
    # Synced without a change: its page (upstream without serials) answered as last time.
    unchanged: bool = False

    @property
    def canonical(self) -> str:
        return canonicalize_name(self.name)


class SyncReport(Report):
    """What a run did: the projects' outcomes aggregated (``add``), and what the run itself removed or refused."""

    serial: int = 0
    # The mirror's serial when the run started, and the newest serial upstream offered (the listing's root).
    serial_before: int = 0
    upstream_serial: int | None = None
    listing_unchanged: bool = False
    stopped_early: bool = False
    excluded: list[str] = msgspec.field(default_factory=list)
    # The plan's refusal (the safety valve): nothing removed whole, no serial published.
    refused: str | None = None
    # The shard this run was (``I/N``), None for a whole mirror: its serials are the shard's.
    shard: str | None = None
    synced: Names = msgspec.field(default_factory=Names)
    skipped: Names = msgspec.field(default_factory=Names)  # by a metadata filter
    gone: list[str] = msgspec.field(default_factory=list)
    removed: list[str] = msgspec.field(default_factory=list)  # object keys
    removed_projects: list[str] = msgspec.field(default_factory=list)
    # Projects (and files) now excluded by filters but kept: prune-filtered = false.
    would_prune: list[str] = msgspec.field(default_factory=list)
    # Projects that failed quarantine-after runs in a row: name -> when they are tried next.
    quarantined: dict[str, str] = msgspec.field(default_factory=dict)
    # Listed upstream with no releases (their JSON is a 404); of those, the ones the mirror holds files for.
    no_releases: Names = msgspec.field(default_factory=Names)
    # Projects whose page answered as last time (an upstream without serials): nothing written.
    unchanged: Names = msgspec.field(default_factory=Names)
    no_releases_kept: dict[str, int] = msgspec.field(default_factory=dict)
    # The run's bookkeeping: the failures to carry, by canonical name at their listed serial, and the
    # newest serial the projects that reached theirs reached (``reached``, below).
    retry: dict[str, ListingEntry] = msgspec.field(default_factory=dict)
    newest: int = 0
    # Dependency closure: what a needed dependency lacks (blocked by a filter, no fitting file, ...), one line each.
    holes: list[str] = msgspec.field(default_factory=list)
    # Projects with files held back by a time-based filter: when the first becomes eligible.
    held: dict[str, float] = msgspec.field(default_factory=dict)

    @property
    def finished_cleanly(self) -> bool:
        """The run reached its end and published its serial (failed projects are carried, not holding it)."""
        return not self.stopped_early and self.refused is None

    @property
    def ok(self) -> bool:
        return not self.failed and self.refused is None

    @property
    def reached(self) -> Canonical:
        """The canonical names of the projects that reached their serial (synced, unchanged, skipped by a
        filter, or listed with no releases), made from those lists when asked: no second copy of 700,000
        names (``in`` scans; ``among`` answers many names in one pass)."""
        return Canonical(self.synced, self.unchanged, self.skipped, self.no_releases)

    def add(self, entry: ListingEntry, outcome: Outcome) -> None:
        """Count one queued project's outcome."""
        name = outcome.name
        if outcome.kind is Kind.FAILED:
            self.failed[name] = outcome.reason
            self.retry[outcome.canonical] = entry
        elif outcome.kind is Kind.GONE:
            self.gone.append(name)
        else:  # nothing holds the serial back
            self.newest = max(self.newest, entry.serial)
            if outcome.unchanged:
                self.unchanged.append(name)
            elif outcome.kind is Kind.SYNCED:
                self.synced.append(name)
            elif outcome.kind is Kind.SKIPPED:
                self.skipped.append(name)
            else:
                self.no_releases.append(name)
                if outcome.kept:
                    self.no_releases_kept[name] = outcome.kept
        self.removed.extend(outcome.removed)
        self.would_prune.extend(outcome.would_prune)
        if outcome.revisit is not None:
            self.held[outcome.canonical] = outcome.revisit


class DryRun(Report):
    """``mirror --dry-run``: the plan a run would follow, after the safety valve; nothing was written."""

    serial: int
    plan: Plan
    prune_filtered: bool
    # A shard's dry run: its part of the listing and what its record holds (``shardshare``).
    share: Share | None = None

    @property
    def ok(self) -> bool:
        return True  # a plan, even one that refuses removals, is a successful dry run
