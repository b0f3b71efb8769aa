"""Text for humans: the live progress line and the end-of-run summary.

Pure formatting over ``RunStats``; the CLI decides where the text goes.
"""

from __future__ import annotations

from frumious.stats import RunStats


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


def progress_line(stats: RunStats, elapsed: float) -> str:
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
    stats: RunStats, seconds: float, serial: int | None, *, stopped_early: bool = False, refused: str | None = None
) -> list[str]:
    """The end-of-run summary; ``serial`` None when the run stopped before it could advance it.

    ``refused`` is the plan's refusal (the safety valve), when it refused the run's removals.
    """
    lines = [
        f"Projects: {stats.synced} synced, {len(stats.failed)} failed, {stats.skipped} skipped by filters,"
        f" {len(stats.gone)} gone upstream{no_releases(stats)}",
        f"Files: {stats.files_downloaded} downloaded ({human_bytes(stats.bytes_downloaded)}),"
        f" {stats.files_done - stats.files_downloaded} already current",
        f"Time: {human_seconds(seconds)}; " + ("status unchanged" if serial is None else f"serial now {serial}"),
    ]
    if stats.removed_projects or stats.removed:
        lines.append(f"Removed: {len(stats.removed_projects)} project(s), {len(stats.removed)} object(s)")
        lines.extend(f"  removed project {name}" for name in sorted(stats.removed_projects))
    if stats.would_prune:
        lines.append(f"Excluded by filters but kept (prune-filtered = false): {len(stats.would_prune)}")
    lines.extend(kept_without_releases(stats))
    if refused:
        lines.append(f"Refused: {refused}")
    if stopped_early:
        lines.append("Stopped at the first error (stop-on-error = true)")
    failed = {name: reason for name, reason in stats.failed.items() if name not in stats.quarantined}
    if failed:
        lines.append(_failed_heading(stopped_early, refused))
        lines.extend(f"  {name}: {reason}" for name, reason in sorted(failed.items()))
    if stats.quarantined:
        lines.append("Quarantined projects (failing run after run; retried with backoff, holding nothing back):")
        for name, why in sorted(stats.quarantined.items()):
            reason = stats.failed.get(name)
            lines.append(f"  {name}: {why}" + (f" (this run: {reason})" if reason else ""))
    return lines


def _failed_heading(stopped_early: bool, refused: str | None) -> str:
    """What the failures cost the rest of the run: only a run that went on mirrored everything else."""
    if stopped_early:
        return "Failed projects (the run stopped at the first failure; the next run resumes and retries them):"
    if refused:
        return "Failed projects (retried next run; the refused removals above were not made):"
    return "Failed projects (retried next run; everything else was mirrored):"


def stopped_summary(stats: RunStats, seconds: float) -> list[str]:
    """The summary of a run a refused write (full or read-only disk) stopped."""
    stop = "Stopped: the mirror's storage refused a write (see the error above); the next run resumes from here"
    return [*summary(stats, seconds, None), stop]


def no_releases(stats: RunStats) -> str:
    """A suffix for the Projects line: listed projects with no releases are neither synced nor failed."""
    return f", {len(stats.no_releases)} listed with no releases" if stats.no_releases else ""


def kept_without_releases(stats: RunStats) -> list[str]:
    if not stats.no_releases_kept:
        return []
    kept = sorted(stats.no_releases_kept.items())
    heading = "Listed upstream with no releases; their mirrored files are kept (frumious delete removes them):"
    return [heading, *(f"  kept {name}: {count} file(s)" for name, count in kept)]
