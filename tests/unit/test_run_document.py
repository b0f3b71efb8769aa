"""The run report's pure part: typed reports in, the documented dict out (``cli.runfile.document``)."""

from __future__ import annotations

from frumious.cli.runfile import SCHEMA, document, iso
from frumious.delete import DeleteReport
from frumious.runreport import SyncReport
from frumious.stats import Progress


def test_lag_is_upstream_minus_the_serial_after() -> None:
    counters = Progress(requests=7, retries=2)
    report = SyncReport(serial=90, serial_before=80, upstream_serial=100, failed={"b": "HTTP 500", "a": "HTTP 403"})
    doc = document("mirror", report, counters, exit_status=1, outcome="failed", started=0.0, finished=61.5)
    assert doc["schema"] == SCHEMA == "frumious.report/1"
    assert doc["serial"] == {"before": 80, "after": 90, "upstream": 100, "lag": 10}
    assert list(doc["projects"]["failed"]) == ["a", "b"]
    assert (doc["requests"], doc["retries"], doc["seconds"]) == (7, 2, 61.5)
    assert (doc["started"], doc["finished"]) == ("1970-01-01T00:00:00Z", "1970-01-01T00:01:01Z")


def test_delete_reports_what_it_removed_and_no_serial() -> None:
    report = DeleteReport(
        removed=["web/simple/foo/index.html", "web/packages/aa/foo-1.tar.gz"], removed_projects=["foo"]
    )
    doc = document("delete", report, Progress(), exit_status=0, outcome="ok", started=1.0, finished=2.0)
    assert doc["projects"]["removed"] == ["foo"]
    assert doc["files"]["removed"] == 2
    assert doc["serial"]["lag"] is None


def test_iso_is_utc_with_a_z() -> None:
    assert iso(1_700_000_000) == "2023-11-14T22:13:20Z"
