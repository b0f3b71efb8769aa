"""Dependency closure, the core part: the allowlist grows by what its packages need to install.

With ``[allowlist] closure = true`` a ``mirror`` run goes: the allowlist is grown by the
closure the last run found (``.frumious/closure.json``), so those projects are planned like any
allowlisted one; after the planned queue, ``Closure.complete`` walks the requirements
(``filters.closure.walk``, pure) over what the mirror holds, queues the projects it needs and
does not hold yet, and walks again until nothing new is needed (a fixed point). Holes (a
dependency another filter blocks, one with no fitting file, no metadata, or failed) land in
the run's report.

What a project needs is read from the mirror, never from upstream: each kept file's
``.metadata`` sidecar in the store, once, when the project was synced this run; the state file
keeps it for later runs, so an unchanged run walks in memory and reads nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from urllib.parse import unquote

import msgspec

from frumious.errors import ObjectMissing
from frumious.filters import FilterSet
from frumious.filters.closure import ClosureConfig, Dist, Walk, parse_core_metadata, walk
from frumious.mirror import Mirror
from frumious.models import ListingEntry, canonicalize_name
from frumious.protocol import layout
from frumious.record.rebuild import version_from_filename
from frumious.runreport import SyncReport

__all__ = ["Closure", "held_dists"]

log = logging.getLogger("frumious.sync")
STATE_VERSION = 1

# Syncs one round of newly needed projects into the report (``sync.run_queue`` bound to the run).
Round = Callable[[Sequence[ListingEntry]], Awaitable[object]]


class Closure(msgspec.Struct):
    """One run's closure: its config, what the mirror holds of each needed project, and the result."""

    config: ClosureConfig
    filters: FilterSet  # as configured, not grown
    fingerprint: str = ""
    needed: set[str] = msgspec.field(default_factory=set)
    held: dict[str, list[Dist]] = msgspec.field(default_factory=dict)

    @classmethod
    async def open(cls, mirror: Mirror, filters: FilterSet) -> Closure | None:
        """The closure the filters ask for, with the last run's state; None without one."""
        config = filters.closure
        if config is None:
            return None
        closure = cls(config, filters)
        closure.load(await mirror.closure_state())
        if closure.fingerprint != filters.fingerprint:
            # Release or file filters (or the targets) changed: what is kept may differ, so
            # re-read every needed project from the mirror (store reads only, no upstream).
            closure.held.clear()
        return closure

    @property
    def grown(self) -> FilterSet:
        """The run's filters: the allowlist grown by the closure found last time."""
        return self.filters.grown(self.needed)

    def load(self, data: bytes | None) -> None:
        try:
            state = json.loads(data or b"{}")
            if state.get("version") != STATE_VERSION:
                return
            held = {name: [Dist(v, f, rp, None if r is None else tuple(r)) for v, f, rp, r in dists]
                    for name, dists in state["held"].items()}  # fmt: skip
            self.needed, self.held, self.fingerprint = set(state["needed"]), held, str(state["fingerprint"])
        except (ValueError, KeyError, TypeError, AttributeError):
            log.warning("Discarding an unreadable %s; the closure is walked again from the mirror", layout.CLOSURE)

    def dump(self) -> bytes:
        held = {name: [[d.version, d.filename, d.requires_python, d.requires] for d in dists]
                for name, dists in sorted(self.held.items())}  # fmt: skip
        state = {"version": STATE_VERSION, "fingerprint": self.filters.fingerprint, "needed": sorted(self.needed)}
        return json.dumps({**state, "held": held}, sort_keys=True).encode()

    async def complete(
        self, mirror: Mirror, report: SyncReport, queued: Iterable[str], sync_round: Round
    ) -> tuple[ListingEntry, ...]:
        """Walk to a fixed point, syncing newly needed projects in rounds; save the state, report the holes.

        The projects the rounds synced, at the serial they reached.
        """
        attempted: set[str] = {canonicalize_name(name) for name in queued}
        first = set(attempted)
        for name in attempted & _synced(report):  # changed upstream: its requirements may have too
            await self._refresh(mirror, name)
        while True:
            found = walk(self.config, self.held, self.filters.closure_blocker)
            unknown = found.unknown - attempted
            for name in sorted(unknown):
                await self._refresh(mirror, name)
            new = sorted(name for name in unknown if name not in self.held)
            if not unknown:
                break
            if new:
                log.info("Dependency closure: %d more project(s) needed: %s", len(new), ", ".join(new[:20]))
                attempted.update(new)
                report.progress.projects_total += len(new)
                await sync_round([ListingEntry(name, 0) for name in new])
                for name in set(new) & _synced(report):
                    await self._refresh(mirror, name)
        self.needed = found.needed
        self.held = {name: dists for name, dists in self.held.items() if name in found.needed}
        report.holes.extend(self._holes(found, report))
        for hole in report.holes:
            log.warning("Dependency closure hole: %s", hole)
        log.info("Dependency closure: %d project(s) for %d environment(s)", len(found.needed), len(self.config.targets))
        await mirror.save_closure_state(self.dump())
        rows = [mirror.record.project(name) for name in sorted(attempted - first)]
        return tuple(ListingEntry(row.name, row.serial) for row in rows if row is not None)

    async def _refresh(self, mirror: Mirror, name: str) -> None:
        dists = await held_dists(mirror, name)
        if dists is None:
            self.held.pop(name, None)
        else:
            self.held[name] = dists

    def _holes(self, found: Walk, report: SyncReport) -> list[str]:
        why: dict[str, str] = {canonicalize_name(n): f"failed: {reason}" for n, reason in report.failed.items()}
        why.update((canonicalize_name(n), "not found upstream") for n in report.gone)
        why.update((canonicalize_name(n), "excluded by a metadata filter") for n in report.skipped)
        missing = [f"{name} is needed but not mirrored ({why.get(name, 'no release files kept')})"
                   for name in sorted(found.unknown)]  # fmt: skip
        return [*found.holes, *missing]


def _synced(report: SyncReport) -> set[str]:
    return {canonicalize_name(name) for name in report.synced}


async def held_dists(mirror: Mirror, name: str) -> list[Dist] | None:
    """A project's kept files with their core metadata (the record, the stored sidecars); None when not held."""
    rows = mirror.record.files(name)
    if not rows:
        return None
    sidecars = {row.key for row in rows if row.metadata}
    dists = []
    for row in rows:
        if row.metadata:
            continue
        filename = unquote(row.key.rsplit("/", 1)[-1])
        version = row.version or version_from_filename(filename)
        if version is None:
            continue
        requires_python, requires = None, None
        if layout.metadata_key(row.key) in sidecars:
            # A missing (verify repairs it) or unreadable sidecar: the file counts as without metadata.
            with contextlib.suppress(ObjectMissing, ValueError):
                requires_python, requires = parse_core_metadata(await mirror.store.read(layout.metadata_key(row.key)))
        dists.append(Dist(version, filename, requires_python, requires))
    return dists
