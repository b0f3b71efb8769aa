"""The status page at ``serve``'s root, and ``/-/status.json``: bytes out of values, nothing read here.

``serve/status.py`` gathers a ``StatusView`` (the ``status`` file's serial, ``.frumious/failed``,
the record's history and totals) and these functions render it: plain HTML with inline CSS and
SVG (``statuschart``), no script and nothing fetched from elsewhere, so the page works on an
air-gapped network. Every value from outside (names, reasons, the Host header) is escaped.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import escape
from urllib.parse import quote

import msgspec

from frumious.protocol import statuschart
from frumious.protocol.runs import RunRow, Totals

CHART_RUNS = 50  # the charts' runs (the table lists the last TABLE_RUNS of them)
TABLE_RUNS = 10
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


class Failing(msgspec.Struct, frozen=True):
    """A project the last runs could not mirror (``.frumious/failed``), and the last reason the history holds."""

    name: str
    count: int  # failed runs in a row
    retry_at: float
    reason: str | None = None


class StatusView(msgspec.Struct, frozen=True):
    """Everything the page shows. ``runs``/``totals`` are None when the record or its history is unavailable;
    ``local`` is False on an object store (no record on this machine)."""

    index_url: str
    now: float
    serial: int | None
    runs: list[RunRow] | None
    totals: Totals | None
    failing: list[Failing]
    local: bool = True

    @property
    def last_clean(self) -> RunRow | None:
        """The newest clean ``mirror`` run (a ``sync NAME`` does not bring the whole mirror up to date)."""
        return next((r for r in reversed(self.runs or []) if r.clean and r.command == "mirror"), None)

    @property
    def upstream(self) -> tuple[int | None, int | None]:
        """Upstream's serial as the newest run saw it, and how far the mirror's serial is behind it."""
        seen = next((r.upstream_serial for r in reversed(self.runs or []) if r.upstream_serial is not None), None)
        if seen is None or self.serial is None:
            return seen, None
        return seen, max(0, seen - self.serial)


def index_url(scheme: str, host: str | None, prefix: str, fallback: str) -> str:
    """The mirror's ``/simple/`` URL as a client reached it; a Host header that is not a host name is not echoed."""
    if host is None or not _HOST.fullmatch(host):
        host = fallback
    scheme = scheme if scheme in ("http", "https") else "http"
    return f"{scheme}://{host}{quote(prefix, safe='/')}simple/"


def human_age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def human_bytes(count: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def human_seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes} min {secs} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60} min"


