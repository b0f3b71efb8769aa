"""The summary each command prints at the end of a run: what it did, and every project that failed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from frumious.cli import progress
from frumious.stats import Report

if TYPE_CHECKING:  # the cores are imported when a command runs, not when the CLI starts
    from frumious.delete import DeleteReport
    from frumious.publish import PublishReport
    from frumious.record.rebuild import Rebuilt
    from frumious.runreport import DryRun, SyncReport
    from frumious.shardorphans import OrphanReport
    from frumious.shardshare import Share, ShareReport
    from frumious.verify import VerifyReport


def mirror_summary(report: SyncReport) -> list[str]:
    return progress.summary(
        report, report.seconds, report.serial, stopped_early=report.stopped_early, refused=report.refused
    )


def dry_run_summary(report: DryRun) -> list[str]:
    """The plan of ``mirror --dry-run``, one project a line under each heading."""
    plan = report.plan
    lines = [f"[dry run] Nothing was changed; the mirror is at serial {report.serial}"]
    if plan.resumed:
        lines.append("Would resume an interrupted run")
    elif plan.listing_unchanged:
        lines.append("The upstream listing is unchanged")
    lines.append(f"Would fetch: {len(plan.queue)} project(s), heading for serial {plan.target}")
    lines.extend(f"  {entry.name} (serial {entry.serial})" for entry in plan.queue)
    verb = "Would prune (now excluded by filters)" if report.prune_filtered else "Excluded by filters, kept"
    lines.append(f"{verb}: {len(plan.excluded)} project(s)")
    lines.extend(f"  {name}" for name in plan.excluded)
    lines.append(f"Would remove once upstream confirms they are gone: {len(plan.confirmable)} project(s)")
    lines.extend(f"  {name}" for name in plan.confirmable)
    lines.extend(f"Waiting (quarantined): {failure.name}" for failure in plan.waiting)
    lines.extend(f"Skipped (invalid serial upstream): {name}" for name in plan.invalid)
    if plan.refused:
        lines.append(f"Refused: {plan.refused}")
    if report.share is not None:
        lines.append(share_line(report.share))
    return lines


def share_line(share: Share) -> str:
    """One shard's share: its listed projects of the whole listing, and what its record holds."""
    listed = f"Shard {share.shard}: {share.listed:,} of {share.listed_total:,} listed projects ({share.percent:.1f}%)"
    if share.holds is None:
        return f"{listed}; holds nothing yet (its files are known once its projects' pages are read)"
    return f"{listed}; holds {share.holds.files:,} files, {progress.human_bytes(share.holds.bytes)}"


def shares_summary(report: ShareReport) -> list[str]:
    """``mirror --dry-run --shards N``: every shard's share, then the largest against the mean."""
    lines = [f"[dry run] Nothing was changed; the shares of {len(report.shares)} shard(s):"]
    lines.extend(f"  {share_line(share)}" for share in report.shares)
    sizes = [share.holds.bytes if share.holds else 0 for share in report.shares]
    if sum(sizes):
        mean = sum(sizes) / len(sizes)
        lines.append(f"Largest shard by bytes: {max(sizes) / mean:.2f} x the mean")
    return lines


def _failures(report: Report, heading: str) -> list[str]:
    if not report.failed:
        return []
    return [heading, *(f"  {name}: {reason}" for name, reason in sorted(report.failed.items()))]


def sync_summary(report: SyncReport) -> list[str]:
    lines = [
        f"Projects: {len(report.synced)} synced, {len(report.failed)} failed,"
        f" {len(report.skipped)} skipped by metadata filters" + progress.no_releases(report),
        progress.files_line(report.progress),
        f"Time: {progress.human_seconds(report.seconds)}; status left at serial {report.serial}",
    ]
    lines.extend(progress.kept_without_releases(report))
    if report.excluded:
        lines.append(f"Excluded by project filters, not synced: {', '.join(report.excluded)}")
    if report.stopped_early:
        lines.append("Stopped at the first error (stop-on-error = true)")
    return lines + _failures(report, "Failed projects:")


def verify_summary(report: VerifyReport) -> list[str]:
    counted = report.progress
    dry = "[dry run] " if report.options.dry_run else ""
    lines = []
    if report.resumed_after:
        lines.append(f"Resumed after {report.resumed_after}: {report.already_checked} project(s) were already checked")
    lines.append(f"Checked: {counted.projects_done} project(s), {counted.files_done} file(s)")
    lines.append(f"{dry}Bad or missing: {len(report.bad)}")
    if report.options.dry_run:
        lines.extend(f"  would download {key} ({problem})" for key, problem in sorted(report.bad.items()))
    else:
        size = progress.human_bytes(counted.bytes_downloaded)
        lines.append(f"Repaired: {len(report.repaired)} file(s) downloaded again ({size})")
    if report.options.json_update and not report.options.dry_run:
        lines.append(f"JSON refreshed: {report.json_updated}; gone upstream (kept): {len(report.gone)}")
    if report.options.delete:
        verb = "would remove" if report.options.dry_run else "removed"
        lines.append(f"{dry}Unowned files: {len(report.orphans)}")
        lines.extend(f"  {verb} {key}" for key in report.orphans)
    lines.append(f"Time: {progress.human_seconds(report.seconds)}")
    return lines + _failures(report, "Failed projects:")


def delete_summary(report: DeleteReport) -> list[str]:
    if report.dry_run:
        lines = [f"[dry run] Would remove {len(report.planned)} project(s)"]
        for name, keys in sorted(report.planned.items()):
            lines.append(f"  {name}: {len(keys)} object(s)")
            lines.extend(f"    {key}" for key in keys)
    else:
        lines = [f"Removed: {len(report.removed_projects)} project(s), {len(report.removed)} object(s)"]
        lines.extend(f"  removed project {name}" for name in sorted(report.removed_projects))
    return lines + _failures(report, "Not deleted:")


def reindex_summary(report: Rebuilt) -> list[str]:
    lines = [f"Recorded: {report.projects} project(s), {report.files} file(s) in {report.seconds:.1f}s"]
    if report.unparsed:
        lines.append("Pages that could not be read (their files are kept; run 'frumious sync NAME' for each):")
        lines.extend(f"  {name}" for name in report.unparsed)
    return lines


def publish_summary(report: PublishReport) -> list[str]:
    """What ``publish`` published, and each shard that held it back."""
    if report.serial is None:
        head = f"Published nothing: not every one of the {report.shards} shard(s) has finished a run"
    elif not report.wrote:
        head = f"Nothing new to publish; the mirror is at serial {report.serial}"
    else:
        head = f"Published serial {report.serial} from {report.shards} shard(s): {report.projects} project(s)"
    if report.waited:
        head += f" (waited {report.waited:.0f}s for the shards)"
    lines = [head, *(f"  shard {name} {why}" for name, why in report.behind.items())]
    if report.idle and report.wrote:
        lines.append(f"  no run since the last publish: shard {', '.join(report.idle)}")
    return lines


def orphans_summary(report: OrphanReport) -> list[str]:
    """``publish --orphans``: each file no shard owns, listed or removed."""
    verb = "removed" if report.delete else "unowned"
    owned = f"{report.owned} owned by {report.shards} shard(s)"
    lines = [f"Files under web/packages no shard owns: {len(report.orphans)} ({owned})"]
    removed = set(report.removed)
    lines.extend(f"  {verb if key in removed or not report.delete else 'kept'} {key}" for key in report.orphans)
    if report.delete:
        lines.append(f"Removed: {len(report.removed)} file(s)")
    return lines
