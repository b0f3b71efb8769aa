"""Publishing the change feed (``feed = true``): each finished run's changed and removed projects.

Called once a run has published its serial (``sync._follow``): the run's events go into one
new immutable segment under ``web/feed/segments/``, then ``web/feed/head.json`` is replaced
(segments first, head last, so a reader never sees a head naming a segment not yet there),
then segments past retention are deleted. The format is ``protocol/feedformat`` (docs/feed.md).

The feed only ever claims what it holds: a head whose serial is not the mirror's serial before
this run (no head yet, the feed was off for a while, the mirror restored from a backup or
``--force-check``) starts the feed again at this run's serial, and a downstream behind that reads
the listing once. A run that changed projects without moving the serial keeps their events in
``.frumious/feed-pending`` for the next segment, since a reader at that serial would skip a
segment covering no serials.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

from frumious.errors import BadUpstreamData, ObjectMissing
from frumious.mirror import Mirror
from frumious.models import canonicalize_name, replace
from frumious.protocol import feedformat
from frumious.protocol.feedformat import Event, Head, Segment
from frumious.runreport import SyncReport

__all__ = ["after_run", "events_of", "publish"]

log = logging.getLogger("frumious.feed")


async def after_run(mirror: Mirror, before: int, report: SyncReport) -> None:
    """The hook of a finished run that published ``report.serial``, having started at ``before``."""
    events = events_of(mirror, report.reached, report.removed_projects, report.serial)
    await publish(mirror, before, report.serial, events, time.time())


def events_of(mirror: Mirror, synced: Iterable[str], removed: Iterable[str], serial: int) -> list[Event]:
    """The run's events: projects it brought to a new state, at their serial, and projects it removed.

    A project's serial is capped at the run's: a reader asks each project for at least that
    serial, and the mirror's own page may carry no newer one.
    """
    events = []
    for name in sorted(set(synced)):
        row = mirror.record.project(canonicalize_name(name))
        if row is not None:  # skipped by a metadata filter: the mirror holds nothing of it
            events.append(Event(row.display, min(row.serial, serial)))
    events.extend(Event(canonicalize_name(name), serial, removed=True) for name in sorted(set(removed)))
    return events


async def publish(mirror: Mirror, before: int, serial: int, events: list[Event], now: float) -> None:
    """Add the run from serial ``before`` to ``serial`` to the feed, with its ``events``."""
    head, pending = await _current_head(mirror), await _pending(mirror)
    if head is None or head.serial != before or pending is None:
        why = "none yet" if head is None else f"it ended at serial {head.serial}, the mirror was at {before}"
        log.info("Starting the change feed at serial %d (%s)", serial, "unreadable state" if pending is None else why)
        await _start(mirror, serial, now)
        return
    if serial <= before:
        if events:  # no serials to file them under yet: the next segment carries them
            await mirror.save_feed_state(feedformat.PENDING_KEY, feedformat.render_events([*pending, *events]))
        return
    segments = head.segments
    if pending or events:
        segment = Segment(before, serial, len(pending) + len(events), now)
        data = feedformat.render_segment(segment, [*pending, *events])
        await mirror.store.write(f"{feedformat.FEED_DIR}/{segment.path}", data)
        await mirror.flush()  # durable before the head names it
        segments = (*segments, segment)
    kept, dropped = feedformat.retain(segments, head.complete_from, now, mirror.settings.feed_keep_days)
    await mirror.store.write(feedformat.HEAD_KEY, feedformat.render_head(replace(kept, serial=serial)))
    await mirror.save_feed_state(feedformat.PENDING_KEY, None)
    for old in dropped:  # after the head: a reader of the old head may still be fetching them
        await mirror.store.delete(f"{feedformat.FEED_DIR}/{old.path}")
    if dropped:
        log.info(
            "Change feed: %d segment(s) past retention dropped; complete from %d", len(dropped), kept.complete_from
        )


async def _current_head(mirror: Mirror) -> Head | None:
    try:
        return feedformat.parse_head(await mirror.store.read(feedformat.HEAD_KEY))
    except ObjectMissing:
        return None
    except BadUpstreamData as exc:
        log.warning("The change feed's head is unreadable (%s); starting the feed again", exc)
        return None


async def _pending(mirror: Mirror) -> list[Event] | None:
    """Events waiting for a segment; None when the state is unreadable (the feed then starts again)."""
    data = await mirror.feed_state(feedformat.PENDING_KEY)
    if data is None:
        return []
    try:
        return list(feedformat.parse_events(json.loads(data), "the feed's pending events"))
    except (ValueError, BadUpstreamData):
        return None


async def _start(mirror: Mirror, serial: int, now: float) -> None:
    """A feed complete from ``serial`` on, with no segments; every old segment goes."""
    await mirror.store.write(feedformat.HEAD_KEY, feedformat.render_head(Head(serial, serial, (), now)))
    await mirror.save_feed_state(feedformat.PENDING_KEY, None)
    for name in await mirror.store.children(feedformat.SEGMENTS_DIR):
        await mirror.store.delete(f"{feedformat.SEGMENTS_DIR}/{name}")
