"""The command table: ``mirror``, ``sync``, ``verify``, ``delete``, ``reindex``, ``publish``, ``serve`` and ``popular``.

Each ``Command`` adds its arguments to the CLI's parser and runs; a ``BareCommand`` (``popular``) reads
no config at all. Every command but ``serve`` and ``popular`` runs under the mirror lock with the record
open (``compose.open_mirror``), shows the live progress line on a terminal and ends with a summary that
names whatever failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from frumious.cli import shards, summaries
from frumious.cli.runfile import Request
from frumious.cli.running import run_with_progress
from frumious.models import replace
from frumious.settings import Settings

if TYPE_CHECKING:  # the cores are imported when a command runs, not when the CLI starts
    pass

MAX_WORKERS = 64


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"must be between 0 and {MAX_WORKERS}")
    return value


def _port(text: str) -> int:
    value = _positive(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{text} is not a port number (1-65535)")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be at least 1")
    return value


class Command(msgspec.Struct, frozen=True):
    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Settings], int]
    # Loads the filters: their config problems are reported with the [mirror] ones, before anything runs.
    filters: bool = False


class BareCommand(msgspec.Struct, frozen=True):
    """A command that reads no config: the CLI loads none, so a host without one (a log host) runs it."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _mirror_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--force-check", action="store_true", help="re-check every project, not just changed ones")
    parser.add_argument(
        "--allow-mass-delete", action="store_true", help="remove more than max-delete-share of the mirror if needed"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="change nothing; print what a run would fetch, prune and remove"
    )
    shards.add_arguments(parser, "sync")


def _run_mirror(args: argparse.Namespace, settings: Settings) -> int:
    from frumious.cli import compose
    from frumious.plan import Options

    count = shards.every_shard(args, settings)
    if args.dry_run and count:
        return run_with_progress(
            lambda live: compose.run_shares(settings, live, count),
            summaries.shares_summary,
            report_request(args, settings),
        )
    settings = shards.for_shard(args, settings)

    options = Options(force_check=args.force_check, allow_mass_delete=args.allow_mass_delete)
    if args.dry_run:
        return run_with_progress(
            lambda live: compose.run_dry_mirror(settings, live, options),
            summaries.dry_run_summary,
            report_request(args, settings),
        )
    return run_with_progress(
        lambda live: compose.run_mirror(settings, live, options),
        summaries.mirror_summary,
        report_request(args, settings),
    )


def _sync_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME", help="project to sync")
    parser.add_argument("--skip-simple-root", action="store_true", help="do not rewrite the root index")
    parser.add_argument(
        "--allow-mass-delete",
        action="store_true",
        help="let a project drop more than max-delete-file-share of its files",
    )


def _run_sync(args: argparse.Namespace, settings: Settings) -> int:
    from frumious.cli import compose

    shards.refuse_sharded("frumious sync", settings)

    return run_with_progress(
        lambda live: compose.run_sync(settings, live, args.names, args.skip_simple_root, args.allow_mass_delete),
        summaries.sync_summary,
        report_request(args, settings),
    )


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--delete", action="store_true", help="also remove files no project owns")
    parser.add_argument("--dry-run", action="store_true", help="change nothing; report what would be done")
    parser.add_argument("--json-update", action="store_true", help="refresh web/json from upstream")
    parser.add_argument("--workers", type=_workers, default=0, help="projects checked at once (0: [mirror] verifiers)")
    parser.add_argument("--restart", action="store_true", help="start from the top, not after an interrupted verify")
    shards.add_arguments(parser, "verify")


def _run_verify(args: argparse.Namespace, settings: Settings) -> int:
    from frumious.cli import compose

    settings = shards.for_shard(args, settings)
    shards.refuse_shard_delete(args, settings)

    options = compose.verify_options(settings, args)
    return run_with_progress(
        lambda live: compose.run_verify(settings, live, options),
        summaries.verify_summary,
        report_request(args, settings),
    )


