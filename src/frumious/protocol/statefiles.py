"""The text of the two files a finished run carries to the next (``.frumious/failed``, ``vanishing``).

Both hold one project a line, fields separated by spaces (names never hold one). ``retries``
decides what they mean; ``state`` reads and writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from frumious.models import ListingEntry, canonicalize_name, serial_from_text


@dataclass(frozen=True, slots=True)
class Failure:
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


def render_vanishing(vanishing: Mapping[str, float]) -> bytes:
    return "".join(f"{name} {int(when)}\n" for name, when in sorted(vanishing.items())).encode("utf-8")
