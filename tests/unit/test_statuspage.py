"""The status page's pure rendering (protocol/statuspage, statuschart): values in, bytes out."""

from __future__ import annotations

import json
import re

import pytest

from frumious.protocol import statuschart, statuspage
from frumious.protocol.runs import RunRow, Totals, capped
from frumious.protocol.statuspage import Failing, StatusView

NOW = 1_700_000_000.0
URL = "http://mirror.example:8000/simple/"


def run(outcome: str = "ok", *, command: str = "mirror", ago: float = 600, **figures: object) -> RunRow:
    values: dict[str, object] = {"serial_after": 100, "upstream_serial": 100, "lag": 0, "files": 5, "bytes": 2048}
    values.update(figures)
    return RunRow(command, NOW - ago - 30, NOW - ago, 0 if outcome == "ok" else 1, outcome, **values)  # type: ignore[arg-type]


def view(**changes: object) -> StatusView:
    values: dict[str, object] = {
        "index_url": URL,
        "now": NOW,
        "serial": 100,
        "runs": [run(ago=7200), run("failed", ago=3600, lag=4, upstream_serial=104), run(ago=600)],
        "totals": Totals(3, 12, 3 * 1024 * 1024),
        "failing": [],
    }
    values.update(changes)
    return StatusView(**values)  # type: ignore[arg-type]


def text(page: bytes) -> str:
    """The page's visible text (tags dropped), for asserting what a reader sees."""
    return re.sub(r"\s+", " ", re.sub(r"<style>.*?</style>|<[^>]+>", " ", page.decode()))


@pytest.mark.parametrize(
    ("scheme", "host", "prefix", "expected"),
    [
        ("http", "mirror.example:8000", "/", "http://mirror.example:8000/simple/"),
        ("https", "pypi.corp", "/mirror/", "https://pypi.corp/mirror/simple/"),
        ("http", "[::1]:8000", "/", "http://[::1]:8000/simple/"),
        ("http", "10.0.0.5", "/", "http://10.0.0.5/simple/"),
        # Not a host name: the server's own address is used, the header is never echoed.
        ("http", '"><script>alert(1)</script>', "/", "http://127.0.0.1:8000/simple/"),
        ("http", "evil.example/path?", "/", "http://127.0.0.1:8000/simple/"),
        ("http", None, "/", "http://127.0.0.1:8000/simple/"),
        ("http", "a b", "/", "http://127.0.0.1:8000/simple/"),
        ("javascript", "x.example", "/", "http://x.example/simple/"),
        ("http", "x.example", "/my mirror/", "http://x.example/my%20mirror/simple/"),
    ],
)
def test_index_url(scheme: str, host: str | None, prefix: str, expected: str) -> None:
    assert statuspage.index_url(scheme, host, prefix, "127.0.0.1:8000") == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "just now"), (59, "just now"), (60, "1 minute ago"), (7200, "2 hours ago"), (86400 * 3, "3 days ago")],
)
def test_human_age(seconds: float, expected: str) -> None:
    assert statuspage.human_age(seconds) == expected


def test_the_page_shows_every_figure() -> None:
    failing = [Failing("yanky", 2, NOW + 3600, "HTTP 403 from upstream")]
    shown = text(statuspage.render_html(view(failing=failing)))
    assert "Last clean run 10 minutes ago" in shown
    assert "Serial 100" in shown and "0 behind upstream (100)" in shown
    assert "Projects 3" in shown and "Files 12 3.0 MiB" in shown
    assert "Failing projects 1" in shown
    assert "yanky 2" in shown and "HTTP 403 from upstream" in shown and "(quarantined)" in shown
    for tool in ("pip", "uv", "poetry", "pdm"):
        assert f" {tool} " in shown
    assert f"pip config set global.index-url {URL}" in shown
    assert "pip config set global.trusted-host mirror.example:8000" in shown  # plain http needs it
    assert f'url = "{URL}"' in shown.replace("&quot;", '"')


