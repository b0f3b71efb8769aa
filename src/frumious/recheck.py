"""Filtering mirrored projects again without asking upstream: changed filters, and held files now due.

Two things change what a mirrored project should hold while upstream's serial stays put:

- the release, release-file or metadata filters changed since the last clean run (their
  fingerprints, per kind: ``FilterSet.fingerprints``, ``Mirror.changed_filter_kinds``);
- a file a time-based filter (the cooldown) held back became old enough: the moment is carried
  in ``.frumious/held`` from run to run.

``rechecks`` (pure, called by ``plan.plan``) names the projects to filter again. The sync takes
each one's unfiltered upstream document from the record's compressed copy (``record.offered``;
``web/json`` holds only what the filters kept) and follows the usual steps: stale files
pruned or reported, newly allowed files fetched, pages rewritten. A project without a usable
copy is fetched from upstream instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from frumious.compact import Canonical
from frumious.filters import FilterSet
from frumious.mirror import Mirror
from frumious.models import ListingEntry, Project, canonicalize_name

__all__ = ["RECHECK_KINDS", "carry_held", "entries", "keeps_copies", "remember", "rechecks", "stored_project"]

log = logging.getLogger("frumious.sync")

# Kinds of filter whose change means filtering every mirrored project again.
RECHECK_KINDS = frozenset({"metadata", "release_file", "release"})


def rechecks(
    held_names: Callable[[], Iterable[str]],
    held: Mapping[str, float],
    *,
    everything: bool,
    now: float,
    allows: Callable[[str], bool],
    queued: Iterable[str],
) -> tuple[str, ...]:
    """The mirrored projects to filter again from their stored copy, canonical names in order.

    ``everything`` (changed filters): every project the mirror holds; else only those whose held
    files are due. Projects queued anyway, or that project filters exclude, are left out.
    """
    if everything:
        candidates: Iterable[str] = held_names()
    else:
        # A moment of a project the mirror no longer holds is dropped, not acted on.
        due = [name for name, when in held.items() if when <= now]
        mirrored = set(held_names()) if due else set()
        candidates = [name for name in due if name in mirrored]
    wanted = {n for n in candidates if allows(n)}
    if wanted:  # ``queued`` is the whole queue (700,000 on a full sync): streamed, never a set
        wanted.difference_update(map(canonicalize_name, queued))
    return tuple(sorted(wanted))


def notes(count: int, *, everything: bool) -> tuple[str, ...]:
    if not count:
        return ()
    if everything:
        return (f"Release, file or metadata filters changed: filtering {count} mirrored project(s) again",)
    return (f"Files held back by a filter are now due: filtering {count} project(s) again",)


def entries(mirror: Mirror, names: Iterable[str]) -> list[ListingEntry]:
    """Queue entries for ``names``, under their display names (the HTML pages show them); serial 0."""
    found = []
    for name in names:
        row = mirror.record.project(name)
        found.append(ListingEntry(row.display if row else name, 0))
    return found


async def stored_project(mirror: Mirror, name: str) -> Project | None:
    """The unfiltered upstream document the mirror keeps for ``name`` at its recorded serial, else None."""
    canonical = canonicalize_name(name)
    row = mirror.record.project(canonical)
    return None if row is None else mirror.offered.get(canonical, row.serial)


def keeps_copies(mirror: Mirror, filters: FilterSet) -> bool:
    """Whether a fetched project's document is kept for filtering again: only when something can change
    its filtering (``web/json``, with ``json = true``, holds the filtered document, not upstream's)."""
    kinds = filters.metadata_filters or filters.release_file_filters or filters.release_filters
    return bool(kinds)


def remember(mirror: Mirror, filters: FilterSet, project: Project) -> None:
    if keeps_copies(mirror, filters):
        mirror.offered.put(project)


def carry_held(
    previous: Mapping[str, float], found: Mapping[str, float], reached: Canonical, removed: Iterable[str]
) -> dict[str, float]:
    """``.frumious/held`` for the next run: the moments this run ``found``, and earlier ones of the
    projects it neither reached (synced or filtered again) nor removed: a failed project keeps its moment."""
    done = reached.among(previous) | {canonicalize_name(n) for n in removed}
    held = {name: when for name, when in previous.items() if name not in done}
    held.update(found)
    return held
