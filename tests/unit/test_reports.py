"""Every command's report shares one base: started, finished, seconds, failures, ok."""

from __future__ import annotations

import pytest

from frumious.delete import DeleteReport
from frumious.plan import Plan
from frumious.record.rebuild import Rebuilt
from frumious.runreport import DryRun, SyncReport
from frumious.stats import Report
from frumious.verify import VerifyOptions, VerifyReport


@pytest.mark.parametrize(
    "report",
    [
        SyncReport(started=10.0, finished=12.5),
        VerifyReport(VerifyOptions(), started=10.0, finished=12.5),
        DeleteReport(started=10.0, finished=12.5),
        Rebuilt(started=10.0, finished=12.5),
        DryRun(3, Plan((), 3, False), False, started=10.0, finished=12.5),
    ],
    ids=lambda report: type(report).__name__,
)
def test_every_report_shares_the_base(report: Report) -> None:
    assert isinstance(report, Report)
    assert report.seconds == 2.5
    assert report.ok and report.failed == {}


def test_a_failure_makes_a_report_not_ok_except_a_dry_run() -> None:
    failed = {"bad": "HTTP 500"}
    assert not SyncReport(failed=failed).ok
    assert not VerifyReport(VerifyOptions(), failed=failed).ok
    assert not DeleteReport(failed=failed).ok
    assert DryRun(0, Plan((), 0, False), False, failed=failed).ok


def test_a_refused_plan_makes_the_sync_report_not_ok() -> None:
    assert not SyncReport(refused="refusing to remove 9 of 10 projects in one run").ok
