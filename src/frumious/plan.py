"""What one ``frumious mirror`` run will do: the queue, the serial it heads for, what may go, what is refused.

``gather`` does the reading (the todo, the listing or its 304, the remembered failures
and absences); ``plan`` is pure: from those values, the filters' verdict, the settings,
the options and ``now`` it returns one frozen ``Plan`` (with notes for the caller to log).
A run resumes an interrupted run's ``todo`` (filtered by today's filters), or diffs the
listing against the mirror. Either way
remembered failures are queued again when their backoff allows, projects that left the
listing are asked for again to confirm their absence, and the safety valve may refuse
the run's removals (``Plan.refused``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol

import msgspec

from frumious import claims, feedreader, recheck, retries, shardscope
from frumious.compact import Entries
from frumious.filters import FilterSet
from frumious.mirror import Mirror
from frumious.models import ListingEntry, canonicalize_name, replace
from frumious.protocol.listing import ListingScan
from frumious.protocol.statefiles import Todo, target_serial
from frumious.reconcile import Local, of_listing
from frumious.reconcile import Reconciled as Reconciled  # at home in reconcile.py, long imported from here
from frumious.reconcile import reconcile as reconcile
from frumious.record.db import MirrorRecord
from frumious.retries import Failure
from frumious.settings import FilteredProjects, MirrorSettings
from frumious.upstream import NO_SERIALS, Listing, Upstream

log = logging.getLogger("frumious.sync")

# Up to this many allowlisted projects, asking each one is cheaper than PyPI's full listing.
FAST_PATH_LIMIT = 2000


class Options(msgspec.Struct, frozen=True):
    force_check: bool = False
    allow_mass_delete: bool = False


class Memory(msgspec.Struct, frozen=True):
    """What earlier finished runs carried forward (see ``retries``)."""

    failures: dict[str, Failure] = msgspec.field(default_factory=dict)
    vanishing: dict[str, float] = msgspec.field(default_factory=dict)
    # Projects whose files a time-based filter holds back: when the first becomes eligible.
    held: dict[str, float] = msgspec.field(default_factory=dict)

    @classmethod
    async def load(cls, mirror: Mirror) -> Memory:
        return cls(await mirror.failures(), await mirror.vanishing(), await mirror.held())


class Holdings(Protocol):
    """What the mirror holds, read-only: the record, or a plain value in tests."""

    def names(self) -> list[str]: ...
    def holds(self, name: str) -> bool: ...
    def count(self) -> int: ...
    def release_files(self) -> int: ...
    def release_files_of(self, names: Iterable[str]) -> int: ...


class RecordHoldings(msgspec.Struct, frozen=True):
    """``Holdings`` read from the SQLite record, on demand (a no-op run never lists every name)."""

    record: MirrorRecord

    def names(self) -> list[str]:
        return self.record.names()

    def holds(self, name: str) -> bool:
        return self.record.project(name) is not None

    def count(self) -> int:
        return self.record.count()

    def release_files(self) -> int:
        return self.record.count_release_files()

    def release_files_of(self, names: Iterable[str]) -> int:
        return claims.owned_files(self.record, names)


class Inputs(msgspec.Struct, frozen=True):
    """Everything ``plan`` reads, gathered by ``gather``: a todo, else a listing, else (both None) a 304."""

    serial: int
    now: float
    memory: Memory
    holdings: Holdings
    todo: Todo | None = None
    listing: Listing | None = None
    # The ETag sent with the listing request (kept when upstream answers 304).
    etag: str | None = None
    filters_changed: bool = False
    # Release, file or metadata filters changed: every mirrored project is filtered again.
    recheck_all: bool = False
    # The serial the mirror had, also under --force-check (where ``serial`` is 0).
    floor: int = 0
    # The upstream's change feed reached back to the serial: what changed since (instead of a listing).
    feed: feedreader.Changes | None = None

    def close(self) -> None:
        """Let go of the listing's body (past a few MiB a map of a temporary file): nothing reads it past the plan."""
        if self.listing is not None and isinstance(self.listing.entries, ListingScan):
            self.listing.entries.close()


