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

import msgspec

from frumious.compact import Entries
from frumious.models import ListingEntry, canonicalize_name
from frumious.protocol.statefiles import (
    Failure,
    parse_failures,
    parse_vanishing,
    render_failures,
    render_vanishing,
)

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


class Requeued(msgspec.Struct, frozen=True):
    queue: Entries
    # Quarantined projects whose backoff has not expired: carried, not tried this run.
    waiting: tuple[Failure, ...]


def requeue(queue: Iterable[ListingEntry], failures: Mapping[str, Failure], now: float) -> Requeued:
    """The queue plus every remembered failure that is due; ``failures`` are those filters still allow.

    A failure in backoff stays out of the queue even when the listing moved it again:
    its newer serial is kept in its record, so nothing is lost by waiting. The queue comes back in
    canonical order; one in that order already (a listing's) is edited in place of the few failures,
    not turned into a dict of every project.
    """
    ordered = Entries.of(queue)
    if not ordered.in_order():
        return _requeue_unordered(ordered, failures, now)
    listed, changes, waiting = ordered.find(failures), dict[str, ListingEntry | None](), []
    for name, failure in failures.items():
        entry = listed.get(name)
        if not failure.due(now):
            changes[name] = None
            waiting.append(Failure(failure.name, max(failure.serial, entry.serial if entry else 0), failure.count,
                                   failure.retry_at))  # fmt: skip
        elif entry is None or entry.serial < failure.serial:
            changes[name] = ListingEntry(entry.name if entry else failure.name, failure.serial)
    return Requeued(ordered.edited(changes) if changes else ordered, tuple(waiting))


def _requeue_unordered(queue: Entries, failures: Mapping[str, Failure], now: float) -> Requeued:
    """``requeue`` of a queue out of canonical order (a bandersnatch todo): by a dict of every entry."""
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
    return Requeued(Entries(merged[name] for name in sorted(merged)), tuple(waiting))
