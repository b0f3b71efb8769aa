"""Pure bookkeeping of what a finished run carries to the next: failures and vanishing projects.

A run that finishes publishes a serial even when some projects failed; those projects are
carried by name in ``.frumious/failed`` instead of holding the serial back, and every
later run re-queues them beside whatever the listing says changed. A project failing
``quarantine-after`` runs in a row is quarantined: retried only after a backoff that
doubles each time (capped at a day), so it never costs every run its retries.

A project absent from the listing whose JSON answers 404 is deleted only when that
was seen on two runs at least ``confirm-removal-after`` seconds apart; the first
sighting is kept in ``.frumious/vanishing``.

Both files hold one project a line, fields separated by spaces (names never hold one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from frumious.models import ListingEntry, canonicalize_name, serial_from_text

__all__ = [
    "Failure",
    "after_failure",
    "parse_failures",
    "parse_vanishing",
    "render_failures",
    "render_vanishing",
    "requeue",
]

# The first quarantine wait, doubled on every further failure, never above a day.
FIRST_BACKOFF = 3600.0
MAX_BACKOFF = 86400.0


@dataclass(frozen=True, slots=True)
class Failure:
    """A project that failed: the serial it wanted, failed runs in a row, when to retry it (epoch)."""

    name: str
    serial: int
    count: int
    retry_at: float = 0.0

    def due(self, now: float) -> bool:
        return self.retry_at <= now

    def quarantined(self, after: int) -> bool:
        return self.count >= after


def backoff(count: int, after: int) -> float:
    """Seconds to wait before retrying a project that failed ``count`` runs in a row."""
    if count < after:
        return 0.0
    return min(MAX_BACKOFF, FIRST_BACKOFF * 2.0 ** min(count - after, 32))


def after_failure(previous: Failure | None, entry: ListingEntry, now: float, after: int) -> Failure:
    """The record of a project that failed (again) in this run."""
    count = (previous.count if previous else 0) + 1
    serial = max(entry.serial, previous.serial if previous else 0)
    wait = backoff(count, after)
    return Failure(entry.name, serial, count, now + wait if wait else 0.0)


def parse_failures(text: str) -> dict[str, Failure]:
    """Records by canonical name; malformed lines are dropped (the listing still finds those projects)."""
    found: dict[str, Failure] = {}
    for line in text.splitlines():
        fields = line.split()
        serial = serial_from_text(fields[1]) if len(fields) == 4 else None
        if serial is None or not fields[2].isdigit() or len(fields[2]) > 9:
            continue
        try:
            retry_at = float(fields[3])
        except ValueError:
            continue
        found[canonicalize_name(fields[0])] = Failure(fields[0], serial, int(fields[2]), retry_at)
    return found


def render_failures(failures: Mapping[str, Failure]) -> bytes:
    lines = [f"{f.name} {f.serial} {f.count} {int(f.retry_at)}" for _, f in sorted(failures.items())]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def parse_vanishing(text: str) -> dict[str, float]:
    """Canonical name -> when its absence was first confirmed (epoch)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, when = line.strip().partition(" ")
        try:
            found[canonicalize_name(name)] = float(when)
        except ValueError:
            continue
    return found


def render_vanishing(vanishing: Mapping[str, float]) -> bytes:
    return "".join(f"{name} {int(when)}\n" for name, when in sorted(vanishing.items())).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Requeued:
    queue: tuple[ListingEntry, ...]
    # Quarantined projects whose backoff has not expired: carried, not tried this run.
    waiting: tuple[Failure, ...]


def requeue(queue: Iterable[ListingEntry], failures: Mapping[str, Failure], now: float) -> Requeued:
    """The queue plus every remembered failure that is due; ``failures`` are those filters still allow.

    A failure in backoff stays out of the queue even when the listing moved it again:
    its newer serial is kept in its record, so nothing is lost by waiting.
    """
    merged: dict[str, ListingEntry] = {canonicalize_name(entry.name): entry for entry in queue}
    waiting = []
    for name, failure in failures.items():
        listed = merged.get(name)
        if not failure.due(now):
            merged.pop(name, None)
            newest = max(failure.serial, listed.serial if listed else 0)
            waiting.append(Failure(failure.name, newest, failure.count, failure.retry_at))
        elif listed is None or listed.serial < failure.serial:
            merged[name] = ListingEntry(listed.name if listed else failure.name, failure.serial)
    return Requeued(tuple(merged[name] for name in sorted(merged)), tuple(waiting))