class Plan(msgspec.Struct, frozen=True):
    # ``compact.Entries`` when it may be long (from a listing or a todo), in canonical order; a tuple when short.
    queue: Sequence[ListingEntry]
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
    # The listing was asked project by project (an allowlist): its ceiling is only the newest of those asked.
    partial: bool = False
    # Listed projects with an invalid serial, skipped this run.
    invalid: tuple[str, ...] = ()
    # Quarantined failures whose backoff has not expired: carried, not tried.
    waiting: tuple[Failure, ...] = ()
    # True when this run cannot tell which projects left the listing (resumed, or refused
    # removals): earlier first sightings are then carried unchanged.
    keep_vanishing: bool = False
    # The safety valve's refusal: this run removes no whole project and publishes no serial.
    refused: str | None = None
    # What the run starts from: the mirror's serial, the time, what earlier runs remembered.
    serial: int = 0
    started: float = 0.0
    memory: Memory = msgspec.field(default_factory=Memory)
    # What the plan decided and why, for the caller to log (``plan`` itself does no I/O).
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    # Listed projects the project filters exclude (metadata-only pages, ``metaonly``); None without a full listing.
    outside: tuple[ListingEntry, ...] | None = None
    # Mirrored projects filtered again from their stored upstream copy (``recheck``), canonical names.
    recheck: tuple[str, ...] = ()
    # The upstream gives no serials: every listed project is asked (conditionally) at the mirror's serial
    # plus one, a local counter published only when some project changed.
    counted: bool = False
    # The mirror's serial before the run, also under --force-check: what a finished run publishes at least,
    # unless the upstream's own serial is lower (a serial from another master).
    floor: int = 0
    # Planned from the upstream's change feed: a finished run reaches the feed's serial (``published_serial``).
    feed_serial: int | None = None


async def gather(
    upstream: Upstream,
    mirror: Mirror,
    filters: FilterSet,
    now: float,
    options: Options,
    *,
    read_only: bool = False,
    floor: int | None = None,
) -> Inputs:
    """Read what ``plan`` needs; ``read_only`` (a dry run) leaves even an unusable todo in place. ``floor``
    is the mirror's serial when the caller reset it already (``--force-check``)."""
    floor = await mirror.serial() if floor is None else floor
    serial = 0 if options.force_check else floor
    memory, holdings = await Memory.load(mirror), RecordHoldings(mirror.record)
    kinds = await mirror.changed_filter_kinds(filters.fingerprint, filters.fingerprints)
    # A resumed run filters again too: the fingerprint is published only when a run finishes.
    recheck_all = bool(kinds & recheck.RECHECK_KINDS) and serial > 0
    todo = await mirror.todo(discard_unusable=not read_only)
    if todo is not None:
        return Inputs(serial, now, memory, holdings, todo=todo, recheck_all=recheck_all, floor=floor)
    # Only project and metadata filters change which listed projects to fetch: the others keep the 304.
    changed = bool(kinds & {"project", "metadata"})
    if not _metadata_only(mirror.settings):
        # Changed project filters (and a first run) need the listing: serial 0 only asks whether there is a feed.
        feed = await feedreader.changes(upstream, mirror, 0 if changed else serial, read_only=read_only)
        if feed is not None:
            feed = shardscope.narrow_feed(feed, mirror.settings.shard)
            return Inputs(serial, now, memory, holdings, feed=feed, recheck_all=recheck_all, floor=floor)
    etag = await mirror.listing_etag(serial) if serial and not changed else None
    if _metadata_only(mirror.settings) and not await mirror.has_metadata_only():
        etag = None  # the first run that keeps metadata-only pages needs the listing itself, not a 304
    listing = await fetch_listing(upstream, mirror.settings, filters, etag, since=0 if changed else serial)
    listing = shardscope.narrow_listing(listing, mirror.settings.shard)
    if listing is None and etag is not None and etag.startswith(NO_SERIALS):
        # Without serials an unchanged listing says only that the names are the same: ask every page.
        names = [row.display for row in map(mirror.record.project, mirror.record.names()) if row is not None]
        listing = Listing([ListingEntry(name, 0) for name in names], None, etag, serials=False)
    return Inputs(
        serial,
        now,
        memory,
        holdings,
        listing=listing,
        etag=etag,
        filters_changed=changed,
        recheck_all=recheck_all,
        floor=floor,
    )


