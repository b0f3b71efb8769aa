"""``cooldown_release_file``: hold back files uploaded less than ``[cooldown] days`` ago.

A supply-chain guard on the mirror's side (uv's ``exclude-newer``, pip's ``--uploaded-prior-to``):
a release pushed by a hijacked account is usually yanked within days, so a mirror that waits
never serves it. Projects in ``exempt`` (a security team's fast lane) get every file at once.

The filter judges every file against one moment, taken when it is built (the run's start), so
all projects of a run agree. Upstream's serial does not move when a file ages, so
``revisit_at`` tells the run when a held file becomes eligible; the next run after that moment
comes back to the project by itself (``recheck``).
"""

from __future__ import annotations

import math
import time

from frumious.errors import ConfigError
from frumious.filters.base import FilterContext, ReleaseFileFilter
from frumious.models import DistFile, Project, canonicalize_name

__all__ = ["CooldownReleaseFile"]

DAY = 86_400.0
SECTION = "cooldown"
# What to do with a file upstream gives no upload time for: it cannot be judged.
UNDATED = ("keep", "hold")


class CooldownReleaseFile(ReleaseFileFilter):
    """Keeps a file once ``days`` have passed since its upload; exempt projects keep everything."""

    name = "cooldown_release_file"

    def __init__(self, context: FilterContext) -> None:
        super().__init__(context)
        problems: list[str] = []
        raw = context.get(SECTION, "days")
        self.days = _days(raw, problems) if raw is not None else 0.0
        if raw is None:
            context.inert(f"[{SECTION}] days is not set")
        self.exempt = frozenset(canonicalize_name(n) for line in context.lines(SECTION, "exempt") for n in line.split())
        undated = (context.get(SECTION, "undated") or "keep").strip().lower()
        if undated not in UNDATED:
            problems.append(f"[{SECTION}] undated: {undated!r} is not one of {', '.join(UNDATED)}")
        if problems:
            raise ConfigError(problems)
        self.hold_undated = undated == "hold"
        self.seconds = self.days * DAY
        # One moment for the whole run (read through time.time so tests can move the clock).
        self.now = time.time()

    def keeps_file(self, project: Project, file: DistFile) -> bool:
        if project.canonical in self.exempt:
            return True
        uploaded = file.upload_timestamp
        if uploaded is None:
            return not self.hold_undated
        return uploaded + self.seconds <= self.now

    def revisit_at(self, project: Project, file: DistFile) -> float | None:
        uploaded = file.upload_timestamp
        if uploaded is None or project.canonical in self.exempt:
            return None
        moment = uploaded + self.seconds
        return moment if moment > self.now else None

    def describe(self) -> object:
        # Never the clock: a run a day later is the same filter.
        return {"days": self.days, "exempt": sorted(self.exempt), "undated": "hold" if self.hold_undated else "keep"}


def _days(value: str, problems: list[str]) -> float:
    """``days``: a number of days, fractions allowed (0.5 is twelve hours)."""
    try:
        days = float(value.strip())
    except ValueError:
        days = math.nan
    if not math.isfinite(days) or days < 0:
        problems.append(f"[{SECTION}] days: {value.strip()!r} is not a number of days (e.g. 7 or 0.5)")
        return 0.0
    return days
