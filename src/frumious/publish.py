"""``frumious publish``: join the shards' clean runs into the mirror a client sees.

Shards (``shardrun``) sync their projects' pages and files and leave their projects, a run
count and a serial (``protocol/shardfiles``). Publishing (under the mirror's main lock) writes,
in this order: the root index (the shards' ``projects`` merged, with their metadata-only
pages), the change feed, ``web/last-modified``, and the top ``status`` last. The mirror's serial
is the lowest of the shards' serials: every project at or below it is current in its shard, so
a shard that failed or is still running holds it back and is named, while the others' work
(their pages and files, already in place) is kept. Nothing is published before every shard has
finished once. A publish with no shard run since the last one writes nothing, so the shards
that each try it when they finish publish once a round.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import json
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import msgspec

from frumious import feed, rootindex, shardrun
from frumious.errors import ObjectMissing
from frumious.mirror import Mirror
from frumious.protocol import feedformat, layout, render, shardfiles, statefiles
from frumious.protocol.shardfiles import Done, Published
from frumious.record.db import MirrorRecord
from frumious.settings import MirrorSettings
from frumious.shard import Shard
from frumious.stats import Report
from frumious.storage.base import Store
from frumious.storage.scoped import scoped

__all__ = ["PublishReport", "publish", "ready", "wait_ready"]

log = logging.getLogger("frumious.publish")

BATCH = 20_000


class PublishReport(Report):
    """What a publish did: the serial it published (None: held back), and the shards that held it."""

    shards: int = 0
    serial: int | None = None
    previous: int = 0
    projects: int = 0
    # Shard (``I/N``) -> why it holds the mirror's serial back (the exit code says so).
    behind: dict[str, str] = msgspec.field(default_factory=dict)
    # Shards that finished no run since the last publish, though not behind (said, not failed).
    idle: list[str] = msgspec.field(default_factory=list)
    wrote: bool = False
    waited: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed and not self.behind


async def _text(store: Store, key: str) -> str | None:
    try:
        return (await store.read(key)).decode("utf-8", "replace")
    except ObjectMissing:
        return None


async def _bytes(store: Store, key: str) -> bytes | None:
    try:
        return await store.read(key)
    except ObjectMissing:
        return None


async def _dones(store: Store, shards: list[Shard]) -> list[Done | None]:
    return [await shardrun.read_done(store, shard) for shard in shards]


def _new(dones: list[Done | None], before: Published | None) -> list[bool]:
    """Which shards finished a run since the last publish."""
    if before is None or len(before.runs) != len(dones):
        return [done is not None for done in dones]
    # ``!=``, not ``>``: a shard whose ``done`` was lost counts again from 1, and that run is new too.
    return [done is not None and done.run != run for done, run in zip(dones, before.runs, strict=True)]


async def ready(store: Store, count: int) -> bool:
    """Whether publishing now would be a round's publish: every shard finished a run since the last
    publish, or (a shard that held the serial back has caught up) the lowest shard serial passed it."""
    before = shardfiles.parse_published(await _bytes(store, shardfiles.PUBLISHED))
    dones = await _dones(store, Shard.all(count))
    if all(_new(dones, before)):
        return True
    if before is None or before.count != count or any(done is None for done in dones):
        return False
    return min(done.serial for done in dones if done is not None) > before.serial


async def wait_ready(store: Store, count: int, seconds: float, interval: float = 5.0) -> float:
    """Wait up to ``seconds`` for a complete round (polling the shards' ``done`` files); the seconds waited."""
    started = time.monotonic()
    for _poll in range(int(seconds / interval) + 1):
        if await ready(store, count):
            break
        left = seconds - (time.monotonic() - started)
        if left <= 0:
            break
        await asyncio.sleep(min(interval, left))
    return time.monotonic() - started


async def publish(store: Store, settings: MirrorSettings, now: float | None = None) -> PublishReport:
    """Publish what the shards finished (the caller holds the main lock)."""
    now = time.time() if now is None else now
    shards = Shard.all(settings.shards)
    report = PublishReport(shards=len(shards), started=now)
    current = statefiles.parse_serial(await _text(store, layout.STATUS) or "") or 0
    report.previous = current
    dones = await _dones(store, shards)
    before = shardfiles.parse_published(await _bytes(store, shardfiles.PUBLISHED))
    new = _new(dones, before)
    _name_behind(report, shards, dones, new)
    if any(done is None for done in dones):
        log.warning("Not publishing: %s", "; ".join(f"shard {k} {v}" for k, v in report.behind.items()))
        report.finished = time.time()
        return report
    finished = [done for done in dones if done is not None]
    runs = tuple(done.run for done in finished)
    if before is not None and before.count == len(shards) and before.runs == runs:
        log.info("Nothing new to publish: no shard finished a run since serial %d was published", before.serial)
        report.serial, report.finished = before.serial, time.time()
        return report
    target = _target(finished, new, current)
    serial = max(target, current)  # the published serial never goes back (a shard set up again starts low)
    files = await _projects_files(store, shards)
    digests = tuple(hashlib.sha256(data).hexdigest() for data, _what in files)
    unchanged = before is not None and before.digests == digests and serial == before.serial
    unchanged = unchanged and await store.exists(layout.root_page_keys().html)  # not removed meanwhile
    report.projects = await _write_root(store, settings, shards, files, serial=serial, write=not unchanged)
    if settings.feed:
        await _publish_feed(store, settings, shards, current, serial, now)
    await store.flush()  # everything it names is durable before the serial moves
    await store.write(layout.LAST_MODIFIED, render.last_modified(datetime.fromtimestamp(now, UTC)))
    await store.write(layout.STATUS, str(serial).encode("ascii"))
    if not (all(done.partial for done in finished) and not all(new)):
        # (A round of allowlisted shards held back is not taken as published: the laggard's run completes it.)
        await store.write(
            shardfiles.PUBLISHED, shardfiles.render_published(Published(len(shards), runs, serial, digests))
        )
    report.serial, report.wrote, report.finished = serial, True, time.time()
    log.info("Published serial %d from %d shard(s): %d project(s)", serial, len(shards), report.projects)
    return report


def _target(finished: list[Done], new: list[bool], current: int) -> int:
    """The serial every shard has reached: the lowest shard serial.

    Shards that asked their allowlisted projects one by one know only their newest project's serial
    (as a single process does then): once every shard finished a run since the last publish, the
    mirror is current to the newest of them, else it stays where it was.
    """
    if all(done.partial for done in finished):
        return max(done.serial for done in finished) if all(new) else current
    return min(done.serial for done in finished)


def _name_behind(report: PublishReport, shards: list[Shard], dones: list[Done | None], new: list[bool]) -> None:
    newest = max((done.serial for done in dones if done is not None), default=0)
    partial = all(done.partial for done in dones if done is not None)
    for shard, done, fresh in zip(shards, dones, new, strict=True):
        if done is None:
            report.behind[str(shard)] = "has not finished a run yet"
        elif partial and not fresh and any(new):  # others moved on: this one holds the serial
            report.behind[str(shard)] = "has not finished a run since the last publish"
        elif partial and not fresh:
            report.idle.append(str(shard))
        elif partial:
            continue  # its serial is its newest project's: no measure of being behind
        elif done.serial < newest:
            report.behind[str(shard)] = f"is at serial {done.serial}, behind {newest}"
        elif not fresh:
            report.idle.append(str(shard))


async def _projects_files(store: Store, shards: list[Shard]) -> list[tuple[bytes, str]]:
    files = []
    for shard in shards:
        key = shardfiles.projects_key(shard)
        files.append((await _bytes(store, key) or b"", f"shard {shard}'s projects ({key})"))
    return files


async def _write_root(
    store: Store,
    settings: MirrorSettings,
    shards: list[Shard],
    files: list[tuple[bytes, str]],
    serial: int,
    write: bool,
) -> int:
    """The root pages from every shard's projects (and metadata-only pages); the number of projects.

    Not written again (``write`` False) when no shard's projects changed since the last publish at this serial:
    rendering PyPI's root takes about 2 s.
    """
    fallbacks: dict[str, int] = {}
    for shard in shards:
        text = await _text(scoped(store, shard), layout.METADATA_ONLY)
        pages = statefiles.parse_metadata_only(text or "")
        fallbacks.update({name: f.serial for name, f in pages.items() if f.page})
    count = sum(len(rows) for rows in _merged(files, fallbacks))  # checks every line before a page is written
    if write or fallbacks:
        await rootindex.write_rows(store, settings.simple_format, serial, lambda: _merged(files, fallbacks))
    return count


def _merged(files: list[tuple[bytes, str]], fallbacks: dict[str, int]) -> Iterator[list[tuple[str, int]]]:
    """Every shard's rows and the metadata-only pages, in name order, a batch at a time (each name once)."""
    streams: list[Iterable[tuple[str, int]]] = [shardfiles.parse_projects(data, what) for data, what in files]
    streams.append(sorted(fallbacks.items()))
    batch: list[tuple[str, int]] = []
    last = None
    for name, serial in heapq.merge(*streams):
        if name == last:
            continue
        last = name
        batch.append((name, serial))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


async def _publish_feed(
    store: Store, settings: MirrorSettings, shards: list[Shard], before: int, serial: int, now: float
) -> None:
    """The shards' events since the last publish, as one step of the change feed; their files go after."""
    keys: list[str] = []
    events: list[feedformat.Event] = []
    for shard in shards:
        directory = shardfiles.events_dir(shard)
        for name in await store.children(directory):
            key = f"{directory}/{name}"
            data = await _bytes(store, key)
            if data is None:
                continue
            keys.append(key)
            events.extend(feedformat.parse_events(json.loads(data), key))
    # The feed's writer reads and writes the store only; it needs a mirror, not a record.
    holder = Mirror(store, MirrorRecord(":memory:"), settings)
    try:
        await feed.publish(holder, before, serial, events, now)
    finally:
        holder.record.close()
    for key in keys:
        await store.delete(key)
