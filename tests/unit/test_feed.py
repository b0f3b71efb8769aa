"""The change feed: its format (``protocol/feedformat``), retention, the reader's queue and the publisher."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fakepypi import default_index, make_wheel, mem_index
from frumious import feedreader
from frumious.errors import BadUpstreamData
from frumious.models import ListingEntry
from frumious.protocol import feedformat
from frumious.protocol.feedformat import Event, Head, Segment
from frumious.testing.harness import Bench

DAY = 86400.0
NOW = 1_750_000_000.0


def head_of(*segments: Segment, serial: int = 30, complete_from: int = 0) -> Head:
    return Head(serial, complete_from, segments, NOW)


def test_head_and_segment_round_trip() -> None:
    segment = Segment(10, 20, 2, NOW)
    events = [Event("Foo.Bar", 19), Event("gone", 20, removed=True)]
    head = head_of(segment, serial=25, complete_from=5)
    assert feedformat.parse_head(feedformat.render_head(head)) == head
    body = feedformat.render_segment(segment, events)
    assert feedformat.parse_segment(body, segment) == tuple(events)
    assert json.loads(body)["events"][1] == {"name": "gone", "serial": 20, "removed": True}
    assert segment.path == "segments/000000000010-000000000020.json"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(format="frumious.feed/2"), "not in the format frumious.feed/1"),
        (lambda d: d.update(serial=-1), "serial is not a serial"),
        (lambda d: d.update(serial=True), "serial is not a serial"),
        (lambda d: d.update({"complete-from": 40}), "beyond its serial"),
        (lambda d: d.update(segments={}), "segments are not a list"),
        (lambda d: d["segments"][0].update(path="../../etc/passwd"), "path is not segments/"),
        (lambda d: d["segments"][0].update(through=10), "covers no serials"),
        (lambda d: d["segments"][0].update(through=99, path=feedformat.segment_path(10, 99)), "lies outside"),
        (lambda d: d["segments"].append(dict(d["segments"][0])), "lies outside"),  # overlapping
        (lambda d: d["segments"][0].update(written="yesterday"), "is not a time"),
    ],
)
def test_a_malformed_head_is_refused_with_one_line(change, message) -> None:  # type: ignore[no-untyped-def]
    document = json.loads(feedformat.render_head(head_of(Segment(10, 20, 1, NOW))))
    change(document)
    with pytest.raises(BadUpstreamData, match=message):
        feedformat.parse_head(json.dumps(document).encode())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "is not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"format": "frumious.feed/1", "after": 10, "through": 21, "events": []}', "not what the head says"),
        (b'{"format": "frumious.feed/1", "after": 10, "through": 20, "events": []}', "holds 0 events, the head says 1"),
        (b'{"format": "frumious.feed/1", "after": 10, "through": 20, "events": [{"serial": 3}]}', "no project name"),
        (
            b'{"format": "frumious.feed/1", "after": 10, "through": 20, "events": [{"name": "a", "serial": "3"}]}',
            "is not a serial",
        ),
    ],
)
def test_a_malformed_segment_is_refused(body: bytes, message: str) -> None:
    with pytest.raises(BadUpstreamData, match=message):
        feedformat.parse_segment(body, Segment(10, 20, 1, NOW))


def test_the_head_says_which_serials_it_reaches_and_which_segments_follow_one() -> None:
    head = head_of(Segment(10, 20, 1, NOW), Segment(20, 30, 1, NOW), serial=30, complete_from=10)
    assert [head.reaches(s) for s in (9, 10, 25, 30, 31)] == [False, True, True, True, False]
    assert [s.through for s in head.after(20)] == [30]
    assert [s.through for s in head.after(15)] == [20, 30]


def test_retention_drops_old_segments_and_moves_complete_from_past_them() -> None:
    old, mid, new = Segment(5, 10, 1, NOW - 9 * DAY), Segment(10, 20, 1, NOW - 8 * DAY), Segment(20, 30, 1, NOW)
    kept, dropped = feedformat.retain([old, mid, new], 5, NOW, keep_days=7)
    assert dropped == [old, mid] and kept.segments == (new,) and kept.complete_from == 20
    kept, dropped = feedformat.retain([old, mid, new], 5, NOW, keep_days=30)
    assert dropped == [] and kept.complete_from == 5


def test_retention_keeps_at_most_max_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feedformat, "MAX_SEGMENTS", 2)
    segments = [Segment(n, n + 1, 1, NOW) for n in range(4)]
    kept, dropped = feedformat.retain(segments, 0, NOW, keep_days=7)
    assert [s.through for s in kept.segments] == [3, 4] and kept.complete_from == 2 and len(dropped) == 2


def test_the_last_event_of_each_project_wins() -> None:
    events = [Event("Foo", 11), Event("bar", 12, removed=True), Event("foo", 13, removed=True), Event("Bar", 14)]
    latest = feedformat.latest(events)
    assert latest == {"foo": Event("foo", 13, removed=True), "bar": Event("Bar", 14)}


def test_the_queue_has_every_allowed_change_and_the_held_removals() -> None:
    changes = feedreader.Changes(
        40, (ListingEntry("Foo", 12), ListingEntry("blocked", 39)), ("gone", "never-held", "blocked-gone")
    )
    held = {"gone", "blocked-gone", "seen-gone", "foo"}
    found = feedreader.queue(changes, held.__contains__, {"seen-gone": NOW, "foo": NOW}, lambda n: "blocked" not in n)
    # Foo changed at an old serial (a retried failure upstream): still queued. foo was seen gone but is back.
    assert found.queue == (ListingEntry("Foo", 12), ListingEntry("gone", 0), ListingEntry("seen-gone", 0))
    assert found.vanished == ("gone", "seen-gone")


# The publisher, on the in-memory bench.


def feed_head(bench: Bench) -> Head:
    return feedformat.parse_head(bench.read(feedformat.HEAD_KEY))


async def test_the_first_run_starts_the_feed_and_later_runs_add_one_segment_each(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake), feed="true")
    await bench.mirror()
    started = feed_head(bench)
    assert (started.serial, started.complete_from, started.segments) == (fake.serial, fake.serial, ())

    fake.add("yanky", "2.0", make_wheel("yanky", "2.0"))
    bench.index = mem_index(fake)
    await bench.mirror()
    head = feed_head(bench)
    (segment,) = head.segments
    assert (segment.after, segment.through, head.serial) == (started.serial, fake.serial, fake.serial)
    assert feedformat.parse_segment(bench.read(f"web/feed/{segment.path}"), segment) == (Event("yanky", fake.serial),)

    await bench.mirror()  # nothing changed: no segment, the same serial
    assert feed_head(bench).segments == (segment,)


async def test_a_feed_that_does_not_end_where_the_mirror_starts_starts_again(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake), feed="true")
    await bench.mirror()
    fake.add("yanky", "2.0", make_wheel("yanky", "2.0"))
    bench.index = mem_index(fake)
    await bench.mirror()
    # As after a restore from an older backup: the feed claims serials the mirror is not at.
    await bench.store.write(feedformat.HEAD_KEY, feedformat.render_head(Head(3, 1, (), NOW)))
    fake.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    bench.index = mem_index(fake)
    await bench.mirror()
    head = feed_head(bench)
    assert (head.serial, head.complete_from, head.segments) == (fake.serial, fake.serial, ())
    assert not bench.stored(feedformat.SEGMENTS_DIR)


async def test_changes_without_a_new_serial_wait_for_the_next_segment(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake), feed="true")
    await bench.mirror()
    async with bench.opened() as (mirror, _upstream):
        from frumious import feed

        serial = feed_head(bench).serial
        await feed.publish(mirror, serial, serial, [Event("later", 2)], NOW)
        assert feed_head(bench).segments == ()
        await feed.publish(mirror, serial, serial + 1, [Event("now", serial + 1)], NOW)
    (segment,) = feed_head(bench).segments
    events = feedformat.parse_segment(bench.read(f"web/feed/{segment.path}"), segment)
    assert events == (Event("later", 2), Event("now", serial + 1))
    assert feedformat.PENDING_KEY not in bench.stored()


async def test_a_feed_is_not_published_unless_asked(tmp_path: Path) -> None:
    bench = Bench.create(tmp_path, mem_index(default_index()))
    await bench.mirror()
    assert not bench.stored("web/feed")


async def test_an_upstream_without_a_feed_is_asked_again_only_a_day_later(tmp_path: Path) -> None:
    fake = default_index()
    bench = Bench.create(tmp_path, mem_index(fake))
    await bench.mirror()  # a first run reads the listing, and learns there is no feed
    assert [url for url in bench.requests if "/feed/" in url] == [f"{bench.index.base}/feed/head.json"]
    await bench.mirror()
    assert not [url for url in bench.requests if "/feed/" in url]
    await bench.store.write(feedformat.PROBE_KEY, str(NOW - 2 * DAY).encode())
    await bench.mirror()
    assert [url for url in bench.requests if "/feed/" in url] == [f"{bench.index.base}/feed/head.json"]


def test_documents_match_the_published_schema() -> None:
    import jsonschema  # a test dependency (pyproject: test extra)

    schema = json.loads((Path(__file__).parents[2] / "docs" / "feed.schema.json").read_text())
    segment = Segment(10, 20, 2, NOW)
    for body in (
        feedformat.render_head(head_of(segment)),
        feedformat.render_segment(segment, [Event("a", 11), Event("b", 20, removed=True)]),
    ):
        jsonschema.validate(json.loads(body), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"format": "frumious.feed/1", "serial": -1}, schema)
