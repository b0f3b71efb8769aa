"""What a finished run carries to the next: failures (with quarantine backoff) and serial checks."""

from __future__ import annotations

import pytest

from frumious import retries
from frumious.cli.progress import summary
from frumious.models import ListingEntry
from frumious.plan import reconcile
from frumious.protocol import pagelinks, parse, statefiles
from frumious.retries import Failure
from frumious.runreport import SyncReport


def test_failures_round_trip() -> None:
    failures = {"foo-bar": Failure("Foo.Bar", 40, 2, 1234.0), "b": Failure("b", 7, 1, 0.0)}
    assert retries.parse_failures(retries.render_failures(failures).decode()) == failures


def test_malformed_failure_lines_are_dropped() -> None:
    text = "ok 1 1 0\nshort 1\nbad x 1 0\nhuge 99999999999999999999 1 0\nwhen 1 1 soon\n"
    assert list(retries.parse_failures(text)) == ["ok"]


def test_backoff_starts_at_quarantine_doubles_and_stops_at_a_day() -> None:
    assert [retries.backoff(n, 3) for n in (1, 2)] == [0.0, 0.0]
    assert [retries.backoff(n, 3) for n in (3, 4, 5)] == [3600.0, 7200.0, 14400.0]
    assert retries.backoff(1000, 3) == 86400.0


def test_after_failure_counts_and_keeps_the_newest_serial() -> None:
    first = retries.after_failure(None, ListingEntry("a", 10), now=100.0, after=2)
    assert first == Failure("a", 10, 1, 0.0)
    second = retries.after_failure(first, ListingEntry("a", 5), now=100.0, after=2)
    assert second == Failure("a", 10, 2, 3700.0)
    assert second.quarantined(2) and not first.quarantined(2)


def test_requeue_adds_due_failures_and_holds_back_waiting_ones() -> None:
    queue = [ListingEntry("Listed", 9), ListingEntry("waiting", 12)]
    failures = {
        "due": Failure("due", 4, 1),
        "listed": Failure("listed", 11, 1),
        "waiting": Failure("waiting", 8, 3, retry_at=500.0),
    }
    requeued = retries.requeue(queue, failures, now=100.0)
    assert requeued.queue == (ListingEntry("due", 4), ListingEntry("Listed", 11))
    # The listing moved it again while it waits: the newer serial is kept in its record.
    assert requeued.waiting == (Failure("waiting", 12, 3, 500.0),)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        (str(2**63 - 1), 2**63 - 1),
        (str(2**63), None),
        ("9" * 5000, None),
        ("-1", None),
        ("", None),
    ],
)
def test_serial_from_text(text: str, value: int | None) -> None:
    assert parse.serial_from_text(text) == value


def test_listing_entries_beyond_the_root_serial_are_invalid_not_gone() -> None:
    body = (
        b'{"meta": {"_last-serial": 10}, "projects": [{"name": "ok", "_last-serial": 9},'
        b' {"name": "poisoned", "_last-serial": 1000000000000}, {"name": "huge", "_last-serial": '
        + b"9" * 5000
        + b"}]}"
    )
    listing = parse.read_listing(body)
    assert listing.entries == [ListingEntry("ok", 9)]
    assert sorted(listing.invalid) == ["huge", "poisoned"]
    assert listing.serial == 10


def test_the_header_is_the_ceiling_when_meta_has_no_serial() -> None:
    body = b'{"meta": {}, "projects": [{"name": "a", "_last-serial": 5}, {"name": "b", "_last-serial": 50}]}'
    assert parse.read_listing(body, 20).invalid == ("b",)
    assert parse.read_listing(body).invalid == ()


def _upstream_page(body: bytes) -> pagelinks.Page:
    return pagelinks.read_page(body, json_page=True, strict=False)


def test_project_page_serial_refuses_absurd_values() -> None:
    assert _upstream_page(b'{"meta": {"_last-serial": 7}}').serial == 7
    assert _upstream_page(b'{"meta": {"_last-serial": ' + b"9" * 5000 + b"}}").serial is None
    assert _upstream_page(b'{"meta": {"_last-serial": "' + b"9" * 5000 + b'"}}').serial is None
    assert _upstream_page(b'{"meta": {"_last-serial": 9223372036854775808}}').serial is None


def test_a_project_page_counts_its_files_only_when_it_is_a_pep_691_page() -> None:
    assert _upstream_page(b'{"meta": {"_last-serial": 3}, "files": []}').listed == 0
    assert _upstream_page(b'{"meta": {"_last-serial": 3}, "files": []}').serial == 3
    assert _upstream_page(b'{"files": [{}, {}]}').listed == 2
    assert _upstream_page(b'{"files": {}}').listed is None
    assert _upstream_page(b"<html><body></body></html>") == pagelinks.Page([])
    assert _upstream_page(b"[]") == pagelinks.Page([])


def test_todo_with_an_out_of_range_serial_is_unusable() -> None:
    assert statefiles.parse_todo(f"{2**63}\nfoo 1") is None
    assert statefiles.parse_todo(f"5\nfoo {2**63}") is None


def test_target_never_passes_the_ceiling() -> None:
    entries = [ListingEntry("a", 5), ListingEntry("b", 50)]
    assert statefiles.target_serial(3, entries) == 50
    assert statefiles.target_serial(3, entries, 20) == 20
    assert statefiles.target_serial(30, entries, 20) == 30


def test_unsynced_listed_names_are_not_vanished() -> None:
    found = reconcile([], {"poisoned"}, lambda _name: True, serial=5, filters_changed=False, unsynced=["Poisoned"])
    assert found.vanished == () and found.queue == ()


def test_summary_separates_quarantined_from_failed() -> None:
    stats = SyncReport(failed={"bad": "HTTP 500", "stuck": "HTTP 500"}, quarantined={"stuck": "failed 3 runs in a row"})
    lines = summary(stats, 1, 9)
    assert "Failed projects (retried next run; everything else was mirrored):" in lines
    assert "  bad: HTTP 500" in lines
    assert any(line.startswith("Quarantined") for line in lines)
    assert "  stuck: failed 3 runs in a row (this run: HTTP 500)" in lines