async def fetch_listing(
    upstream: Upstream, mirror_settings: MirrorSettings, filters: FilterSet, etag: str | None, since: int = 0
) -> Listing | None:
    only = None if _metadata_only(mirror_settings) else filters.only_projects  # those pages need every name
    if only is not None and len(only) <= FAST_PATH_LIMIT:
        # Decided on the whole allowlist, so every shard asks the same way (and publishes serials alike).
        if mirror_settings.shard is not None:
            only = frozenset(name for name in only if mirror_settings.shard.holds(name))
        log.info("Allowlist of %d project(s): asking each instead of fetching the full listing", len(only))
        return await upstream.listing_of(only, mirror_settings.workers * 2, since)
    return await upstream.listing(etag)


def _metadata_only(settings: MirrorSettings) -> bool:
    return settings.filtered_projects is FilteredProjects.METADATA_ONLY


def plan(inputs: Inputs, allows: Callable[[str], bool], settings: MirrorSettings, options: Options) -> Plan:
    """The run's plan, pure: the queue with failures due again, confirmable absences, then the safety valve."""
    base = _base_plan(inputs, allows)
    # A failure the filters now exclude is forgotten: blocklisting a broken project works.
    failures = {name: f for name, f in inputs.memory.failures.items() if allows(f.name)}
    # --allow-mass-delete retries quarantined projects at once: a project refused by the file
    # valve must not wait out its backoff before the override can reach it.
    requeued = retries.requeue(base.queue, failures, float("inf") if options.allow_mass_delete else inputs.now)
    seen, delay = inputs.memory.vanishing, settings.confirm_removal_after
    confirmable = tuple(n for n in base.vanished if n in seen and inputs.now - seen[n] >= delay)
    found = replace(base, queue=requeued.queue, waiting=requeued.waiting, confirmable=confirmable)
    found = replace(found, serial=inputs.serial, started=inputs.now, memory=inputs.memory, floor=inputs.floor)
    return safety_valve(_with_rechecks(found, inputs, allows), inputs.holdings, settings, options)


def _with_rechecks(found: Plan, inputs: Inputs, allows: Callable[[str], bool]) -> Plan:
    """The mirrored projects to filter again: all of them after a filter change, else those with held files due."""
    queued = (entry.name for entry in found.queue)
    names = recheck.rechecks(
        inputs.holdings.names,
        inputs.memory.held,
        everything=inputs.recheck_all,
        now=inputs.now,
        allows=allows,
        queued=queued,
    )
    notes = recheck.notes(len(names), everything=inputs.recheck_all)
    return replace(found, recheck=names, notes=found.notes + notes)


def _base_plan(inputs: Inputs, allows: Callable[[str], bool]) -> Plan:
    serial, todo, listing = inputs.serial, inputs.todo, inputs.listing
    if todo is not None:
        # Filters apply to resumed work too: a project blocklisted since is not fetched.
        entries = Entries(entry for entry in todo.entries if allows(entry.name))
        dropped = len(todo.entries) - len(entries)
        notes = [f"Dropped {dropped} resumed project(s) the filters now exclude"] if dropped else []
        notes.append(f"Resuming an interrupted run: {len(entries)} project(s) left")
        target = max(serial, todo.target)
        return Plan(queue=entries, target=target, resumed=True, keep_vanishing=True, notes=tuple(notes))
    if inputs.feed is not None:
        return _feed_plan(inputs, inputs.feed, allows)
    if listing is None:
        note = f"The upstream listing is unchanged since serial {serial}"
        # Unchanged listing: the projects absent from it before are absent still.
        held = [n for n in sorted(inputs.memory.vanishing) if inputs.holdings.holds(n)]
        vanished = tuple(n for n in held if allows(n))
        queue = tuple(ListingEntry(name, 0) for name in vanished)
        return Plan(
            queue, serial, False, listing_etag=inputs.etag, listing_unchanged=True, vanished=vanished, notes=(note,)
        )
    if not listing.serials:
        # A local counter stands in for upstream's serials (docs/reliability.md); it counts on from the
        # mirror's own serial even under --force-check (which only asks every page again).
        step = max(serial, inputs.floor) + 1
        counted = [ListingEntry(entry.name, step) for entry in listing.entries]
        listing = replace(listing, entries=counted, serial=step)
    warnings: tuple[str, ...] = ()
    if listing.serial is not None and not listing.partial and serial > listing.serial:
        # Nothing upstream looks new until it passes our serial: say so rather than stall quietly.
        warnings = (
            f"The mirror's serial {serial} is beyond the upstream's own ({listing.serial}), so changes up to"
            f" {serial} go unseen (a serial from another master or an older frumious?);"
            " run `frumious mirror --force-check`",
        )
    local = Local(holdings.record) if isinstance(holdings := inputs.holdings, RecordHoldings) else None
    found, invalid, more = of_listing(
        listing, local or Local(names=holdings.names()), allows, serial, inputs.filters_changed and serial > 0
    )
    return Plan(
        queue=found.queue,
        target=target_serial(serial, found.queue, listing.serial),
        resumed=False,
        listing_etag=listing.etag,
        excluded=found.excluded,
        vanished=found.vanished,
        ceiling=listing.serial,
        partial=listing.partial,
        invalid=tuple(sorted({canonicalize_name(n) for n in invalid if allows(n)})),
        warnings=more + warnings,
        outside=None if listing.partial else found.outside,
        counted=not listing.serials,
    )


