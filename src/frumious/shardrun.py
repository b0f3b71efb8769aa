"""The end of a shard's run (``mirror --shard I/N``): what it leaves for ``publish``.

A shard's state files are its own through ``storage/scoped``; what it sees of the upstream is
``shardscope``'s. A finished shard run writes no root index and no top ``status``: it leaves its
projects, its run count and its feed events (``protocol/shardfiles``), and ``publish`` joins the
shards.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from frumious import feed
from frumious.errors import ObjectMissing, StateError
from frumious.mirror import Mirror
from frumious.plan import Plan
from frumious.protocol import feedformat, shardfiles
from frumious.protocol.shardfiles import Done
from frumious.runreport import SyncReport
from frumious.shard import Shard
from frumious.storage.base import Store

__all__ = ["finished", "read_done", "shard_serial", "write_parts"]

log = logging.getLogger("frumious.shard")


def shard_serial(plan: Plan, reached: int) -> int:
    """The serial a finished shard run publishes: at least the listing's own serial.

    Every project of the shard listed up to that serial was synced (or carried as a failure), so
    the shard is current up to it; its newest project's serial alone would let a shard whose
    projects rarely change hold the mirror's serial (the lowest shard's) back for good.
    """
    if plan.refused is not None or plan.ceiling is None or plan.partial or plan.counted:
        return reached
    return max(reached, plan.ceiling)


async def finished(mirror: Mirror, shard: Shard, report: SyncReport, *, partial: bool = False) -> None:
    """A clean shard run that published its own serial: leave its projects, run count and feed events.

    The projects come first and ``done`` last, so a publish that reads ``done`` finds projects at
    least as new as the serial it names. (Keys under ``.frumious/shards/`` pass the shard's view unchanged.)
    """
    store = mirror.store
    await write_parts(
        store, shardfiles.projects_key(shard), shardfiles.render_projects(mirror.record.serials_in_batches())
    )
    previous = await read_done(store, shard)
    run = (previous.run if previous else 0) + 1
    if mirror.settings.feed:
        events = feed.events_of(mirror, report.reached, report.removed_projects, report.serial)
        # Named by run and time: a run count started again (a lost ``done``) never overwrites unpublished events.
        name = f"{run:012d}-{time.time_ns()}.json"
        await store.write(f"{shardfiles.events_dir(shard)}/{name}", feedformat.render_events(events))
    await mirror.flush()  # durable before ``done`` names the run
    await store.write(shardfiles.done_key(shard), shardfiles.render_done(Done(run, report.serial, partial)))
    log.info("Shard %s: clean run %d at serial %d, left for the publish step", shard, run, report.serial)


async def read_done(store: Store, shard: Shard) -> Done | None:
    """The shard's clean runs so far; None before its first (or when the file cannot be read: counted again)."""
    try:
        text = (await store.read(shardfiles.done_key(shard))).decode("ascii", "replace")
        return shardfiles.parse_done(text)
    except (ObjectMissing, StateError):
        return None


async def write_parts(store: Store, key: str, parts: Iterable[bytes]) -> None:
    """``key`` written from ``parts`` as they come, atomically."""
    writer = await store.writer(key)
    try:
        for piece in parts:
            await writer.write(piece)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise
