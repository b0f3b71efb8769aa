"""What a shard (``mirror --shard I/N``) sees of the upstream: only its own projects.

The listing, an allowlist's names (``plan.fetch_listing``) and an upstream feed's changes are
narrowed in ``plan.gather``, before anything is reconciled, so a project of another shard is
never queued, never taken as vanished and never pruned.
"""

from __future__ import annotations

from frumious.feedreader import Changes
from frumious.models import ListingEntry, replace
from frumious.protocol.listing import ListingScan
from frumious.shard import Shard
from frumious.upstream import Listing

__all__ = ["narrow_feed", "narrow_listing"]


def narrow_listing(listing: Listing | None, shard: Shard | None) -> Listing | None:
    """The listing as ``shard`` sees it (the whole one outside a shard run)."""
    if listing is None or shard is None:
        return listing
    entries = listing.entries
    if isinstance(entries, list):
        narrowed: list[ListingEntry] | ListingScan = [entry for entry in entries if shard.holds(entry.name)]
    else:
        narrowed = entries.narrow(shard.holds)
    invalid = tuple(name for name in listing.invalid if shard.holds(name))
    return replace(listing, entries=narrowed, invalid=invalid)


def narrow_feed(changes: Changes, shard: Shard | None) -> Changes:
    if shard is None:
        return changes
    changed = tuple(entry for entry in changes.changed if shard.holds(entry.name))
    removed = tuple(name for name in changes.removed if shard.holds(name))
    return replace(changes, changed=changed, removed=removed)
