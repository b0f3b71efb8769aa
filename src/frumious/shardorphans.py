"""``frumious publish --orphans``: the files under web/packages that no shard owns, found once.

A shard's ``verify`` checks its own projects only: a walk of web/packages there would take every
other shard's files for unowned. This step sees every shard: it reads each shard's record (a
throwaway copy, ``record/copy``, brought up to date from the shard's own pages when it may lag
the shard's tree, as a dry run does), joins what they own and walks web/packages once, by
verify's rules (``verify.find_unowned``). The CLI holds the mirror's lock and every shard's
while it removes them (``--delete``), so no shard is mid-run with files fetched but not yet
recorded.
"""

from __future__ import annotations

import logging
import time

import msgspec

from frumious import verify
from frumious.models import replace
from frumious.protocol import layout
from frumious.record import copy
from frumious.settings import MirrorSettings
from frumious.shard import Shard
from frumious.stats import Progress, Report, stops_with
from frumious.storage.base import Store
from frumious.storage.scoped import scoped

__all__ = ["OrphanReport", "orphans", "owners"]

log = logging.getLogger("frumious.publish")


class OrphanReport(Report):
    """The unowned files found (and, with ``delete``, the ones removed)."""

    shards: int = 0
    delete: bool = False
    owned: int = 0
    orphans: list[str] = msgspec.field(default_factory=list)
    removed: list[str] = msgspec.field(default_factory=list)


async def owners(store: Store, settings: MirrorSettings, count: int) -> tuple[set[str], set[str]]:
    """Every key some shard's record owns, and every project whose page a shard could not read."""
    owned: set[str] = set()
    unreadable: set[str] = set()
    for shard in Shard.all(count):
        shard_settings = replace(settings, shard=shard, shards=count)
        async with copy.private_copy(scoped(store, shard), shard_settings) as record:
            owned |= record.owned_keys()
            unreadable |= record.unparsed()
    return owned, unreadable


async def orphans(
    store: Store, settings: MirrorSettings, count: int, *, delete: bool, workers: int, progress: Progress
) -> OrphanReport:
    """List (or remove) the files under web/packages that none of ``count`` shards owns."""
    report = OrphanReport(progress=progress, started=time.time(), shards=count, delete=delete)
    with stops_with(report):
        owned, unreadable = await owners(store, settings, count)
        report.owned = len(owned)
        report.orphans = await verify.find_unowned(store, owned, unreadable)
        log.info("%d file(s) under %s that no shard owns", len(report.orphans), layout.PACKAGES)
        if delete and report.orphans:
            report.removed = sorted(await verify.remove_keys(store, report.orphans, workers))
            await store.flush()
    report.finished = time.time()
    return report
