"""The text of the mirror's state files, in bandersnatch's formats where it has them (pure).

``status`` holds the serial; ``todo`` the target serial on its first line and one
``<name> <serial>`` line per project still to sync; ``.frumious/listing-etag`` the listing's
ETag and the serial it was seen at. The two files a finished run carries to the next
(``.frumious/failed``, ``vanishing``) hold one project a line, fields separated by spaces
(names never hold one); ``retries`` decides what they mean. ``mirror.Mirror`` reads and
writes them all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import msgspec

from frumious.compact import Entries
from frumious.errors import StateError
from frumious.models import ListingEntry, canonicalize_name, serial_from_text

# The state layout this version writes; bandersnatch's 2 to 4 are upgraded by a full sync.
CURRENT_GENERATION = 5
UPGRADABLE_GENERATIONS = (None, 2, 3, 4)


def parse_generation(text: str | None) -> int | None:
    """The generation marker's number; None when there is none (or it is not a number)."""
    return int(text.strip()) if text and text.strip().isdigit() else None


def parse_serial(text: str) -> int | None:
    """The serial in ``status``; None when it is empty, StateError when it is not a serial."""
    if not text.strip():
        return None
    try:
        return int(text.strip())
    except ValueError:
        raise StateError(f"status holds {text.strip()[:40]!r}, not a serial") from None


class Todo(msgspec.Struct, frozen=True):
    target: int
    # A tuple, or ``compact.Entries`` (what ``parse_todo`` and a run's plan give: 700,000 on a full sync).
    entries: Sequence[ListingEntry]

    def render(self) -> bytes:
        lines = [str(self.target), *(f"{e.name} {e.serial}" for e in self.entries)]
        return "\n".join(lines).encode("utf-8")


def parse_todo(text: str) -> Todo | None:
    """The todo, or None when it is unusable (bandersnatch then discards it)."""
    lines = text.split("\n")
    target = serial_from_text(lines[0])
    if target is None:
        return None
    entries = Entries()
    for line in lines[1:]:
        if not line.strip():
            continue
        name, _, serial = line.rpartition(" ")
        value = serial_from_text(serial)
        if not name or value is None:
            return None
        entries.append(ListingEntry(name=name, serial=value))
    return Todo(target=target, entries=entries)


def target_serial(current: int, entries: Iterable[ListingEntry], ceiling: int | None = None) -> int:
    """The newest serial of ``entries`` (never above ``ceiling``, the root's serial), or ``current``."""
    newest = entries.newest(current) if isinstance(entries, Entries) else max([current, *(e.serial for e in entries)])
    return newest if ceiling is None else max(current, min(newest, ceiling))


def parse_listing_etag(text: str, serial: int) -> str | None:
    """The listing ETag remembered for ``serial``, if the last run saw that serial."""
    etag, _, saved = text.partition("\n")
    return etag if saved.strip() == str(serial) else None


def render_listing_etag(etag: str, serial: int) -> bytes:
    return f"{etag}\n{serial}".encode()


class Failure(msgspec.Struct, frozen=True):
    """A project that failed: the serial it wanted, failed runs in a row, when to retry it (epoch)."""

    name: str
    serial: int
    count: int
    retry_at: float = 0.0

    def due(self, now: float) -> bool:
        return self.retry_at <= now

    def quarantined(self, after: int) -> bool:
        return self.count >= after

    @property
    def entry(self) -> ListingEntry:
        return ListingEntry(self.name, self.serial)


def parse_failures(text: str) -> dict[str, Failure]:
    """Records by canonical name; malformed lines are dropped (the listing still finds those projects)."""
    found: dict[str, Failure] = {}
    for line in text.splitlines():
        fields = line.split()
        serial = serial_from_text(fields[1]) if len(fields) == 4 else None
        if serial is None or not fields[2].isdigit() or len(fields[2]) > 9:
            continue
        try:
            retry_at = float(fields[3])
        except ValueError:
            continue
        found[canonicalize_name(fields[0])] = Failure(fields[0], serial, int(fields[2]), retry_at)
    return found


def render_failures(failures: Mapping[str, Failure]) -> bytes:
    lines = [f"{f.name} {f.serial} {f.count} {int(f.retry_at)}" for _, f in sorted(failures.items())]
    return "".join(line + "\n" for line in lines).encode("utf-8")


def parse_vanishing(text: str) -> dict[str, float]:
    """Canonical name -> when its absence was first confirmed (epoch)."""
    found: dict[str, float] = {}
    for line in text.splitlines():
        name, _, when = line.strip().partition(" ")
        try:
            found[canonicalize_name(name)] = float(when)
        except ValueError:
            continue
    return found


class Fallback(msgspec.Struct, frozen=True):
    """A project the filters exclude, at the serial its metadata-only page was last made for.

    ``page`` is False when upstream had nothing to show at that serial (its JSON was a 404, or
    a metadata filter refused it): remembered so that it is not asked again until it changes.
    """

    serial: int
    page: bool = True


def parse_metadata_only(text: str) -> dict[str, Fallback]:
    """``.frumious/metadata-only``: ``<name> <serial>`` a line, ``<name> <serial> -`` for no page."""
    found: dict[str, Fallback] = {}
    for line in text.splitlines():
        fields = line.split()
        serial = serial_from_text(fields[1]) if len(fields) in (2, 3) else None
        if serial is not None and fields[2:] in ([], ["-"]):
            found[canonicalize_name(fields[0])] = Fallback(serial, page=len(fields) == 2)
    return found


def render_metadata_only(pages: Mapping[str, Fallback]) -> bytes:
    lines = (f"{name} {f.serial}" + ("" if f.page else " -") for name, f in sorted(pages.items()))
    return "".join(line + "\n" for line in lines).encode("utf-8")


def render_vanishing(vanishing: Mapping[str, float]) -> bytes:
    return "".join(f"{name} {int(when)}\n" for name, when in sorted(vanishing.items())).encode("utf-8")


def render_held(held: Mapping[str, float]) -> bytes:
    """``.frumious/held``: name and moment, rounded up so a run never comes back a second early."""
    return "".join(f"{name} {math.ceil(when)}\n" for name, when in sorted(held.items())).encode("utf-8")


def parse_filters(text: str | None) -> tuple[str | None, dict[str, str] | None]:
    """``.frumious/filters``: the whole fingerprint, then one ``<kind> <fingerprint>`` line per kind.

    Older runs wrote the first line only: the kinds are then None (unknown).
    """
    if text is None:
        return None, None
    first, *rest = text.strip().split("\n")
    kinds = dict(line.split(" ", 1) for line in rest if line.count(" ") == 1)
    return first.strip(), (kinds or None)


def render_filters(fingerprint: str, kinds: Mapping[str, str]) -> bytes:
    return "\n".join([fingerprint, *(f"{kind} {value}" for kind, value in sorted(kinds.items()))]).encode()
