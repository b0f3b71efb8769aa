"""Each shard's share of the mirror, before a run (``mirror --dry-run --shard I/N`` or ``--shards N``).

The hash spreads names evenly, so the projects listed for a shard are about 1/N of the listing;
what it cannot spread is size: a few projects hold tens of thousands of files. A shard's files
and bytes are what its record holds (``record/size``: one aggregate query). A shard with no
record yet holds nothing known: what it will fetch is known only once its projects' pages are
read, and the share says so rather than guessing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import msgspec

from frumious import plan
from frumious.filters import FilterSet
from frumious.models import ListingEntry, replace
from frumious.record import copy, size
from frumious.record.db import MirrorRecord
from frumious.settings import MirrorSettings
from frumious.shard import Shard, shard_of
from frumious.stats import MirrorSize, Report
from frumious.storage.base import Store
from frumious.storage.scoped import scoped
from frumious.upstream import Upstream

__all__ = ["Share", "ShareReport", "held", "listed", "shares"]


class Share(msgspec.Struct, frozen=True):
    """Shard ``shard``'s part: ``listed`` of ``listed_total`` listed projects, and what its record holds
    (None: no record yet, so its files are unknown until its pages are read)."""

    shard: Shard
    listed: int
    listed_total: int
    holds: MirrorSize | None

    @property
    def percent(self) -> float:
        return 100.0 * self.listed / self.listed_total if self.listed_total else 0.0


class ShareReport(Report):
    """``mirror --dry-run --shards N`` without an index: every shard's share; nothing was changed."""

    shares: list[Share] = msgspec.field(default_factory=list)


def count_listed(entries: Iterable[ListingEntry], count: int) -> list[int]:
    """How many of ``entries`` each of ``count`` shards holds."""
    counts = [0] * count
    for entry in entries:
        counts[shard_of(entry.name, count)] += 1
    return counts


async def listed(upstream: Upstream, settings: MirrorSettings, filters: FilterSet, count: int) -> list[int]:
    """The whole listing (or the allowlist's projects) counted per shard: one listing request."""
    whole = replace(settings, shard=None)
    listing = await plan.fetch_listing(upstream, whole, filters, None)
    return count_listed(listing.entries if listing is not None else (), count)


def held(record: MirrorRecord) -> MirrorSize | None:
    """What a shard's record holds; None when it holds no project yet."""
    found = size.mirror_size(record)
    return found if found.projects else None


async def shares(
    upstream: Upstream, store: Store, settings: MirrorSettings, filters: FilterSet, count: int
) -> ShareReport:
    """Every shard's share: the listing counted once, each shard's record read from a throwaway copy."""
    report = ShareReport(started=time.time())
    counts = await listed(upstream, settings, filters, count)
    total = sum(counts)
    for shard in Shard.all(count):
        own = replace(settings, shard=shard, shards=count)
        async with copy.private_copy(scoped(store, shard), own) as record:
            report.shares.append(Share(shard, counts[shard.index], total, held(record)))
    report.finished = time.time()
    return report
