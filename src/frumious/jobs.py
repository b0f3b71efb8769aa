"""The subcommands' jobs: open the store under the lock, the index and upstream, run one core.

Each returns a report with ``ok`` and ``seconds`` for the CLI's summary.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from frumious import delete as delete_core
from frumious import index
from frumious import reindex as reindex_core
from frumious import sync as sync_core
from frumious import verify as verify_core
from frumious.filters import load_filters
from frumious.pipeline import RunStats
from frumious.runner import locked_store, make_upstream
from frumious.settings import Settings


async def sync(
    settings: Settings, stats: RunStats, names: Sequence[str], skip_root: bool, allow_mass_delete: bool
) -> sync_core.SyncReport:
    filters = load_filters(settings)
    async with (
        locked_store(settings) as store,
        reindex_core.current_index(store, settings.mirror) as opened,
        make_upstream(settings) as upstream,
    ):
        return await sync_core.sync_projects(
            upstream,
            store,
            settings.mirror,
            filters,
            stats,
            opened,
            names,
            skip_root=skip_root,
            allow_mass_delete=allow_mass_delete,
        )


def verify_options(settings: Settings, args: argparse.Namespace) -> verify_core.VerifyOptions:
    return verify_core.VerifyOptions(
        delete=args.delete,
        dry_run=args.dry_run,
        json_update=args.json_update,
        workers=args.workers or settings.mirror.verifiers,
        restart=args.restart,
    )


async def verify(settings: Settings, stats: RunStats, options: verify_core.VerifyOptions) -> verify_core.VerifyReport:
    async with (
        locked_store(settings) as store,
        reindex_core.current_index(store, settings.mirror) as opened,
        make_upstream(settings) as upstream,
    ):
        return await verify_core.verify(upstream, store, settings.mirror, opened, options, stats)


async def delete(
    settings: Settings, stats: RunStats, names: Sequence[str], *, dry_run: bool, workers: int
) -> delete_core.DeleteReport:
    async with locked_store(settings) as store, reindex_core.current_index(store, settings.mirror) as opened:
        return await delete_core.delete_projects(
            store, settings.mirror, opened, names, stats, dry_run=dry_run, workers=workers
        )


async def reindex(settings: Settings, stats: RunStats) -> reindex_core.Rebuilt:
    async with locked_store(settings) as store, index.attached(store) as opened:
        return await reindex_core.rebuild(store, settings.mirror, opened, stats)
