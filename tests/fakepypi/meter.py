"""Rates seen by the fake: the busiest window of a series of timed events (requests, bytes)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["busiest_window"]


def busiest_window(events: Iterable[tuple[float, int]], window: float = 1.0) -> int:
    """The largest total weight of the events in any half-open window [t, t + window).

    Every window that could hold the most starts at an event, so sliding over the sorted events
    checks all of them (stricter than counting per aligned second).
    """
    timed = sorted(events)
    best = total = first = 0
    for at, weight in timed:
        total += weight
        while timed[first][0] <= at - window:
            total -= timed[first][1]
            first += 1
        best = max(best, total)
    return best
