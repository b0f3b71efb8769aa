"""Subcommands beyond ``mirror``: ``sync``, ``verify``, ``delete`` and ``reindex``.

Registered on the CLI's parser and dispatched here; each runs under the mirror
lock with the index open, shows the live progress line on a terminal and ends
with a summary that names whatever failed.
"""

from __future__ import annotations

import argparse
from typing import Any

from frumious.cli import progress
from frumious.cli.running import run_with_progress
from frumious.settings import Settings
from frumious.stats import RunStats

MAX_WORKERS = 64


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_WORKERS}")
    return value


def register(commands: Any) -> None:
    """Add the subcommands' parsers to ``commands`` (an argparse subparsers action)."""
    sync = commands.add_parser("sync", help="mirror just the named projects, whatever the serial")
    sync.add_argument("names", nargs="+", metavar="NAME", help="project to sync")
    sync.add_argument("--skip-simple-root", action="store_true", help="do not rewrite the root index")
    sync.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="let a project drop more than max-delete-file-share of its files",
    )

    verify = commands.add_parser("verify", help="re-check every mirrored file and repair what is bad")
    verify.add_argument("--delete", action="store_true", help="also remove files no project owns")
    verify.add_argument("--dry-run", action="store_true", help="change nothing; report what would be done")
    verify.add_argument("--json-update", action="store_true", help="refresh web/json from upstream")
    verify.add_argument("--workers", type=_workers, default=0, help="projects checked at once (0: [mirror] verifiers)")
    verify.add_argument("--restart", action="store_true", help="start from the top, not after an interrupted verify")

    delete = commands.add_parser("delete", help="remove whole projects from the mirror")
    delete.add_argument("names", nargs="+", metavar="NAME", help="project to remove")
    delete.add_argument("--dry-run", action="store_true", help="change nothing; list what would be removed")
    delete.add_argument("--workers", type=_workers, default=0, help="projects removed at once (0: [mirror] workers)")

    commands.add_parser("reindex", help="rebuild the mirror's index (frumious.sqlite) from its pages, offline")


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from frumious.cli import compose

    if args.command == "sync":
        return run_with_progress(
            lambda stats: compose.run_sync(settings, stats, args.names, args.skip_simple_root, args.allow_mass_delete),
            sync_summary,
        )
    if args.command == "verify":
        options = compose.verify_options(settings, args)
        return run_with_progress(lambda stats: compose.run_verify(settings, stats, options), verify_summary)
    if args.command == "delete":
        workers = args.workers or settings.mirror.workers
        return run_with_progress(
            lambda stats: compose.run_delete(settings, stats, args.names, dry_run=args.dry_run, workers=workers),
            delete_summary,
        )
    if args.command == "reindex":
        return run_with_progress(lambda stats: compose.run_reindex(settings, stats), reindex_summary)
    raise SystemExit(f"frumious: unknown command {args.command}")


# -- summaries (pure text) ------------------------------------------------------------------


def _failures(stats: RunStats, heading: str) -> list[str]:
    if not stats.failed:
        return []
    return [heading, *(f"  {name}: {reason}" for name, reason in sorted(stats.failed.items()))]


def sync_summary(report: Any) -> list[str]:
    stats: RunStats = report.stats
    lines = [
        f"Projects: {stats.synced} synced, {len(stats.failed)} failed, {stats.skipped} skipped by metadata filters"
        + progress.no_releases(stats),
        f"Files: {stats.files_downloaded} downloaded ({progress.human_bytes(stats.bytes_downloaded)}),"
        f" {stats.files_done - stats.files_downloaded} already current",
        f"Time: {progress.human_seconds(report.seconds)}; status left at serial {report.serial}",
    ]
    lines.extend(progress.kept_without_releases(stats))
    if report.excluded:
        lines.append(f"Excluded by project filters, not synced: {', '.join(report.excluded)}")
    if report.stopped_early:
        lines.append("Stopped at the first error (stop-on-error = true)")
    return lines + _failures(stats, "Failed projects:")


def verify_summary(report: Any) -> list[str]:
    stats: RunStats = report.stats
    dry = "[dry run] " if report.options.dry_run else ""
    lines = []
    if report.resumed_after:
        lines.append(f"Resumed after {report.resumed_after}: {report.already_checked} project(s) were already checked")
    lines.append(f"Checked: {stats.projects_done} project(s), {stats.files_done} file(s)")
    lines.append(f"{dry}Bad or missing: {len(report.bad)}")
    if report.options.dry_run:
        lines.extend(f"  would download {key} ({problem})" for key, problem in sorted(report.bad.items()))
    else:
        size = progress.human_bytes(stats.bytes_downloaded)
        lines.append(f"Repaired: {len(report.repaired)} file(s) downloaded again ({size})")
    if report.options.json_update and not report.options.dry_run:
        lines.append(f"JSON refreshed: {report.json_updated}; gone upstream (kept): {len(stats.gone)}")
    if report.options.delete:
        verb = "would remove" if report.options.dry_run else "removed"
        lines.append(f"{dry}Unowned files: {len(report.orphans)}")
        lines.extend(f"  {verb} {key}" for key in report.orphans)
    lines.append(f"Time: {progress.human_seconds(report.seconds)}")
    return lines + _failures(stats, "Failed projects:")


def delete_summary(report: Any) -> list[str]:
    stats: RunStats = report.stats
    if report.dry_run:
        lines = [f"[dry run] Would remove {len(report.planned)} project(s)"]
        for name, keys in sorted(report.planned.items()):
            lines.append(f"  {name}: {len(keys)} object(s)")
            lines.extend(f"    {key}" for key in keys)
    else:
        lines = [f"Removed: {len(stats.removed_projects)} project(s), {len(stats.removed)} object(s)"]
        lines.extend(f"  removed project {name}" for name in sorted(stats.removed_projects))
    return lines + _failures(stats, "Not deleted:")


def reindex_summary(report: Any) -> list[str]:
    lines = [f"Indexed: {report.projects} project(s), {report.files} file(s) in {report.seconds:.1f}s"]
    if report.unparsed:
        lines.append("Pages that could not be read (their files are kept; run 'frumious sync NAME' for each):")
        lines.extend(f"  {name}" for name in report.unparsed)
    return lines
