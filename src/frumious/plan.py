"""What one ``frumious mirror`` run will do: the queue, the serial it heads for, what may go.

A run resumes an interrupted run's ``todo`` (filtered by today's filters), or reads the
listing (or learns it is unchanged) and diffs it against the mirror. Either way the
projects remembered as failed are queued again when their backoff allows, and the
projects that left the listing are asked for again, to confirm their absence.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from frumious import retries, state
from frumious.filters import FilterSet
from frumious.mirror import Mirror
from frumious.models import ListingEntry, canonicalize_name
from frumious.retries import Failure
from frumious.settings import MirrorSettings
from frumious.upstream import Listing, Upstream


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


log = logging.getLogger("frumious.sync")

# Up to this many allowlisted projects, asking each one is cheaper than PyPI's full listing.
FAST_PATH_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class Memory:
    """What earlier finished runs carried forward (see ``retries``)."""

    failures: dict[str, Failure] = field(default_factory=dict)
    vanishing: dict[str, float] = field(default_factory=dict)

    @classmethod
    async def load(cls, tree: Mirror) -> Memory:
        return cls(await tree.failures(), await tree.vanishing())


@dataclass(frozen=True, slots=True)
class Plan:
    queue: tuple[ListingEntry, ...]
    # Where the run heads (written to ``todo``); the serial published is worked out at the end.
    target: int
    resumed: bool
    listing_etag: str | None = None
    listing_unchanged: bool = False
    excluded: tuple[str, ...] = ()
    vanished: tuple[str, ...] = ()
    # Vanished projects whose first confirmed absence is old enough: a 404 now removes them.
    confirmable: tuple[str, ...] = ()
    # The root's serial: nothing published may exceed it.
    ceiling: int | None = None
    # Listed projects with an invalid serial, skipped this run.
    invalid: tuple[str, ...] = ()
    # Quarantined failures whose backoff has not expired: carried, not tried.
    waiting: tuple[Failure, ...] = ()
    # True when this run cannot tell which projects left the listing (resumed, or refused
    # removals): earlier first sightings are then carried unchanged.
    keep_vanishing: bool = False


async def make_plan(
    upstream: Upstream,
    tree: Mirror,
    filters: FilterSet,
    serial: int,
    memory: Memory,
    now: float,
    *,
    skip_backoff: bool = False,
    read_only: bool = False,
) -> Plan:
    """The plan; ``read_only`` (a dry run) leaves even an unusable todo in place."""
    plan = await _base_plan(upstream, tree, filters, serial, memory, read_only)
    mirror_settings = tree.settings
    # A failure the filters now exclude is forgotten: blocklisting a broken project works.
    failures = {name: f for name, f in memory.failures.items() if filters.allows_project(f.name)}
    # --allow-mass-delete retries quarantined projects at once: a project refused by the file
    # valve must not wait out its backoff before the override can reach it.
    requeued = retries.requeue(plan.queue, failures, float("inf") if skip_backoff else now)
    delay = mirror_settings.confirm_removal_after
    confirmable = tuple(n for n in plan.vanished if n in memory.vanishing and now - memory.vanishing[n] >= delay)
    return replace(plan, queue=requeued.queue, waiting=requeued.waiting, confirmable=confirmable)


async def _base_plan(
    upstream: Upstream, tree: Mirror, filters: FilterSet, serial: int, memory: Memory, read_only: bool
) -> Plan:
    record = tree.record
    todo = await tree.todo(discard_unusable=not read_only)
    if todo is not None:
        # Filters apply to resumed work too: a project blocklisted since is not fetched.
        entries = tuple(entry for entry in todo.entries if filters.allows_project(entry.name))
        if len(entries) < len(todo.entries):
            log.info("Dropped %d resumed project(s) the filters now exclude", len(todo.entries) - len(entries))
        log.info("Resuming an interrupted run: %d project(s) left", len(entries))
        return Plan(queue=entries, target=max(serial, todo.target), resumed=True, keep_vanishing=True)
    changed_filters = await tree.filters_changed(filters.fingerprint)
    etag = await tree.listing_etag(serial) if serial and not changed_filters else None
    listing = await fetch_listing(upstream, tree.settings, filters, etag)
    if listing is None:
        log.info("The upstream listing is unchanged since serial %d", serial)
        # Unchanged listing: the projects absent from it before are absent still.
        held = [n for n in sorted(memory.vanishing) if record.project(n) is not None]
        vanished = tuple(n for n in held if filters.allows_project(n))
        queue = tuple(ListingEntry(name, 0) for name in vanished)
        return Plan(queue, serial, False, listing_etag=etag, listing_unchanged=True, vanished=vanished)
    if listing.serial is not None and not listing.partial and serial > listing.serial:
        # Nothing upstream looks new until it passes our serial: say so rather than stall quietly.
        log.warning(
            "The mirror's serial %d is beyond the upstream's own (%d), so changes up to %d go unseen"
            " (a serial from another master or an older frumious?); run `frumious mirror --force-check`",
            serial,
            listing.serial,
            serial,
        )
    found = reconcile(
        listing.entries,
        set(record.names()),
        filters.allows_project,
        serial=serial,
        filters_changed=changed_filters and serial > 0,
        unsynced=listing.invalid,
    )
    return Plan(
        queue=found.queue,
        target=state.target_serial(serial, found.queue, listing.serial),
        resumed=False,
        listing_etag=listing.etag,
        excluded=found.excluded,
        vanished=found.vanished,
        ceiling=listing.serial,
        invalid=tuple(sorted({canonicalize_name(n) for n in listing.invalid if filters.allows_project(n)})),
    )


async def fetch_listing(
    upstream: Upstream, mirror_settings: MirrorSettings, filters: FilterSet, etag: str | None
) -> Listing | None:
    only = filters.only_projects
    if only is not None and len(only) <= FAST_PATH_LIMIT:
        log.info("Allowlist of %d project(s): asking each instead of fetching the full listing", len(only))
        return await upstream.listing_of(only, mirror_settings.workers * 2)
    return await upstream.listing(etag)


def published_serial(plan: Plan, current: int, synced: set[str]) -> int:
    """The serial a finished run publishes: the newest that every synced project reached.

    Failed projects do not hold it back (they are carried by name); a resumed run
    publishes at least the target its interrupted run was heading for.
    """
    reached = [entry for entry in plan.queue if canonicalize_name(entry.name) in synced]
    return state.target_serial(max(current, plan.target) if plan.resumed else current, reached, plan.ceiling)