def _delete_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="+", metavar="NAME", help="project to remove")
    parser.add_argument("--dry-run", action="store_true", help="change nothing; list what would be removed")
    parser.add_argument("--workers", type=_workers, default=0, help="projects removed at once (0: [mirror] workers)")


def _run_delete(args: argparse.Namespace, settings: Settings) -> int:
    from frumious.cli import compose

    shards.refuse_sharded("frumious delete", settings)

    workers = args.workers or settings.mirror.workers
    return run_with_progress(
        lambda live: compose.run_delete(settings, live, args.names, dry_run=args.dry_run, workers=workers),
        summaries.delete_summary,
        report_request(args, settings),
    )


def _reindex_arguments(parser: argparse.ArgumentParser) -> None:
    shards.add_arguments(parser, "rebuild the record of")


def _run_reindex(args: argparse.Namespace, settings: Settings) -> int:
    from frumious.cli import compose

    settings = shards.for_shard(args, settings)

    return run_with_progress(
        lambda live: compose.run_reindex(settings, live), summaries.reindex_summary, report_request(args, settings)
    )


def _run_publish(args: argparse.Namespace, settings: Settings) -> int:
    from frumious.cli import compose

    count = shards.shard_count(args, settings)
    shards.check_publish(args)
    if args.orphans:
        workers = settings.mirror.verifiers
        return run_with_progress(
            lambda live: compose.run_orphans(settings, live, count, delete=args.delete, workers=workers),
            summaries.orphans_summary,
            report_request(args, settings),
        )
    return run_with_progress(
        lambda live: compose.run_publish(settings, live, count, args.wait),
        summaries.publish_summary,
        report_request(args, settings),
    )


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--root-path", default="/", help="URL prefix the mirror is served under (default /)")
    parser.add_argument("--workers", type=_positive, default=1, help="server processes sharing the port (default 1)")


def _run_serve(args: argparse.Namespace, settings: Settings) -> int:
    from frumious.cli import serving

    setup_access_log(settings)
    return serving.run_serve(settings, args.host, args.port, args.root_path, args.workers)


def setup_access_log(settings: Settings) -> None:
    """Access lines in plain Combined Log Format, not behind the run-log prefix."""
    if settings.mirror.log_config:
        return
    access = logging.getLogger("frumious.access")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.handlers[:] = [handler]
    access.propagate = False
    access.setLevel(logging.INFO)


def _popular_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", metavar="LOG", help="access log (Combined Log Format; .gz too)")
    parser.add_argument(
        "--days", metavar="D", type=_positive, default=30, help="count lines of the last D days (default 30)"
    )
    parser.add_argument(
        "--top", metavar="N", type=_positive, default=100, help="keep the N most requested (default 100)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the allowlist here (default: stdout)")
    parser.add_argument(
        "--count", choices=("pages", "files"), default="pages", help="count page requests (default) or file downloads"
    )


