"""The text of the files shards leave for the publish step (``shardrun``, ``publish``), and their keys.

Each shard's clean run leaves, under its prefix: ``projects`` (every project it holds and its
serial, one ``name serial`` a line, sorted by name: the publish step merges them into the root
index), ``done`` (``run serial``: how many clean runs it has finished, and the serial of the
last) and, with ``feed = true``, ``events/<run>.json`` (the run's changes for the feed). The
publish step remembers what it published in ``.frumious/shards/published``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import msgspec

from frumious.errors import StateError
from frumious.shard import SHARDS_DIR, Shard

__all__ = ["PUBLISHED", "Done", "Published", "done_key", "events_dir", "projects_key"]

PUBLISHED = f"{SHARDS_DIR}/published"


def done_key(shard: Shard) -> str:
    return f"{shard.prefix}/done"


def projects_key(shard: Shard) -> str:
    return f"{shard.prefix}/projects"


def events_dir(shard: Shard) -> str:
    return f"{shard.prefix}/events"


class Done(msgspec.Struct, frozen=True):
    """A shard's clean runs so far and the serial its last one reached."""

    run: int
    serial: int
    # Its projects were asked one by one (an allowlist): the serial is its newest project's, not the index's.
    partial: bool = False


def render_done(done: Done) -> bytes:
    return f"{done.run} {done.serial}{' partial' if done.partial else ''}\n".encode("ascii")


def parse_done(text: str) -> Done | None:
    """None when empty; StateError when it is not a run and a serial (and perhaps ``partial``)."""
    parts = text.split()
    if not parts:
        return None
    partial = parts[2:] == ["partial"]
    if len(parts) != 2 + partial or not all(part.isascii() and part.isdecimal() for part in parts[:2]):
        raise StateError(f"a shard's done file holds {text.strip()[:40]!r}, not a run and a serial")
    return Done(int(parts[0]), int(parts[1]), partial)


def render_projects(batches: Iterable[list[tuple[str, int]]]) -> Iterator[bytes]:
    """The ``projects`` file in pieces, from the record's sorted batches."""
    for rows in batches:
        yield "".join(f"{name} {serial}\n" for name, serial in rows).encode("utf-8")


def parse_projects(data: bytes, what: str) -> Iterator[tuple[str, int]]:
    """The rows of a ``projects`` file, in its (sorted) order; StateError naming ``what`` on a bad line."""
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        name, _, serial = line.rpartition(" ")
        if not name or not (serial.isascii() and serial.isdecimal()):
            raise StateError(f"{what}, line {number}: {line[:60]!r} is not a project and its serial")
        yield name, int(serial)


class Published(msgspec.Struct, frozen=True):
    """What the publish step last published: for how many shards, after which of their runs, at which serial."""

    count: int
    runs: tuple[int, ...]
    serial: int
    # Each shard's ``projects`` file as published (sha256): unchanged files need no new root index.
    digests: tuple[str, ...] = ()


def render_published(published: Published) -> bytes:
    raw = {"shards": published.count, "runs": list(published.runs), "serial": published.serial}
    return json.dumps({**raw, "digests": list(published.digests)}).encode()


def parse_published(data: bytes | None) -> Published | None:
    """None when there is none or it cannot be read (the next publish writes everything again)."""
    if data is None:
        return None
    try:
        raw = json.loads(data)
        runs = tuple(int(run) for run in raw["runs"])
        digests = tuple(str(digest) for digest in raw.get("digests", ()))
        return Published(int(raw["shards"]), runs, int(raw["serial"]), digests)
    except (ValueError, KeyError, TypeError):
        return None
