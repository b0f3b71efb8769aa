"""The change feed's format, ``frumious.feed/1`` (docs/feed.md): pure values, text and retention.

A mirror publishes, under ``web/feed/``, a journal of the projects each run changed or removed:
immutable segments (``segments/<after>-<through>.json``, the events of the serials after
``after`` up to ``through``) and one small mutable ``head.json`` naming them. A reader at
serial S that finds ``complete-from <= S <= serial`` in the head reads the segments whose
``through`` passes S and knows every project that changed since; otherwise it falls back to the
listing. Parsing is strict: anything off raises ``BadUpstreamData`` with one line saying what.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import msgspec

from frumious.errors import BadUpstreamData
from frumious.models import canonicalize_name

__all__ = [
    "FEED_DIR",
    "FORMAT",
    "HEAD_KEY",
    "HEAD_PATH",
    "MAX_SEGMENTS",
    "PENDING_KEY",
    "PROBE_KEY",
    "SEGMENTS_DIR",
    "Event",
    "Head",
    "Segment",
    "latest",
    "parse_events",
    "parse_head",
    "parse_segment",
    "render_events",
    "render_head",
    "render_segment",
    "retain",
    "segment_path",
]

FORMAT = "frumious.feed/1"
FEED_DIR = "web/feed"
HEAD_PATH = "head.json"  # relative to the feed's directory (its URL: /feed/)
HEAD_KEY = f"{FEED_DIR}/{HEAD_PATH}"
SEGMENTS_DIR = f"{FEED_DIR}/segments"
# The publisher's state: events of runs that changed projects without moving the serial (for the next segment).
PENDING_KEY = ".frumious/feed-pending"
# The reader's state: when the upstream last answered that it has no feed.
PROBE_KEY = ".frumious/upstream-feed"
# A head names at most this many segments (older ones are dropped as retention does): at ~100
# bytes an entry, a head stays under about 200 KB even for a run every few minutes.
MAX_SEGMENTS = 2000
_SEGMENT_PATH = re.compile(r"^segments/(\d{1,20})-(\d{1,20})\.json$")


class Event(msgspec.Struct, frozen=True):
    """One project changed (to its ``serial``) or removed (``serial``: the mirror's when it went)."""

    name: str
    serial: int
    removed: bool = False


class Segment(msgspec.Struct, frozen=True):
    """A segment as the head names it: the serials ``(after, through]``, its event count, when written."""

    after: int
    through: int
    events: int
    written: float

    @property
    def path(self) -> str:
        return segment_path(self.after, self.through)


class Head(msgspec.Struct, frozen=True):
    """The feed's head: the mirror's serial, from where it is complete, and its segments (oldest first)."""

    serial: int
    complete_from: int
    segments: tuple[Segment, ...] = ()
    updated: float = 0.0

    def reaches(self, serial: int) -> bool:
        """Whether the segments hold every change after ``serial`` (a reader there can use the feed)."""
        return self.complete_from <= serial <= self.serial

    def after(self, serial: int) -> tuple[Segment, ...]:
        return tuple(segment for segment in self.segments if segment.through > serial)


def segment_path(after: int, through: int) -> str:
    """A segment's path relative to the feed's directory; zero-padded so a listing sorts by serial."""
    return f"segments/{after:012d}-{through:012d}.json"


def _stamp(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _moment(value: object, what: str) -> float:
    if not isinstance(value, str):
        raise BadUpstreamData(f"{what} is not a time string")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise BadUpstreamData(f"{what} is not a time like 2025-01-31T12:00:00Z: {value[:40]!r}") from None


def _serial(value: object, what: str) -> int:
    # bool is an int in Python; a serial never is one.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BadUpstreamData(f"{what} is not a serial (a whole number, 0 or more)")
    return value


def render_head(head: Head) -> bytes:
    document = {
        "format": FORMAT,
        "serial": head.serial,
        "complete-from": head.complete_from,
        "updated": _stamp(head.updated),
        "segments": [
            {
                "path": s.path,
                "after": s.after,
                "through": s.through,
                "events": s.events,
                "written": _stamp(s.written),
            }
            for s in head.segments
        ],
    }
    return json.dumps(document, indent=1).encode() + b"\n"


def _document(body: bytes, what: str) -> dict[str, object]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadUpstreamData(f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise BadUpstreamData(f"{what} is not a JSON object")
    if document.get("format") != FORMAT:
        raise BadUpstreamData(f"{what} is not in the format {FORMAT} (it says {str(document.get('format'))[:40]!r})")
    return document


def parse_head(body: bytes) -> Head:
    """The head, checked: serials in order, segments ascending, inside ``(complete-from, serial]``."""
    document = _document(body, "the feed's head")
    serial = _serial(document.get("serial"), "the head's serial")
    complete_from = _serial(document.get("complete-from"), "the head's complete-from")
    if complete_from > serial:
        raise BadUpstreamData(f"the head's complete-from {complete_from} is beyond its serial {serial}")
    raw = document.get("segments")
    if not isinstance(raw, list):
        raise BadUpstreamData("the head's segments are not a list")
    segments = tuple(_head_segment(item, n) for n, item in enumerate(raw))
    floor = complete_from
    for segment in segments:
        if segment.after < floor or segment.through > serial:
            raise BadUpstreamData(f"the head's segment {segment.path} lies outside ({floor}, {serial}]")
        floor = segment.through
    return Head(serial, complete_from, segments, _moment(document.get("updated"), "the head's updated"))


def _head_segment(item: object, n: int) -> Segment:
    what = f"the head's segment #{n + 1}"
    if not isinstance(item, dict):
        raise BadUpstreamData(f"{what} is not a JSON object")
    after, through = _serial(item.get("after"), f"{what}'s after"), _serial(item.get("through"), f"{what}'s through")
    if through <= after:
        raise BadUpstreamData(f"{what} covers no serials ({after}, {through}]")
    segment = Segment(
        after, through, _serial(item.get("events"), f"{what}'s events"), _moment(item.get("written"), what)
    )
    if item.get("path") != segment.path:
        # The path is fixed by the range: a reader never fetches a path the head merely asserts.
        raise BadUpstreamData(f"{what}'s path is not {segment.path}")
    return segment


def render_segment(segment: Segment, events: Sequence[Event]) -> bytes:
    head = json.dumps({"format": FORMAT, "after": segment.after, "through": segment.through})[:-1]
    # One event a line: readable with grep, and still one JSON document.
    lines = ",\n  ".join(json.dumps(_event_json(event), separators=(",", ":")) for event in events)
    return f'{head}, "written": "{_stamp(segment.written)}", "events": [\n  {lines}\n]}}\n'.encode()


def _event_json(event: Event) -> dict[str, object]:
    item: dict[str, object] = {"name": event.name, "serial": event.serial}
    if event.removed:
        item["removed"] = True
    return item


def parse_segment(body: bytes, expected: Segment) -> tuple[Event, ...]:
    """A segment's events, checked against the range and count its head promised."""
    what = f"the feed's segment {expected.path}"
    document = _document(body, what)
    after, through = _serial(document.get("after"), f"{what}'s after"), _serial(document.get("through"), what)
    if (after, through) != (expected.after, expected.through):
        raise BadUpstreamData(f"{what} covers ({after}, {through}], not what the head says")
    events = parse_events(document.get("events"), what)
    if len(events) != expected.events:
        raise BadUpstreamData(f"{what} holds {len(events)} events, the head says {expected.events}")
    return events


def parse_events(raw: object, what: str) -> tuple[Event, ...]:
    if not isinstance(raw, list):
        raise BadUpstreamData(f"{what}'s events are not a list")
    events = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise BadUpstreamData(f"{what}'s event #{n + 1} has no project name")
        removed = item.get("removed", False)
        if not isinstance(removed, bool):
            raise BadUpstreamData(f"{what}'s event #{n + 1} has a 'removed' that is not true or false")
        events.append(Event(item["name"], _serial(item.get("serial"), f"{what}'s event #{n + 1}"), removed))
    return tuple(events)


def render_events(events: Iterable[Event]) -> bytes:
    """Events as a bare JSON list (the publisher's pending state)."""
    return json.dumps([_event_json(event) for event in events]).encode()


def latest(events: Iterable[Event]) -> dict[str, Event]:
    """The last event of each project (canonical name), in the order given: oldest segment first."""
    found: dict[str, Event] = {}
    for event in events:
        canonical = canonicalize_name(event.name)
        found.pop(canonical, None)  # re-inserted: the dict keeps the order of each project's last event
        found[canonical] = event
    return found


def retain(segments: Sequence[Segment], complete_from: int, now: float, keep_days: float) -> tuple[Head, list[Segment]]:
    """The segments to keep (written within ``keep_days``, at most ``MAX_SEGMENTS``) and those to drop.

    Returns a head without serial (0) whose ``complete_from`` is past every dropped segment: the
    feed only claims to be complete where it still holds the segments.
    """
    cutoff, kept = now - keep_days * 86400, list(segments)
    dropped: list[Segment] = []
    # From the oldest on, so the kept ones stay one run of segments, whatever the clock did.
    while kept and (kept[0].written < cutoff or len(kept) > MAX_SEGMENTS):
        dropped.append(kept.pop(0))
    floor = max([complete_from, *(s.through for s in dropped)])
    return Head(0, floor, tuple(kept), now), dropped
