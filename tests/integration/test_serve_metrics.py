"""``/metrics`` on ``frumious serve`` (issue 15 item 5) and SIGHUP reopening its logs (item 2).

A real ``frumious serve`` on 127.0.0.1, in its own process, over a mirror the fake PyPI filled.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from .helpers import mirror_dir, run
from .test_serve_cli import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(port: int, path: str, accept: str | None = None) -> tuple[int, bytes]:
    """One request on a connection of its own (so the kernel spreads them over the workers)."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_until_up(server: subprocess.Popen[Any], port: int, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while True:
        try:
            if get(port, "/-/health")[0] == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise AssertionError("frumious serve did not start")
        time.sleep(0.2)


@contextmanager
def serving(config: Path, tmp_path: Path, workers: int) -> Iterator[tuple[subprocess.Popen[Any], int]]:
    port = free_port()
    command = [sys.executable, "-m", "frumious", "-c", str(config), "serve", "--port", str(port)]
    env = {**os.environ, "TMPDIR": str(tmp_path / "tmp")}  # where serve makes its metrics directory
    (tmp_path / "tmp").mkdir(exist_ok=True)
    with open(tmp_path / "serve.err", "w") as err:
        server = subprocess.Popen([*command, "--workers", str(workers)], stderr=err, env=env)
    try:
        wait_until_up(server, port)
        yield server, port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def scrape_when(port: int, done: Any, limit: float = 30.0) -> Samples:
    """/metrics once ``done(samples)``: a response's line is counted just after its last byte went out."""
    deadline = time.monotonic() + limit
    while True:
        status, body = get(port, "/metrics")
        assert status == 200
        found = samples(body.decode())
        if done(found) or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_sum_every_worker(fake_pypi, make_config, tmp_path, workers) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    stamp = datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
    (root / "web" / "last-modified").write_text(stamp.strftime("%Y%m%dT%H:%M:%S\n"))
    wheel = next(f for f in fake_pypi.index.project("foo-bar").files() if f.filename.endswith(".whl"))
    pages = sum(1 for d in ("", "foo-bar") for p in (root / "web" / "simple" / d).glob("index.*"))
    with serving(config, tmp_path, workers) as (_server, port):
        for _ in range(12):
            assert get(port, "/simple/")[0] == 200
            assert get(port, "/simple/foo-bar/", "application/vnd.pypi.simple.v1+json")[0] == 200
        for _ in range(5):
            assert get(port, "/" + wheel.path.lstrip("/"))[1] == wheel.artifact.content
        for _ in range(3):
            assert get(port, "/simple/no-such-project/")[0] == 404
        assert get(port, "/secret/../../etc/passwd")[0] == 404
        # The kernel decides which worker accepts each connection (under load one may take them all):
        # ask /-/health (not counted below) until every worker has answered some, a bounded number of times.
        for _ in range(500):
            if len([n for n in _requests_by_process(tmp_path / "tmp").values() if n > 0]) == workers:
                break
            assert get(port, "/-/health")[0] == 200
        before = time.time()
        found = scrape_when(port, lambda s: value(s, "frumious_serve_requests_total", route="file", status="200") == 5)
        after = time.time()
        served_by = _requests_by_process(tmp_path / "tmp")
    # Every request counted once, whichever worker answered it: 24 pages and 5 files.
    assert value(found, "frumious_serve_requests_total", route="root", status="200") == 12
    assert value(found, "frumious_serve_requests_total", route="project", status="200") == 12
    assert value(found, "frumious_serve_requests_total", route="project", status="404") == 3
    assert value(found, "frumious_serve_requests_total", route="file", status="200") == 5
    assert value(found, "frumious_serve_requests_total", route="other", status="404") == 1
    assert value(found, "frumious_serve_response_bytes_total", route="file") == 5 * len(wheel.artifact.content)
    assert value(found, "frumious_serve_request_duration_seconds_count", route="root") == 12
    assert value(found, "frumious_serve_request_duration_seconds_bucket", route="root", le="+Inf") == 12
    labels = {dict(key)["route"] for (name, key) in found if name == "frumious_serve_requests_total"}
    assert labels <= {"root", "project", "file", "json", "metadata", "health", "metrics", "status", "other"}
    # Each page request looks up the page's formats on disk: cached after a worker's first read of each.
    hits = value(found, "frumious_serve_page_cache_hits_total")
    misses = value(found, "frumious_serve_page_cache_misses_total")
    assert hits + misses == 12 * pages
    assert pages <= misses <= workers * pages
    # The mirror's state, read at scrape time.
    assert value(found, "frumious_mirror_serial") == int((root / "status").read_text())
    age = value(found, "frumious_mirror_last_clean_run_age_seconds")
    assert before - stamp.timestamp() <= age <= after - stamp.timestamp()
    # The requests really were spread: with 2 workers each answered some (the kernel hashes connections).
    assert sum(served_by.values()) >= 33
    assert len([n for n in served_by.values() if n > 0]) == workers
    assert list((tmp_path / "tmp").iterdir()) == []  # the metrics directory is removed at exit


def _requests_by_process(tmp: Path) -> dict[str, float]:
    """Requests counted in each process's own metrics file (the serve's multiprocess directory)."""
    [directory] = list(tmp.glob("frumious-metrics-*"))
    counted: dict[str, float] = {}
    for path in directory.glob("counter_*.db"):
        metrics = MultiProcessCollector.merge([str(path)], accumulate=True)
        counted[path.stem] = sum(
            s.value for m in metrics for s in m.samples if s.name == "frumious_serve_requests_total"
        )
    return counted


ACCESS_LOG_CONFIG = """
[loggers]
keys = root, access

[handlers]
keys = stderr, access

[formatters]
keys = bare

[logger_root]
level = INFO
handlers = stderr

[logger_access]
level = INFO
handlers = access
qualname = frumious.access
propagate = 0

[handler_stderr]
class = StreamHandler
formatter = bare
args = (sys.stderr,)

[handler_access]
class = FileHandler
formatter = bare
args = ({path!r}, 'a')

[formatter_bare]
format = %%(message)s
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_sighup_reopens_the_access_log(fake_pypi, make_config, tmp_path, workers) -> None:
    log = tmp_path / "access.log"
    logging_config = tmp_path / "logging.conf"
    logging_config.write_text(ACCESS_LOG_CONFIG.format(path=str(log)).replace("%%", "%"))
    config = make_config(tmp_path, fake_pypi, log_config=logging_config)
    assert run(config, "mirror") == 0
    with serving(config, tmp_path, workers) as (server, port):
        assert get(port, "/simple/?before")[0] == 200
        _wait_for(lambda: "/simple/?before" in log.read_text())
        rotated = log.rename(tmp_path / "access.log.1")  # what logrotate does before its postrotate
        server.send_signal(signal.SIGHUP)
        # The server keeps serving; once the signal is handled, lines go to a new access.log.
        _wait_for(lambda: get(port, "/simple/?after")[0] == 200 and log.exists() and "?after" in log.read_text())
        assert server.poll() is None
    assert "/simple/?before" in rotated.read_text()
    assert '"GET /simple/?after HTTP/1.1" 200' in log.read_text()
    assert "?before" not in log.read_text()


def _wait_for(condition: Any, limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_health_still_answers_alongside_metrics(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    with serving(config, tmp_path, 1) as (_server, port):
        status, body = get(port, "/-/health")
        assert status == 200 and json.loads(body)["status"] == "ok"
        found = scrape_when(port, lambda s: value(s, "frumious_serve_requests_total", route="health", status="200") > 0)
    assert value(found, "frumious_serve_requests_total", route="health", status="200") >= 2
