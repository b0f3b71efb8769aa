"""The status page's charts: one small inline SVG bar chart per figure of the recent runs.

Drawn here from the history's rows, so the page needs no script, no library and no network.
Each bar is a run (oldest on the left), coloured by how the run ended, with its value as a
tooltip (an SVG ``<title>``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape

from frumious.protocol.runs import RunRow

WIDTH, HEIGHT = 360, 130
TOP, BOTTOM, LEFT = 22, 18, 6  # room for the title above and the axis note below
MIN_SLOTS = 30
# How a run ended -> its bar's colour (the page's legend and the browser test use these).
COLOURS = {"ok": "#2f6fdf", "failed": "#e0802c", "stopped": "#8c939b", "error": "#c93c3c"}


def bar_chart(
    title: str, runs: Sequence[RunRow], value: Callable[[RunRow], float | None], label: Callable[[float], str]
) -> str:
    """An SVG of ``value`` for each run; a run without the figure leaves a gap."""
    values = [value(run) for run in runs]
    peak = max((v for v in values if v is not None), default=0.0)
    plot_h = HEIGHT - TOP - BOTTOM
    # At least MIN_SLOTS slots, the newest run on the right: a few runs draw thin bars, not three slabs.
    slots = max(MIN_SLOTS, len(runs))
    slot = (WIDTH - 2 * LEFT) / slots
    first = slots - len(runs)
    gap = 1 if slot > 4 else 0
    bars = []
    for index, (run, amount) in enumerate(zip(runs, values, strict=True)):
        if amount is None:
            continue
        height = plot_h * (amount / peak) if peak > 0 else 0.0
        height = max(height, 2.0)  # a zero still shows as a sliver: the run happened
        x = LEFT + (first + index) * slot
        tip = f"{run.command} {run.outcome}: {label(amount)}"
        bars.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - height:.1f}" width="{max(1.0, slot - gap):.1f}" '
            f'height="{height:.1f}" fill="{COLOURS.get(run.outcome, COLOURS["error"])}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    axis = TOP + plot_h
    summary = f"{title}: last {len(runs)} runs, highest {label(peak)}"
    return (
        f'<svg class="chart" role="img" aria-label="{escape(summary)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg" shape-rendering="crispEdges">'
        f'<text x="{LEFT}" y="14" class="t">{escape(title)}</text>'
        f'<text x="{WIDTH - LEFT}" y="14" class="n" text-anchor="end">max {escape(label(peak))}</text>'
        + "".join(bars)
        + f'<line x1="{LEFT}" y1="{axis}" x2="{WIDTH - LEFT}" y2="{axis}" stroke="#9aa0a6"/>'
        f'<text x="{LEFT}" y="{HEIGHT - 4}" class="n">older</text>'
        f'<text x="{WIDTH - LEFT}" y="{HEIGHT - 4}" class="n" text-anchor="end">newest</text></svg>'
    )


def legend() -> str:
    swatches = (
        f'<span class="sw" style="background:{colour}"></span>{escape(outcome)}' for outcome, colour in COLOURS.items()
    )
    return '<p class="legend">' + " ".join(swatches) + "</p>"