def _when(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _card(label: str, value: str, note: str = "", warn: bool = False) -> str:
    cls = "card warn" if warn else "card"
    extra = f'<div class="note">{note}</div>' if note else ""
    return f'<div class="{cls}"><div class="label">{escape(label)}</div><div class="value">{value}</div>{extra}</div>'


def _cards(view: StatusView) -> str:
    last = view.last_clean
    if last is not None:
        age = view.now - last.finished
        clean = _card("Last clean run", escape(human_age(age)), escape(_when(last.finished)), warn=age > 86400)
    else:
        clean = _card("Last clean run", "unknown", "no clean run in the history", warn=True)
    seen, lag = view.upstream
    serial = "none yet" if view.serial is None else f"{view.serial:,}"
    behind = "lag unknown" if lag is None else f"{lag:,} behind upstream ({seen:,})" if seen is not None else ""
    cards = [clean, _card("Serial", serial, escape(behind), warn=bool(lag))]
    if view.totals is not None:
        cards.append(_card("Projects", f"{view.totals.projects:,}"))
        size = human_bytes(view.totals.bytes)
        cards.append(_card("Files", f"{view.totals.files:,}", escape(size)))
    else:
        cards.append(_card("Projects and files", "unavailable", "no record on this machine"))
    cards.append(_card("Failing projects", f"{len(view.failing):,}", warn=bool(view.failing)))
    return '<section class="cards">' + "".join(cards) + "</section>"


def _lag(run: RunRow) -> float | None:
    return None if run.lag is None else float(run.lag)


def _runs(view: StatusView) -> str:
    head = "<h2>Recent runs</h2>"
    if not view.local:
        return head + "<p>The run history is unavailable: the record is not kept on this machine (object store).</p>"
    if not view.runs:
        return head + (
            "<p>No run history yet: frumious has not finished a <code>mirror</code> or <code>sync</code> run"
            " on this mirror (a tree synced by bandersnatch, or never synced).</p>"
        )
    shown = view.runs[-CHART_RUNS:]
    charts = [
        statuschart.bar_chart("Duration", shown, lambda r: r.seconds, human_seconds),
        statuschart.bar_chart("Files downloaded", shown, lambda r: float(r.files), lambda v: f"{v:,.0f}"),
        statuschart.bar_chart("Lag behind upstream", shown, _lag, lambda v: f"{v:,.0f} serials"),
    ]
    rows = "".join(_run_row(run) for run in reversed(shown[-TABLE_RUNS:]))
    table = (
        "<table><thead><tr><th>finished</th><th>command</th><th>outcome</th><th>took</th><th>serial</th>"
        f"<th>lag</th><th>synced</th><th>failed</th><th>files</th><th>downloaded</th></tr></thead><tbody>{rows}"
        "</tbody></table>"
    )
    return head + '<div class="charts">' + "".join(charts) + "</div>" + statuschart.legend() + table


def _num(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def _run_row(run: RunRow) -> str:
    cells = (
        _when(run.finished), run.command, run.outcome, human_seconds(run.seconds), _num(run.serial_after),
        _num(run.lag), _num(run.synced), _num(run.failed), _num(run.files), human_bytes(run.bytes),
    )  # fmt: skip
    return f'<tr class="{escape(run.outcome)}">' + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>"


def _failing(view: StatusView) -> str:
    head = "<h2>Failing projects</h2>"
    if not view.failing:
        return head + "<p>None: every project of the last run was mirrored.</p>"
    rows = "".join(
        f"<tr><td>{escape(f.name)}</td><td>{f.count}</td><td>{escape(_retry(f, view.now))}</td>"
        f"<td>{escape(f.reason or 'unknown (not in the run history)')}</td></tr>"
        for f in view.failing
    )
    return (
        head + "<table><thead><tr><th>project</th><th>failed runs in a row</th><th>next try</th>"
        f"<th>last reason</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _retry(failure: Failing, now: float) -> str:
    return "the next run" if failure.retry_at <= now else _when(failure.retry_at) + " (quarantined)"


def client_snippets(url: str) -> list[tuple[str, str]]:
    """How to point pip, uv, poetry and pdm at ``url`` (each tool's name and its text, unescaped)."""
    host = url.split("://", 1)[-1].split("/", 1)[0]
    # pip refuses a plain-http index on any host but localhost unless it is trusted.
    trusted = f"\npip config set global.trusted-host {host}" if url.startswith("http://") else ""
    pip = f"pip config set global.index-url {url}{trusted}\n# or for one command:\npip install --index-url {url} NAME"
    uv = (
        f'# pyproject.toml (in uv.toml: [[index]])\n[[tool.uv.index]]\nname = "mirror"\nurl = "{url}"\n'
        f"default = true\n# or: export UV_DEFAULT_INDEX={url}"
    )
    poetry = (
        f"poetry source add --priority=primary mirror {url}\n# or in pyproject.toml:\n[[tool.poetry.source]]\n"
        f'name = "mirror"\nurl = "{url}"\npriority = "primary"'
    )
    pdm = f'pdm config pypi.url {url}\n# or in pyproject.toml:\n[[tool.pdm.source]]\nname = "pypi"\nurl = "{url}"'
    return [("pip", pip), ("uv", uv), ("poetry", poetry), ("pdm", pdm)]


def _clients(view: StatusView) -> str:
    blocks = "".join(
        f'<div class="client"><h3>{escape(tool)}</h3><pre>{escape(text)}</pre></div>'
        for tool, text in client_snippets(view.index_url)
    )
    url = escape(view.index_url)
    return f'<h2>Use this mirror</h2><p>Index URL: <code>{url}</code></p><div class="clients">{blocks}</div>'


_CSS = """
body{font:15px/1.45 system-ui,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;background:#f6f7f9}
body{color:#1d2329}
main{max-width:1140px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:26px;margin:0 0 2px}h2{font-size:19px;margin:28px 0 10px}h3{font-size:15px;margin:0 0 6px}
.sub{color:#5c6670;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:12px 16px;min-width:170px;flex:1}
.card.warn{border-color:#e8a33d;background:#fff8f0}
.label{color:#5c6670;font-size:13px}.value{font-size:24px;font-weight:600}.note{color:#5c6670;font-size:13px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{background:#fff;border:1px solid #dde1e6;border-radius:8px}
.chart .t{font-size:13px;font-weight:600;fill:#1d2329}.chart .n{font-size:11px;fill:#5c6670}
.legend{font-size:13px;color:#5c6670}
.sw{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;border-radius:2px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px}
th,td{border:1px solid #dde1e6;padding:4px 8px;text-align:left;vertical-align:top}th{background:#eef0f3}
tr.failed td{background:#fff8f0}tr.stopped td,tr.error td{background:#f4f4f5}
.clients{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:12px}
.client{background:#fff;border:1px solid #dde1e6;border-radius:8px;padding:10px 14px}
pre,code{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:13px}
pre{background:#f0f2f5;padding:8px;border-radius:6px;overflow-x:auto;margin:0;white-space:pre-wrap;word-break:break-all}
footer{margin-top:28px;color:#5c6670;font-size:13px}
"""


def render_html(view: StatusView) -> bytes:
    body = (
        f'<main><h1>PyPI mirror</h1><p class="sub">Served by frumious. Status as of {escape(_when(view.now))}.</p>'
        + _cards(view) + _runs(view) + _failing(view) + _clients(view)
        + '<footer>Machine-readable: <a href="-/status.json">-/status.json</a> · health: '
        '<a href="-/health">-/health</a> · <a href="simple/">the index</a></footer></main>'
    )  # fmt: skip
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>PyPI mirror status</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )
    return page.encode("utf-8")


def render_json(view: StatusView) -> bytes:
    """The page's figures for scripts (``/-/status.json``); times are Unix seconds."""
    last = view.last_clean
    seen, lag = view.upstream
    doc = {
        "index_url": view.index_url,
        "serial": view.serial,
        "upstream_serial": seen,
        "lag": lag,
        "last_clean_run": None if last is None else {"finished": last.finished, "age": round(view.now - last.finished)},
        "projects": None if view.totals is None else view.totals.projects,
        "files": None if view.totals is None else view.totals.files,
        "bytes": None if view.totals is None else view.totals.bytes,
        "failing": [
            {"name": f.name, "failed_runs": f.count, "retry_at": f.retry_at, "reason": f.reason} for f in view.failing
        ],
        "history": None if view.runs is None else [_run_doc(run) for run in view.runs],
    }  # fmt: skip
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def _run_doc(run: RunRow) -> dict[str, object]:
    return {
        "command": run.command, "started": run.started, "finished": run.finished, "seconds": round(run.seconds, 3),
        "exit_status": run.exit_status, "outcome": run.outcome, "serial_before": run.serial_before,
        "serial_after": run.serial_after, "upstream_serial": run.upstream_serial, "lag": run.lag,
        "synced": run.synced, "failed": run.failed, "removed": run.removed, "files": run.files, "bytes": run.bytes,
    }  # fmt: skip
