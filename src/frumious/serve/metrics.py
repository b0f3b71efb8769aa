"""``/metrics`` on ``frumious serve``: requests, bytes and latency by route, the page cache, the mirror's state.

Workers are forked processes, so the counters live in prometheus-client's multiprocess mode: each
process writes its own small mmap'd file in a directory made for this serve (``multiprocess_dir``,
set up before the fork and removed at exit), and a scrape, whichever worker answers it, sums them
(``MultiProcessCollector``). The mirror's serial and the age of its last clean run are read from the
state files at scrape time, like ``/-/health``. Routes are a small fixed set of labels, never the
path: one series per project would grow without bound.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from frumious.errors import FrumiousError
from frumious.protocol import layout, serving, statefiles
from frumious.storage.base import Store

__all__ = ["ROUTES", "ServeMetrics", "multiprocess_dir", "route_of"]

ROUTES = ("root", "project", "file", "json", "metadata", "health", "metrics", "status", "other")
ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds; pages from memory take well under a millisecond, large files over a slow link minutes.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

Handle = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@contextlib.contextmanager
def multiprocess_dir() -> Iterator[str]:
    """A fresh directory for this serve's metric files, in multiprocess mode for this process and its forks.

    prometheus-client picks its value class from the environment when it is first imported; this
    process may have imported it already (the CLI), so the class is switched here too, before any
    serve metric exists. Both are put back, and the directory removed, when the serve ends.
    """
    directory = tempfile.mkdtemp(prefix="frumious-metrics-")
    previous_env, previous_class = os.environ.get(ENV), values.ValueClass
    os.environ[ENV] = directory
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]  # (the library has no hints here)
    try:
        yield directory
    finally:
        values.ValueClass = previous_class
        if previous_env is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous_env
        shutil.rmtree(directory, ignore_errors=True)


def route_of(raw_path: str, root_path: str = "/") -> str:
    """The route label of a request path (one of ``ROUTES``)."""
    parts = serving.split_path(raw_path, root_path)
    if parts is None:
        return "other"
    match parts[0]:
        case []:
            return "status"
        case ["simple"]:
            return "root"
        case ["simple", _]:
            return "project"
        case ["packages", _, *_] as segments:
            return "metadata" if segments[-1].endswith(".metadata") else "file"
        case ["json", _] | ["pypi", _, "json"]:
            return "json"
        case ["-", "health"]:
            return "health"
        case ["metrics"]:
            return "metrics"
        case ["-", "status", *_] | ["-", "status.json"]:
            return "status"
    return "other"


def sent_bytes(request: web.BaseRequest, response: web.StreamResponse) -> int:
    """The body bytes a response sent (sendfile included): none for HEAD, 204 and 304."""
    if request.method == "HEAD" or response.status in (204, 304):
        return 0
    return response.content_length or 0


class ServeMetrics:
    """One serve process's metrics, and the ``/metrics`` page that sums every process's."""

    def __init__(self, directory: str, store: Store, root_path: str = "/") -> None:
        self.directory, self.store, self.root_path = directory, store, root_path
        self.requests = Counter(
            "frumious_serve_requests", "Requests answered, by route and status.", ["route", "status"], registry=None
        )
        self.sent = Counter("frumious_serve_response_bytes", "Body bytes sent, by route.", ["route"], registry=None)
        self.latency = Histogram(
            "frumious_serve_request_duration_seconds",
            "Time from a request's arrival to its response's last byte, by route.",
            ["route"],
            buckets=BUCKETS,
            registry=None,
        )
        self.hits = Counter("frumious_serve_page_cache_hits", "Pages served from the page cache.", registry=None)
        self.misses = Counter("frumious_serve_page_cache_misses", "Pages read from the store.", registry=None)

    def page_cache(self, hit: bool) -> None:
        (self.hits if hit else self.misses).inc()

    def observe(self, request: web.BaseRequest, response: web.StreamResponse, seconds: float) -> None:
        route = route_of(request.raw_path, self.root_path)
        self.requests.labels(route, str(response.status)).inc()
        self.sent.labels(route).inc(sent_bytes(request, response))
        self.latency.labels(route).observe(seconds)

    def wrap(self, handle: Handle) -> Handle:
        """``handle`` with ``/metrics`` answered here."""

        async def handle_with_metrics(request: web.BaseRequest) -> web.StreamResponse:
            if request.method in ("GET", "HEAD") and route_of(request.raw_path, self.root_path) == "metrics":
                return await self.scrape()
            return await handle(request)

        return handle_with_metrics

    async def scrape(self) -> web.Response:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.directory)  # type: ignore[no-untyped-call]
        registry.register(_MirrorState(*await self._state()))
        headers = {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
        return web.Response(body=generate_latest(registry), headers=headers)

    async def _state(self) -> tuple[int | None, float | None]:
        """The mirror's serial (``status``) and when its last clean run started (``web/last-modified``)."""
        serial: int | None = None
        with contextlib.suppress(FrumiousError):  # no status yet, or one without a serial
            serial = statefiles.parse_serial(await self._text(layout.STATUS))
        started: float | None = None
        with contextlib.suppress(FrumiousError, ValueError):
            moment = datetime.strptime(await self._text(layout.LAST_MODIFIED), "%Y%m%dT%H:%M:%S")
            started = moment.replace(tzinfo=UTC).timestamp()
        return serial, started

    async def _text(self, key: str) -> str:
        return (await self.store.read(key)).decode("ascii", "replace").strip()


class _MirrorState(Collector):
    """The state files' figures as gauges, built at scrape time (never in a process's metric files)."""

    def __init__(self, serial: int | None, last_clean: float | None) -> None:
        self.serial, self.last_clean = serial, last_clean

    def collect(self) -> Iterator[Metric]:
        if self.serial is not None:
            yield GaugeMetricFamily("frumious_mirror_serial", "The mirror's serial (its status file).", self.serial)
        if self.last_clean is not None:
            age = max(0.0, time.time() - self.last_clean)
            text = "Seconds since the last clean mirror run started (web/last-modified): how stale the mirror may be."
            yield GaugeMetricFamily("frumious_mirror_last_clean_run_age_seconds", text, age)
