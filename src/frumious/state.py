"""Mirror state in bandersnatch's formats: ``generation``, ``status``, ``todo`` (``mirror.Mirror`` is the one user).

``todo`` holds the target serial on its first line and one ``<name> <serial>``
line per project still to sync. bandersnatch rewrites it after every project
(O(n^2) over a full sync); ``TodoCheckpoint`` rewrites it at most every few
seconds, so an interrupted run replays at most those seconds of work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from frumious.errors import ObjectMissing, StateError
from frumious.models import ListingEntry, serial_from_text
from frumious.protocol import layout
from frumious.protocol.statefiles import Failure, parse_failures, parse_vanishing, render_failures, render_vanishing
from frumious.storage.base import Store

log = logging.getLogger("frumious.state")

CURRENT_GENERATION = 5
LISTING_ETAG = ".frumious/listing-etag"
FILTERS = ".frumious/filters"
# Projects carried by name from run to run: failures, and absences awaiting a second 404.
FAILED = ".frumious/failed"
VANISHING = ".frumious/vanishing"


async def _read_text(store: Store, key: str) -> str | None:
    try:
        return (await store.read(key)).decode("ascii", "replace")
    except ObjectMissing:
        return None


async def ensure_generation(store: Store) -> None:
    """Upgrade or initialise the generation marker, as bandersnatch does."""
    text = await _read_text(store, layout.GENERATION)
    generation = int(text.strip()) if text and text.strip().isdigit() else None
    if generation == CURRENT_GENERATION:
        return
    if generation not in (None, 2, 3, 4):
        raise StateError(f"unknown mirror generation {generation} in {layout.GENERATION}; refusing to touch it")
    # Older or unknown state layouts force a full sync.
    await store.delete(layout.STATUS)
    await store.delete(layout.TODO)
    await store.write(layout.GENERATION, str(CURRENT_GENERATION).encode())


async def read_serial(store: Store) -> int:
    text = await _read_text(store, layout.STATUS)
    if text is None or not text.strip():
        return 0
    try:
        return int(text.strip())
    except ValueError:
        raise StateError(f"{layout.STATUS} holds {text.strip()[:40]!r}, not a serial") from None


async def write_serial(store: Store, serial: int) -> None:
    await store.write(layout.STATUS, str(serial).encode())


@dataclass(frozen=True, slots=True)
class Todo:
    target: int
    entries: tuple[ListingEntry, ...]

    def render(self) -> bytes:
        lines = [str(self.target), *(f"{e.name} {e.serial}" for e in self.entries)]
        return "\n".join(lines).encode("utf-8")


def parse_todo(text: str) -> Todo | None:
    """The todo, or None when it is unusable (bandersnatch then discards it)."""
    lines = text.split("\n")
    target = serial_from_text(lines[0])
    if target is None:
        return None
    entries = []
    for line in lines[1:]:
        if not line.strip():
            continue
        name, _, serial = line.rpartition(" ")
        value = serial_from_text(serial)
        if not name or value is None:
            return None
        entries.append(ListingEntry(name=name, serial=value))
    return Todo(target=target, entries=tuple(entries))


async def read_todo(store: Store, *, discard: bool = True) -> Todo | None:
    """The todo; an unusable one is deleted (``discard``) and read as none."""
    text = await _read_text(store, layout.TODO)
    if text is None:
        return None
    todo = parse_todo(text)
    if todo is None:
        log.warning("Discarding unusable todo file (%s)", text.split("\n", 1)[0][:40])
        if discard:
            await store.delete(layout.TODO)
    return todo


class TodoCheckpoint:
    """Tracks finished projects and rewrites ``todo`` at most every ``interval`` seconds."""

    def __init__(self, store: Store, todo: Todo, interval: float = 10.0) -> None:
        self.store, self.target = store, todo.target
        self.pending = {entry.name: entry for entry in todo.entries}
        self.interval = interval
        self.last_write = time.monotonic()
        self.dirty = False

    async def start(self) -> None:
        await self._write()

    async def done(self, name: str) -> None:
        if self.pending.pop(name, None) is not None:
            self.dirty = True
        if self.dirty and time.monotonic() - self.last_write >= self.interval:
            await self._write()

    async def flush(self) -> None:
        if self.dirty:
            await self._write()

    async def _write(self) -> None:
        self.last_write, self.dirty = time.monotonic(), False
        todo = Todo(self.target, tuple(self.pending.values()))
        await self.store.write(layout.TODO, todo.render())


async def read_listing_etag(store: Store, serial: int) -> str | None:
    """The listing ETag remembered for ``serial``, if the last run saw that serial."""
    text = await _read_text(store, LISTING_ETAG)
    if not text:
        return None
    etag, _, saved = text.partition("\n")
    return etag if saved.strip() == str(serial) else None


async def write_listing_etag(store: Store, etag: str | None, serial: int) -> None:
    if etag:
        await store.write(LISTING_ETAG, f"{etag}\n{serial}".encode())
    else:
        await store.delete(LISTING_ETAG)


def target_serial(current: int, entries: Iterable[ListingEntry], ceiling: int | None = None) -> int:
    """The newest serial of ``entries`` (never above ``ceiling``, the root's serial), or ``current``."""
    newest = max([current, *(entry.serial for entry in entries)])
    return newest if ceiling is None else max(current, min(newest, ceiling))


async def read_failures(store: Store) -> dict[str, Failure]:
    return parse_failures(await _read_text(store, FAILED) or "")


async def write_failures(store: Store, failures: dict[str, Failure]) -> None:
    if failures:
        await store.write(FAILED, render_failures(failures))
    else:
        await store.delete(FAILED)


async def read_vanishing(store: Store) -> dict[str, float]:
    return parse_vanishing(await _read_text(store, VANISHING) or "")


async def write_vanishing(store: Store, vanishing: dict[str, float]) -> None:
    if vanishing:
        await store.write(VANISHING, render_vanishing(vanishing))
    else:
        await store.delete(VANISHING)


async def filters_changed(store: Store, fingerprint: str) -> bool:
    """Whether the filter configuration differs from the last clean run's."""
    return await _read_text(store, FILTERS) != fingerprint


async def write_filters(store: Store, fingerprint: str) -> None:
    await store.write(FILTERS, fingerprint.encode())
