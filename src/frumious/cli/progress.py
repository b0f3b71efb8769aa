"""Text for humans: the live progress line and the end-of-run summary.

Pure formatting over the live ``Progress`` and the run's report; the CLI decides where the text goes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from frumious.stats import Progress, Report

if TYPE_CHECKING:  # the core is imported when a run stops, not when the CLI starts
    from frumious.runreport import SyncReport


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"


def human_seconds(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def progress_line(stats: Progress, elapsed: float) -> str:
    done, total = stats.projects_done, stats.projects_total
    rate = stats.bytes_downloaded / elapsed if elapsed > 0 else 0.0
    eta = ""
    if 0 < done < total:
        eta = f" · ETA {human_seconds(elapsed / done * (total - done))}"
    return (
        f"projects {done}/{total} · files {stats.files_done}/{stats.files_total}"
        f" · {human_bytes(stats.bytes_downloaded)} · {human_bytes(rate)}/s{eta}"
    )


def summary(
    report: SyncReport, seconds: float, serial: int | None, *, stopped_early: bool = False, refused: str | None = None
) -> list[str]:
    """The end-of-run summary; ``serial`` None when the run stopped before it could advance it.

    ``refused`` is the plan's refusal (the safety valve), when it refused the run's removals.
    """
    lines = [
        f"Projects: {len(report.synced)} synced, {len(report.failed)} failed, {len(report.skipped)} skipped by filters,"
        f" {len(report.gone)} gone upstream{no_releases(report)}",
        files_line(report.progress),
        f"Time: {human_seconds(seconds)}; " + ("status unchanged" if serial is None else f"serial now {serial}"),
    ]
    if report.removed_projects or report.removed:
        lines.append(f"Removed: {len(report.removed_projects)} project(s), {len(report.removed)} object(s)")
        lines.extend(f"  removed project {name}" for name in sorted(report.removed_projects))
    if report.would_prune:
        lines.append(f"Excluded by filters but kept (prune-filtered = false): {len(report.would_prune)}")
    lines.extend(kept_without_releases(report))
    if report.holes:
        lines.append(f"Dependency closure holes (needed but not mirrored): {len(report.holes)}")
        lines.extend(f"  {hole}" for hole in report.holes)
    if refused:
        lines.append(f"Refused: {refused}")
    if stopped_early:
        lines.append("Stopped at the first error (stop-on-error = true)")
    failed = {name: reason for name, reason in report.failed.items() if name not in report.quarantined}
    if failed:
        lines.append(_failed_heading(stopped_early, refused))
        lines.extend(f"  {name}: {reason}" for name, reason in sorted(failed.items()))
    if report.quarantined:
        lines.append("Quarantined projects (failing run after run; retried with backoff, holding nothing back):")
        for name, why in sorted(report.quarantined.items()):
            reason = report.failed.get(name)
            lines.append(f"  {name}: {why}" + (f" (this run: {reason})" if reason else ""))
    return lines


def _failed_heading(stopped_early: bool, refused: str | None) -> str:
    """What the failures cost the rest of the run: only a run that went on mirrored everything else."""
    if stopped_early:
        return "Failed projects (the run stopped at the first failure; the next run resumes and retries them):"
    if refused:
        return "Failed projects (retried next run; the refused removals above were not made):"
    return "Failed projects (retried next run; everything else was mirrored):"


def files_line(progress: Progress) -> str:
    return (
        f"Files: {progress.files_downloaded} downloaded ({human_bytes(progress.bytes_downloaded)}),"
        f" {progress.files_done - progress.files_downloaded} already current"
    )


def stopped_summary(report: Report | None, seconds: float) -> list[str]:
    """The summary of a run a refused write (full or read-only disk) stopped: what it did before.

    ``report`` is the partial report the stopped command carried (None when it stopped outside one).
    """
    from frumious.runreport import SyncReport

    if not isinstance(report, SyncReport):
        # verify, delete and reindex stop with the same lines: what they removed, failed or found gone.
        report = SyncReport(
            failed=report.failed if report else {},
            progress=report.progress if report else Progress(),
            gone=list(getattr(report, "gone", [])),
            removed=list(getattr(report, "removed", [])),
            removed_projects=list(getattr(report, "removed_projects", [])),
        )
    stop = "Stopped: the mirror's storage refused a write (see the error above); the next run resumes from here"
    return [*summary(report, seconds, None), stop]


def no_releases(report: SyncReport) -> str:
    """A suffix for the Projects line: listed projects with no releases are neither synced nor failed."""
    return f", {len(report.no_releases)} listed with no releases" if report.no_releases else ""


def kept_without_releases(report: SyncReport) -> list[str]:
    if not report.no_releases_kept:
        return []
    kept = sorted(report.no_releases_kept.items())
    heading = "Listed upstream with no releases; their mirrored files are kept (frumious delete removes them):"
    return [heading, *(f"  kept {name}: {count} file(s)" for name, count in kept)]