def _run_popular(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from frumious import popular

    now, unit = time.time(), popular.Unit(args.count)
    logs = [Path(name) for name in args.logs]
    found = popular.count_logs(logs, since=now - args.days * popular.DAY, unit=unit)
    if found.unparseable:
        print(f"frumious: skipped {found.unparseable} unparseable line(s) of {found.lines}"
              f" (the first at {found.first_unparseable})", file=sys.stderr)  # fmt: skip
    if not found.counts:
        print(f"frumious: no {args.count} counted in the last {args.days} days; nothing written", file=sys.stderr)
        return 1
    text = popular.allowlist_text(found, top=args.top, days=args.days, unit=unit, sources=logs, now=now)
    if args.output is None:
        sys.stdout.write(text)
    else:
        popular.write_allowlist(Path(args.output), text)
    where = f" in {args.output}" if args.output else ""
    counted = f"{found.counts.total()} {args.count} counted for {len(found.counts)} project(s)"
    print(f"{found.lines} line(s) read, {counted}; kept the top {min(args.top, len(found.counts))}{where}",
          file=sys.stderr)  # fmt: skip
    return 0


COMMANDS = (
    Command("mirror", "sync the mirror with upstream", _mirror_arguments, _run_mirror, filters=True),
    Command("sync", "mirror just the named projects, whatever the serial", _sync_arguments, _run_sync, filters=True),
    Command("verify", "re-check every mirrored file and repair what is bad", _verify_arguments, _run_verify),
    Command("delete", "remove whole projects from the mirror", _delete_arguments, _run_delete),
    Command(
        "reindex",
        "rebuild the mirror's record (frumious.sqlite) from its pages, offline",
        _reindex_arguments,
        _run_reindex,
    ),
    Command(
        "publish",
        "join the shards' finished runs: root index, feed and the mirror's serial",
        shards.publish_arguments,
        _run_publish,
    ),
    Command("serve", "serve the mirror over HTTP (PEP 691 content negotiation)", _serve_arguments, _run_serve),
    BareCommand(
        "popular", "write an allowlist of the most-requested projects in access logs", _popular_arguments, _run_popular
    ),
)


def register(commands: Any) -> None:
    """Add every command's parser to ``commands`` (an argparse subparsers action)."""
    for command in COMMANDS:
        parser = commands.add_parser(command.name, help=command.help)
        command.arguments(parser)
        if command.name not in ("serve", "popular"):
            _report_arguments(parser)


def _report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--report", metavar="FILE", help="write the run report (JSON, docs/report.md) to FILE ([mirror] report-file)"
    )
    parser.add_argument("--json", action="store_true", help="print the run report as JSON instead of the summary")
    parser.add_argument(
        "--metrics",
        metavar="FILE",
        help="write the run's Prometheus metrics to FILE, a node_exporter textfile ([mirror] metrics-file)",
    )


# The commands whose runs the mirror's history keeps (a dry run changes nothing: not kept).
HISTORY_COMMANDS = ("mirror", "sync", "verify")


def report_request(args: argparse.Namespace, settings: Settings) -> Request:
    """Where the run report goes: ``--report`` over ``report-file``, and ``--json`` to stdout; the metrics
    file: ``--metrics`` over ``metrics-file``, its series labelled by command (``-dry-run`` for a dry run);
    and the record file that keeps the run's history row (local stores only, never for a dry run).
    """
    dry = getattr(args, "dry_run", False)
    label = args.command + ("-dry-run" if dry else "")
    metrics = args.metrics or settings.mirror.metrics_file
    history = ""
    if args.command in HISTORY_COMMANDS and not dry:
        from frumious.cli import compose

        history = compose.history_file(settings) or ""
    return Request(args.command, args.report or settings.mirror.report_file, args.json, metrics, label, history)


def with_metrics(args: argparse.Namespace, settings: Settings) -> Settings:
    """``settings`` with ``--metrics`` as its metrics file: the run then reads the mirror's size for it."""
    if not getattr(args, "metrics", None):
        return settings
    return replace(settings, mirror=replace(settings.mirror, metrics_file=args.metrics))


def uses_filters(name: str) -> bool:
    return any(isinstance(c, Command) and c.filters for c in COMMANDS if c.name == name)


def without_config(name: str) -> Callable[[argparse.Namespace], int] | None:
    """How to run ``name`` when it reads no config (``popular``); None when it needs one."""
    return next((c.run for c in COMMANDS if c.name == name and isinstance(c, BareCommand)), None)


def dispatch(args: argparse.Namespace, settings: Settings) -> int:
    for command in COMMANDS:
        if command.name == args.command and isinstance(command, Command):
            return command.run(args, with_metrics(args, settings))
    raise SystemExit(f"frumious: unknown command {args.command}")


# -- summaries (pure text) ------------------------------------------------------------------
