"""Reading an upstream's change feed (docs/feed.md): which projects changed since the mirror's serial.

``changes`` asks for ``{master}/feed/head.json``. When the feed reaches back to the mirror's
serial, the segments after it name every project changed or removed since, and the run fetches
only those instead of the listing (``plan``). Anything else falls back to the listing: no feed
(a 404, or an answer that is no feed: remembered for a day, so an upstream without one costs
one request a day), a feed that starts after the mirror's serial (retention), a feed behind the
mirror's serial (an upstream restored from a backup) or a malformed head or segment (one
warning). ``queue`` turns the changes into the run's queue; it never depends on how projects
are then fetched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

import msgspec

from frumious.errors import BadUpstreamData, DecompressionBomb, FrumiousError, NotFound
from frumious.mirror import Mirror
from frumious.models import ListingEntry, canonicalize_name
from frumious.protocol import feedformat
from frumious.protocol.feedformat import Head, Segment
from frumious.upstream import Upstream

__all__ = ["ABSENT_FOR", "Changes", "Queued", "changes", "queue"]

log = logging.getLogger("frumious.sync")

# After an upstream answered that it has no feed, it is asked again only this much later (seconds).
ABSENT_FOR = 86400.0
# Warehouse has no feed: asking pypi.org every run would only add a 404.
WITHOUT_FEED = frozenset({"pypi.org", "test.pypi.org"})


class Changes(msgspec.Struct, frozen=True):
    """What the feed says changed after the mirror's serial, up to the feed's ``serial``."""

    serial: int
    changed: tuple[ListingEntry, ...]
    removed: tuple[str, ...]  # canonical names
    segments: int = 0


class Queued(msgspec.Struct, frozen=True):
    queue: tuple[ListingEntry, ...]
    vanished: tuple[str, ...]


class _NoFeed(Exception):
    """The upstream offers no feed (remembered for a day)."""


async def changes(upstream: Upstream, mirror: Mirror, serial: int, *, read_only: bool = False) -> Changes | None:
    """The changes after ``serial`` from the upstream's feed, or None: read the listing instead."""
    host = urlsplit(upstream.master).hostname or ""
    if host in WITHOUT_FEED or await _known_absent(mirror):
        return None
    # A first run reads the listing anyway; asking now learns whether a feed is there, so the
    # next run (often a no-op: one 304) does not pay for the question.
    try:
        head = await _head(upstream)
    except _NoFeed as exc:
        log.debug("No change feed upstream (%s)", exc)
        if not read_only:
            await mirror.save_feed_state(feedformat.PROBE_KEY, str(time.time()).encode())
        return None
    except (FrumiousError, TimeoutError) as exc:
        if serial > 0:
            log.warning("The upstream's change feed is unusable (%s); reading the listing instead", _line(exc))
        return None
    if serial <= 0:
        return None
    if head.serial < serial:
        log.warning(
            "The upstream's change feed is at serial %d, behind this mirror's %d (an upstream restored from a"
            " backup?); reading the listing instead",
            head.serial,
            serial,
        )
        return None
    if not head.reaches(serial):
        log.info(
            "The upstream's change feed starts at serial %d, after this mirror's %d; reading the listing instead",
            head.complete_from,
            serial,
        )
        return None
    try:
        return await _read_segments(upstream, head, serial)
    except (FrumiousError, TimeoutError) as exc:
        log.warning("The upstream's change feed is unusable (%s); reading the listing instead", _line(exc))
        return None


async def _known_absent(mirror: Mirror) -> bool:
    data = await mirror.feed_state(feedformat.PROBE_KEY)
    try:
        return data is not None and time.time() - float(data) < ABSENT_FOR
    except ValueError:
        return False


async def _head(upstream: Upstream) -> Head:
    try:
        body = await _fetch(upstream, feedformat.HEAD_PATH)
    except NotFound as exc:
        raise _NoFeed(str(exc)) from None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _NoFeed("its /feed/head.json is not JSON") from None
    claimed = document.get("format") if isinstance(document, dict) else None
    if not isinstance(claimed, str) or not claimed.startswith("frumious.feed/"):
        raise _NoFeed("its /feed/head.json is not a frumious feed")
    return feedformat.parse_head(body)  # a feed after all: from here on, anything off is worth a warning


async def _read_segments(upstream: Upstream, head: Head, serial: int) -> Changes:
    wanted = head.after(serial)
    gate = asyncio.Semaphore(4)

    async def read(segment: Segment) -> tuple[feedformat.Event, ...]:
        async with gate:
            return feedformat.parse_segment(await _fetch(upstream, segment.path), segment)

    found = await asyncio.gather(*(read(segment) for segment in wanted))
    last = feedformat.latest(event for events in found for event in events)
    changed = tuple(ListingEntry(e.name, e.serial) for e in last.values() if not e.removed)
    removed = tuple(name for name, e in last.items() if e.removed)
    return Changes(head.serial, changed, removed, len(wanted))


async def _fetch(upstream: Upstream, path: str) -> bytes:
    url = f"{upstream.master}/feed/{path}"

    async def fetch() -> bytes:
        async with upstream.get(url, {"Accept": "application/json"}) as response:
            try:
                return await response.read(upstream.max_listing_size)
            except DecompressionBomb:
                raise
            except BadUpstreamData as exc:  # too large: a feed is small, so this is no feed to trust
                raise BadUpstreamData(f"{url}: {_line(exc)}") from None

    return await upstream.with_retries(f"fetching {url}", fetch)


def queue(
    changes: Changes, holds: Callable[[str], bool], vanishing: Mapping[str, float], allows: Callable[[str], bool]
) -> Queued:
    """The run's queue from the feed: every changed project, and the held ones removed upstream.

    Changed projects are queued whatever their serial: a project the upstream retried after a
    failure changes at an old serial. Removed projects, and those already seen gone (awaiting
    confirmation, as with an unchanged listing), are queued at serial 0 so a 404 confirms them.
    """
    changed = {canonicalize_name(entry.name) for entry in changes.changed}
    entries = [entry for entry in changes.changed if allows(entry.name)]
    candidates = sorted(set(changes.removed) | set(vanishing))
    vanished = tuple(n for n in candidates if n not in changed and holds(n) and allows(n))
    entries.extend(ListingEntry(name, 0) for name in vanished)
    return Queued(tuple(sorted(entries, key=lambda entry: canonicalize_name(entry.name))), vanished)


def _line(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return (str(exc) or type(exc).__name__).splitlines()[0][:200]
