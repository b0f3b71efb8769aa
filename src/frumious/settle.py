"""What a finished ``mirror`` run settles for the next one: first sightings of vanished projects, the
projects whose absence is now confirmed, and the failures to carry (``retries`` says what they mean)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from frumious import retries
from frumious.models import canonicalize_name
from frumious.plan import Plan
from frumious.retries import Failure
from frumious.runreport import SyncReport
from frumious.settings import MirrorSettings

__all__ = ["carry_failures", "settle_vanishing"]

log = logging.getLogger("frumious.sync")


def settle_vanishing(
    mirror_settings: MirrorSettings, plan: Plan, report: SyncReport
) -> tuple[dict[str, float], list[str]]:
    """First sightings to remember, and the projects whose absence is now confirmed (to remove)."""
    if mirror_settings.keep_removed:
        return {}, []
    previous, now = plan.memory.vanishing, plan.started
    keep = set(plan.vanished) | (set(previous) if plan.keep_vanishing else set())
    reached = report.reached.among(previous)  # one pass over the run's names, not a set of them
    vanishing = {name: when for name, when in previous.items() if name in keep and name not in reached}
    gone: list[str] = [canonicalize_name(name) for name in report.gone]
    confirmed = []
    for name in gone:
        if name in plan.confirmable:
            confirmed.append(name)
            vanishing.pop(name, None)
        else:
            vanishing.setdefault(name, now)
    if len(confirmed) < len(gone):
        log.info("%d project(s) left upstream; removed once a later run confirms", len(gone) - len(confirmed))
    return vanishing, confirmed


def carry_failures(mirror_settings: MirrorSettings, plan: Plan, report: SyncReport) -> dict[str, Failure]:
    """The failures the next run retries: this run's, and quarantined ones still waiting; named in ``report``."""
    after, previous = mirror_settings.quarantine_after, plan.memory.failures
    carried: dict[str, Failure] = {canonicalize_name(f.name): f for f in plan.waiting}
    for name, entry in report.retry.items():
        carried[name] = retries.after_failure(previous.get(name), entry, plan.started, after)
    for failure in carried.values():
        if failure.quarantined(after):
            when = datetime.fromtimestamp(failure.retry_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            report.quarantined[failure.name] = f"failed {failure.count} runs in a row; next try after {when}"
    return carried