def test_the_page_needs_nothing_from_elsewhere() -> None:
    page = statuspage.render_html(view()).decode()
    assert "<script" not in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no CDN, no fonts, no images from afar
    assert "@import" not in page and "url(" not in page


def test_the_charts_draw_one_bar_per_run_coloured_by_outcome() -> None:
    page = statuspage.render_html(view()).decode()
    assert page.count("<svg") == 3  # duration, files, lag
    assert page.count(f'fill="{statuschart.COLOURS["failed"]}"') == 3  # one failed run, in each chart
    assert page.count(f'fill="{statuschart.COLOURS["ok"]}"') == 6


def test_a_run_without_a_figure_leaves_a_gap() -> None:
    runs = [run(lag=None), run(lag=7)]
    svg = statuschart.bar_chart("Lag", runs, lambda r: None if r.lag is None else float(r.lag), str)
    assert svg.count("<rect") == 1 and "max 7" in svg


def test_a_clean_sync_is_not_the_last_clean_mirror_run() -> None:
    runs = [run(ago=86400 * 2), run(command="sync", ago=60), run("stopped", ago=30)]
    page = view(runs=runs)
    assert page.last_clean is runs[0]
    shown = text(statuspage.render_html(page))
    assert "Last clean run 2 days ago" in shown
    assert 'class="card warn"><div class="label">Last clean run' in statuspage.render_html(page).decode()


def test_lag_is_upstream_seen_by_the_newest_run_minus_the_serial_now() -> None:
    assert view(serial=98, runs=[run(upstream_serial=90), run(upstream_serial=105)]).upstream == (105, 7)
    assert view(serial=None).upstream == (100, None)
    assert view(runs=None).upstream == (None, None)


def test_without_history_the_page_says_so() -> None:
    shown = text(statuspage.render_html(view(runs=None, totals=Totals(0, 0, 0), serial=None)))
    assert "No run history yet" in shown
    assert "Last clean run unknown" in shown and "Serial none yet" in shown
    assert "<svg" not in shown


def test_on_an_object_store_the_record_figures_are_unavailable() -> None:
    page = view(runs=None, totals=None, local=False, failing=[Failing("broken", 1, 0.0)])
    shown = text(statuspage.render_html(page))
    assert "Projects and files unavailable" in shown
    assert "run history is unavailable" in shown
    assert "broken 1 the next run unknown (not in the run history)" in shown
    assert "Serial 100" in shown  # the cheap figures are still there


def test_everything_from_outside_is_escaped() -> None:
    hostile = '<img src=x onerror="alert(1)">'
    page = view(
        index_url='http://x/"><b>/simple/',
        failing=[Failing(hostile, 1, 0.0, hostile)],
        runs=[run(command=hostile, reasons={hostile: hostile})],
    )
    body = statuspage.render_html(page).decode()
    assert "<img" not in body and "<b>" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body


def test_status_json_has_the_same_figures() -> None:
    doc = json.loads(statuspage.render_json(view(failing=[Failing("yanky", 2, NOW, "HTTP 403")])))
    assert doc["serial"] == 100 and doc["upstream_serial"] == 100 and doc["lag"] == 0
    assert doc["last_clean_run"] == {"finished": NOW - 600, "age": 600}
    assert (doc["projects"], doc["files"], doc["bytes"]) == (3, 12, 3 * 1024 * 1024)
    assert doc["failing"] == [{"name": "yanky", "failed_runs": 2, "retry_at": NOW, "reason": "HTTP 403"}]
    assert [r["outcome"] for r in doc["history"]] == ["ok", "failed", "ok"]
    assert doc["index_url"] == URL
    empty = json.loads(statuspage.render_json(view(runs=None, totals=None)))
    assert empty["history"] is None and empty["projects"] is None and empty["last_clean_run"] is None


def test_reasons_are_capped_and_one_line() -> None:
    reasons = {f"p{i:04}": "line one\nline two" for i in range(500)}
    kept = capped(reasons)
    assert len(kept) == 100 and kept["p0000"] == "line one line two"
