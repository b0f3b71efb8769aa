"""The CLI's side of scale-out: which shard a run is (``--shard I/N``, ``--shards N`` with
``JOB_COMPLETION_INDEX``, ``[mirror] shards``), and the ``publish`` command.

A Kubernetes Indexed Job gives each pod its index in ``JOB_COMPLETION_INDEX``, so one pod spec
serves every shard; systemd's template unit passes ``--shard %i/N``.
"""

from __future__ import annotations

import argparse
import os

from frumious.errors import ConfigError
from frumious.models import replace
from frumious.settings import Settings
from frumious.shard import MAX_SHARDS, Shard

INDEX_VARIABLE = "JOB_COMPLETION_INDEX"


def _shard(text: str) -> Shard:
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_SHARDS}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be 0 or more seconds")
    return value


def add_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """``--shard`` and ``--shards`` for a command that works shard by shard (``what`` it does)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--shard", metavar="I/N", type=_shard, help=f"{what} only shard I of N (docs/scale-out.md)")
    group.add_argument(
        "--shards",
        metavar="N",
        type=_count,
        help=f"{what} one of N shards, the index from ${INDEX_VARIABLE} (a Kubernetes Indexed Job sets it)",
    )


def for_shard(args: argparse.Namespace, settings: Settings) -> Settings:
    """``settings`` for the shard this run is (unchanged when it is none); ConfigError naming the problem."""
    configured = settings.mirror.shards
    shard: Shard | None = getattr(args, "shard", None)
    count: int | None = getattr(args, "shards", None) or configured or None
    if shard is None and count is None:
        return settings
    if shard is not None and configured and shard.count != configured:
        raise ConfigError([f"--shard {shard} names {shard.count} shards, but [mirror] shards = {configured}"])
    if count is not None and configured and count != configured:
        raise ConfigError([f"--shards {count}, but [mirror] shards = {configured}"])
    if shard is None:
        assert count is not None
        shard = Shard(_index_from_environment(count), count)
    share = settings.mirror.shard_share or 1 / shard.count
    mirror = replace(settings.mirror, shard=shard, shards=shard.count, shard_share=share)
    return replace(settings, mirror=mirror)


def every_shard(args: argparse.Namespace, settings: Settings) -> int:
    """The number of shards when a run names no single one (no ``--shard``, no ``$JOB_COMPLETION_INDEX``);
    else 0. ``mirror --dry-run`` then shows every shard's share."""
    if getattr(args, "shard", None) is not None or os.environ.get(INDEX_VARIABLE) is not None:
        return 0
    return int(getattr(args, "shards", None) or settings.mirror.shards or 0)


def _index_from_environment(count: int) -> int:
    raw = os.environ.get(INDEX_VARIABLE)
    if raw is None:
        raise ConfigError(
            [f"this mirror is synced as {count} shards: give --shard I/{count}, or set {INDEX_VARIABLE} to the index"]
        )
    if not raw.strip().isdecimal() or not raw.strip().isascii() or not 0 <= int(raw) < count:
        raise ConfigError([f"{INDEX_VARIABLE}={raw!r} is not a shard index from 0 to {count - 1}"])
    return int(raw)


def shard_count(args: argparse.Namespace, settings: Settings) -> int:
    """How many shards ``publish`` joins: ``--shards``, else ``[mirror] shards``."""
    count = getattr(args, "shards", None) or settings.mirror.shards
    if not count:
        raise ConfigError(["publish joins shards: give --shards N or set [mirror] shards = N"])
    if settings.mirror.shards and count != settings.mirror.shards:
        raise ConfigError([f"--shards {count}, but [mirror] shards = {settings.mirror.shards}"])
    return int(count)


def refuse_sharded(command: str, settings: Settings) -> None:
    """Commands that work on the whole mirror at once are refused on a sharded one."""
    count = settings.mirror.shards
    if count:
        raise ConfigError([f"{command} works on a mirror synced in one process; this one has shards = {count}"])


def publish_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shards", metavar="N", type=_count, help="the number of shards ([mirror] shards)")
    parser.add_argument(
        "--wait",
        metavar="SECONDS",
        type=_seconds,
        default=0.0,
        help="wait up to SECONDS for every shard to finish a run since the last publish (default: do not wait)",
    )
    parser.add_argument(
        "--orphans",
        action="store_true",
        help="publish nothing; list the files under web/packages that no shard's record owns",
    )
    parser.add_argument("--delete", action="store_true", help="with --orphans: remove them (holds every shard's lock)")


def check_publish(args: argparse.Namespace) -> None:
    """``--delete`` only removes orphans, and ``--wait`` only waits to publish."""
    if args.delete and not args.orphans:
        raise ConfigError(["publish --delete removes the files no shard owns: give it with --orphans"])
    if args.orphans and args.wait:
        raise ConfigError(["publish --orphans publishes nothing, so it does not --wait for the shards"])


def refuse_shard_delete(args: argparse.Namespace, settings: Settings) -> None:
    """A shard sees its own projects only: every other shard's files would look unowned to it."""
    shard = settings.mirror.shard
    if shard is not None and getattr(args, "delete", False):
        raise ConfigError(
            [
                f"verify --delete cannot run in shard {shard}: other shards' files would all look unowned;"
                " remove unowned files once with 'frumious publish --orphans --delete'"
            ]
        )
