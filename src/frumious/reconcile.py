"""Pure planning: compare the upstream listing with what the mirror holds.

Beyond bandersnatch's "projects whose serial moved", this finds projects a
changed filter now allows but the mirror lacks, projects a filter now excludes,
and projects that vanished from the listing (to confirm with a 404).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from frumious.models import ListingEntry, canonicalize_name


@dataclass(frozen=True, slots=True)
class Reconciled:
    queue: tuple[ListingEntry, ...]
    excluded: tuple[str, ...]
    vanished: tuple[str, ...]


def reconcile(
    listing: Iterable[ListingEntry],
    local: set[str],
    allows: Callable[[str], bool],
    *,
    serial: int,
    filters_changed: bool,
    unsynced: Iterable[str] = (),
) -> Reconciled:
    """What to sync and what may go; ``local`` holds canonical names.

    ``unsynced`` names are listed but not to be synced (their serial is invalid): they
    are neither queued nor taken as vanished.
    """
    queue: dict[str, ListingEntry] = {}
    excluded: list[str] = []
    listed: set[str] = {canonicalize_name(name) for name in unsynced}
    for entry in listing:
        canonical = canonicalize_name(entry.name)
        listed.add(canonical)
        if not allows(entry.name):
            if canonical in local:
                excluded.append(canonical)
            continue
        if entry.serial > serial or (filters_changed and canonical not in local):
            queue[canonical] = entry
    vanished = []
    for name in sorted(local - listed):
        if not allows(name):
            excluded.append(name)
            continue
        # Serial 0: any answer is new enough; a 404 confirms the deletion.
        vanished.append(name)
        queue[name] = ListingEntry(name=name, serial=0)
    ordered = tuple(queue[name] for name in sorted(queue))
    return Reconciled(queue=ordered, excluded=tuple(sorted(excluded)), vanished=tuple(vanished))


def removal_limit(local_count: int, share: float) -> int:
    """How many projects one run may remove: ``share`` of the mirror, at least one."""
    return max(1, int(local_count * share))
