"""The progress line and the run summary."""

from __future__ import annotations

from frumious.cli.progress import human_bytes, human_seconds, progress_line, summary
from frumious.runreport import SyncReport
from frumious.stats import Progress


def test_progress_line_shows_counts_bytes_rate_and_eta() -> None:
    stats = Progress(projects_total=100, projects_done=25, files_total=80, files_done=40, bytes_downloaded=10 * 2**20)
    line = progress_line(stats, elapsed=10.0)
    assert "projects 25/100" in line and "files 40/80" in line
    assert "10.0 MiB" in line and "1.0 MiB/s" in line
    assert "ETA 30s" in line


def test_summary_names_each_failure() -> None:
    stats = SyncReport(
        synced=["a", "b", "c"], failed={"bad": "HTTP 500", "worse": "digest mismatch"}, progress=Progress(files_done=2)
    )
    lines = summary(stats, 61, 99)
    assert lines[0].startswith("Projects: 3 synced, 2 failed")
    assert "  bad: HTTP 500" in lines and "  worse: digest mismatch" in lines
    assert any("1m01s" in line and "serial now 99" in line for line in lines)


def test_human_units() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_seconds(3725) == "1h02m"


def test_the_failed_heading_says_what_happened_to_the_rest() -> None:
    stats = SyncReport(failed={"bad": "HTTP 500"})
    assert "everything else was mirrored" in "\n".join(summary(stats, 1, 9))
    stopped = "\n".join(summary(stats, 1, None, stopped_early=True))
    assert "everything else" not in stopped and "stopped at the first failure" in stopped
    refused = "\n".join(summary(stats, 1, None, refused="refusing to remove 3 of 4 projects in one run"))
    assert "everything else" not in refused and "refused removals" in refused


def test_a_sigterm_while_the_summary_prints_just_ends_a_finished_run(capsys) -> None:
    import os
    import signal
    from types import SimpleNamespace

    from frumious.cli import running

    seen: list[int] = []

    async def job(counters: Progress) -> SimpleNamespace:
        return SimpleNamespace(ok=True)

    def summarize(report: SimpleNamespace) -> list[str]:
        os.kill(os.getpid(), signal.SIGTERM)  # a late signal: the run has finished
        return ["done"]

    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        assert running.run_with_progress(job, summarize) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [signal.SIGTERM]
    assert "stopped" not in capsys.readouterr().err
