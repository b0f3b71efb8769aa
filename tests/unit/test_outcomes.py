"""Per-project outcomes are return values, aggregated into the run's report; a stopped run keeps its report."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from frumious import sync
from frumious.cli import progress
from frumious.cli.compose import locked_store
from frumious.config import loads
from frumious.errors import ResourceError
from frumious.filters import load_filters
from frumious.mirror import Mirror
from frumious.models import ListingEntry
from frumious.record import rebuild
from frumious.runreport import Kind, Outcome, SyncReport
from frumious.stats import Progress, RunStopped, stops_with
from frumious.testing.memhttp import BASE, MemHTTP, MemIndex
from frumious.upstream import Upstream


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome("Alpha", Kind.SYNCED), {"synced": ["Alpha"]}),
        (Outcome("b", Kind.SKIPPED), {"skipped": ["b"]}),
        (Outcome("c", Kind.GONE), {"gone": ["c"]}),
        (Outcome("d", Kind.FAILED, "HTTP 500"), {"failed": {"d": "HTTP 500"}}),
        (Outcome("e", Kind.NO_RELEASES), {"no_releases": ["e"]}),
        (Outcome("f", Kind.NO_RELEASES, kept=3), {"no_releases": ["f"], "no_releases_kept": {"f": 3}}),
        (
            Outcome("g", Kind.SYNCED, removed=("web/packages/g-1.tar.gz",), would_prune=("web/packages/g-0.whl",)),
            {"synced": ["g"], "removed": ["web/packages/g-1.tar.gz"], "would_prune": ["web/packages/g-0.whl"]},
        ),
    ],
    ids=lambda value: value.kind.name if isinstance(value, Outcome) else "",
)
def test_an_outcome_lands_in_its_place_in_the_report(outcome: Outcome, expected: dict[str, object]) -> None:
    report = SyncReport()
    report.add(ListingEntry(outcome.name, 7), outcome)
    fields = ("synced", "skipped", "gone", "failed", "no_releases", "no_releases_kept", "removed", "would_prune")
    for name in fields:
        empty: object = {} if isinstance(getattr(report, name), dict) else []
        assert getattr(report, name) == expected.get(name, empty), name
    assert report.ok is (outcome.kind is not Kind.FAILED)


def test_only_failed_and_gone_projects_hold_the_serial_back() -> None:
    report = SyncReport()
    entries = {kind: ListingEntry(f"P-{kind.name}", 7) for kind in Kind}
    for kind, entry in entries.items():
        report.add(entry, Outcome(entry.name, kind))
    assert report.retry == {"p-failed": entries[Kind.FAILED]}
    assert report.gone == ["P-GONE"]
    assert report.reached == {"p-synced", "p-skipped", "p-no-releases"}


def test_outcomes_are_frozen() -> None:
    with pytest.raises(AttributeError):
        Outcome("a", Kind.SYNCED).kind = Kind.FAILED  # type: ignore[misc]


def test_a_refused_disk_becomes_run_stopped_with_the_report_so_far() -> None:
    report = SyncReport(synced=["a"])
    with pytest.raises(RunStopped) as caught, stops_with(report):
        raise ExceptionGroup("workers", [ResourceError(errno.ENOSPC, "/m/web/x")])
    assert caught.value.report is report and report.finished > 0
    assert isinstance(caught.value.cause, ResourceError) and caught.value.exit_code == 1
    assert str(caught.value) == str(caught.value.cause)


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(ValueError), stops_with(SyncReport()):
        raise ValueError("not the disk")


async def mirror_run(directory: Path, client: MemHTTP) -> SyncReport:
    config = loads(f"[mirror]\ndirectory = {directory}\nmaster = {BASE}\nworkers = 2\n")
    async with (
        locked_store(config) as store,
        rebuild.current_record(store, config.mirror) as record,
        Upstream(config.mirror.master, client) as upstream,
    ):
        return await sync.mirror(upstream, Mirror(store, record, config.mirror), load_filters(config), Progress())


async def test_a_stopped_mirror_run_still_names_what_it_did(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk refuses the root index after both projects synced: the summary counts them, status unchanged."""
    index = MemIndex()
    index.add("Alpha", "1.0", {"alpha-1.0.tar.gz": b"alpha one"})
    index.add("beta", "2.0", {"beta-2.0.tar.gz": b"beta two"})

    async def refused(self: Mirror, serial: int) -> None:
        raise ResourceError(errno.ENOSPC, str(tmp_path / "mirror/web/simple/index.html"))

    monkeypatch.setattr(Mirror, "write_root_index", refused)
    with pytest.raises(RunStopped) as caught:
        await mirror_run(tmp_path / "mirror", MemHTTP(index))
    report = caught.value.report
    assert isinstance(report, SyncReport)
    assert sorted(report.synced) == ["alpha", "beta"]
    assert report.progress.files_downloaded == 2
    lines = progress.stopped_summary(report, 1.0)
    assert lines[0].startswith("Projects: 2 synced, 0 failed")
    assert lines[1].startswith("Files: 2 downloaded")
    assert "status unchanged" in lines[2] and lines[-1].startswith("Stopped:")


def test_the_stopped_summary_of_verify_or_delete_counts_what_they_removed() -> None:
    from frumious.delete import DeleteReport

    report = DeleteReport(removed=["web/json/a"], removed_projects=["a"], failed={"b": "not in the mirror"})
    report.progress = Progress(projects_done=2)
    lines = progress.stopped_summary(report, 1.0)
    assert lines[0].startswith("Projects: 0 synced, 1 failed")
    assert "Removed: 1 project(s), 1 object(s)" in lines and "  removed project a" in lines