def _feed_plan(inputs: Inputs, feed: feedreader.Changes, allows: Callable[[str], bool]) -> Plan:
    found = feedreader.queue(feed, inputs.holdings.holds, inputs.memory.vanishing, allows)
    note = f"The upstream's change feed: {len(feed.changed)} changed, {len(feed.removed)} removed since serial"
    note += f" {inputs.serial} ({feed.segments} segment(s)); the listing is not fetched"
    target = max(inputs.serial, feed.serial)
    return Plan(
        found.queue, target, False, vanished=found.vanished, ceiling=feed.serial, feed_serial=target, notes=(note,)
    )


def removal_limit(local_count: int, share: float) -> int:
    """How many projects one run may remove: ``share`` of the mirror, at least one."""
    return max(1, int(local_count * share))


def whole_removals(settings: MirrorSettings, plan: Plan) -> list[str]:
    """The projects this run removes whole if upstream confirms: confirmable absences, pruned exclusions."""
    confirmable = [] if settings.keep_removed else list(plan.confirmable)
    return confirmable + (list(plan.excluded) if settings.prune_filtered else [])


def safety_valve(found: Plan, holdings: Holdings, settings: MirrorSettings, options: Options) -> Plan:
    """Refuse to remove more than the configured share of the mirror's projects, or of its files, in one run.

    Only confirmable absences count: a first sighting removes nothing this run. A refused
    plan drops the vanished projects from the queue, keeps earlier sightings and prunes nothing.
    """
    names = whole_removals(settings, found)
    if not names or options.allow_mass_delete:
        return found
    local, share = holdings.count(), settings.max_delete_share
    limit, files = removal_limit(local, share), holdings.release_files_of(names)
    total = holdings.release_files()
    if len(names) > limit:
        refused = f"refusing to remove {len(names)} of {local} projects in one run (max-delete-share allows {limit})"
    elif files > claims.file_limit(total, share):
        refused = f"refusing to remove {len(names)} project(s) holding {files} of the mirror's {total} files"
        refused += f" in one run (max-delete-share allows {claims.file_limit(total, share)} files)"
    else:
        return found
    vanished = set(found.vanished)
    return replace(
        found,
        queue=Entries(entry for entry in found.queue if entry.name not in vanished),
        vanished=(),
        confirmable=(),
        keep_vanishing=True,
        excluded=() if settings.prune_filtered else found.excluded,
        refused=refused + "; if that is intended, rerun with --allow-mass-delete",
    )


def published_serial(plan: Plan, reached: int, changed: bool = True) -> int:
    """The serial a finished run publishes: the newest that every synced project reached (``reached``, the
    newest serial of the queue's entries that reached theirs: ``SyncReport.newest``, kept as the run goes).

    Failed projects do not hold it back (they are carried by name); a resumed run
    publishes at least the target its interrupted run was heading for; a refused run publishes nothing new.
    """
    current = plan.serial
    if plan.refused is not None:
        return current
    if plan.feed_serial is not None:  # the feed named every change up to its serial; failures are carried
        return max(current, plan.feed_serial)
    if plan.counted and not changed:
        return max(current, plan.floor)  # no serials upstream and no page changed: the counter stays
    base = max(current, plan.target) if plan.resumed else current
    found = target_serial(base, [ListingEntry("", reached)] if reached > base else [], plan.ceiling)
    # --force-check starts from 0; a failed project (carried by name) must not move the serial back,
    # only an upstream whose own serial is lower may (the warning's advice for a foreign serial).
    floor = plan.floor if plan.ceiling is None or plan.partial else min(plan.floor, plan.ceiling)
    return max(found, floor)
