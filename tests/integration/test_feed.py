"""The change feed end to end: frumious A publishes it, ``frumious serve`` or nginx serves it, frumious B reads it.

B's requests are counted on the server's access log: after a change upstream and a run of A,
B's run asks for the feed and the changed project only, never the listing; a B behind the
feed's retention, or a malformed feed, falls back to the listing (with one warning for the latter).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakepypi import FakePyPI, default_index, make_wheel, run_fake_pypi, write_config

from .helpers import mirror_dir, packages, run
from .nginx import free_port, require_nginx, run_nginx
from .test_clients import SERVE, _wait_listening

PROJECT_PATH = re.compile(r"^/(?:simple|pypi|json)/([^/]+)")
REQUEST = re.compile(r'"(?:GET|HEAD) (\S+) HTTP/[\d.]+"')


@dataclass
class Chain:
    pypi: FakePyPI
    a: Path  # A's config: feed = true
    b: Path  # B's config: its master is A's server
    log: Path  # the server's access log

    def mark(self) -> int:
        return len(self.paths(0))

    def paths(self, since: int) -> list[str]:
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        return [m[1] for line in lines if (m := REQUEST.search(line))][since:]

    def projects_asked(self, since: int) -> set[str]:
        return {m[1] for path in self.paths(since) if (m := PROJECT_PATH.match(path))}

    def head(self) -> dict[str, object]:
        return dict(json.loads((mirror_dir(self.a) / "web" / "feed" / "head.json").read_text()))

    def change_upstream(self, name: str, version: str) -> str:
        wheel = make_wheel(name, version)
        self.pypi.index.add(name, version, wheel)
        return wheel.filename


@contextmanager
def served_by_frumious(config: Path, work: Path) -> Iterator[tuple[str, Path]]:
    port, log = free_port(), work / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", SERVE, str(config), str(port)], stdout=out, stderr=out)
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log.read_text()


@contextmanager
def served_by_nginx(config: Path, work: Path) -> Iterator[tuple[str, Path]]:
    require_nginx()
    with run_nginx(mirror_dir(config) / "web", work / "nginx") as nginx:
        yield nginx.url, nginx.access_log


@pytest.fixture(params=["frumious", "nginx"])
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    """A mirrored with the feed, served, and B's first (full) run from it done."""
    serve = served_by_nginx if request.param == "nginx" else served_by_frumious
    with run_fake_pypi(default_index()) as pypi:
        (tmp_path / "a").mkdir()
        a = write_config(tmp_path / "a", pypi, feed=True, json=True, confirm_removal_after=0, max_delete_share=1)
        assert run(a, "mirror") == 0
        with serve(a, tmp_path) as (url, log):
            (tmp_path / "b").mkdir()
            b = write_config(tmp_path / "b", url, confirm_removal_after=0, max_delete_share=1)
            assert run(b, "mirror") == 0
            assert packages(mirror_dir(b)) == packages(mirror_dir(a))
            yield Chain(pypi, a, b, log)


def test_a_downstream_fetches_only_what_the_feed_names(chain: Chain) -> None:
    wheel = chain.change_upstream("yanky", "2.0")
    assert run(chain.a, "mirror") == 0
    since = chain.mark()
    assert run(chain.b, "mirror") == 0
    paths = chain.paths(since)
    assert "/feed/head.json" in paths and any(path.startswith("/feed/segments/") for path in paths)
    assert "/simple/" not in paths  # the listing is not fetched
    assert chain.projects_asked(since) == {"yanky"}
    assert wheel in packages(mirror_dir(chain.b))
    assert (mirror_dir(chain.b) / "status").read_text() == (mirror_dir(chain.a) / "status").read_text()
    # Nothing changed since: one request, the head.
    assert run(chain.a, "mirror") == 0
    since = chain.mark()
    assert run(chain.b, "mirror") == 0
    assert chain.paths(since) == ["/feed/head.json"]


def _age_segments(chain: Chain) -> None:
    """Make every segment of A's feed look a year old, so A's next run drops them (retention)."""
    path = mirror_dir(chain.a) / "web" / "feed" / "head.json"
    head = json.loads(path.read_text())
    for segment in head["segments"]:
        segment["written"] = "2000-01-01T00:00:00Z"
    path.write_text(json.dumps(head))


@pytest.mark.parametrize("chain", ["frumious"], indirect=True)
def test_a_downstream_behind_the_feeds_retention_reads_the_listing(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    first = chain.change_upstream("yanky", "2.0")
    assert run(chain.a, "mirror") == 0
    _age_segments(chain)
    second = chain.change_upstream("dep-lib", "0.2")
    assert run(chain.a, "mirror") == 0
    head = chain.head()
    assert len(head["segments"]) == 1  # type: ignore[arg-type]
    b_serial = int((mirror_dir(chain.b) / "status").read_text())
    assert head["complete-from"] > b_serial  # type: ignore[operator]
    assert not list((mirror_dir(chain.a) / "web" / "feed" / "segments").glob(f"*-{b_serial:012d}.json"))
    capsys.readouterr()
    since = chain.mark()
    assert run(chain.b, "mirror") == 0
    assert "/simple/" in chain.paths(since)
    assert "change feed starts at serial" in capsys.readouterr().err
    assert {first, second} <= packages(mirror_dir(chain.b))


@pytest.mark.parametrize("chain", ["frumious"], indirect=True)
def test_a_malformed_feed_falls_back_to_the_listing_with_one_warning(
    chain: Chain, capsys: pytest.CaptureFixture[str]
) -> None:
    wheel = chain.change_upstream("yanky", "2.0")
    assert run(chain.a, "mirror") == 0
    (segment,) = (mirror_dir(chain.a) / "web" / "feed" / "segments").iterdir()
    segment.write_text('{"format": "frumious.feed/1", "after": 1, "through": 2, "events": []}')
    capsys.readouterr()
    since = chain.mark()
    assert run(chain.b, "mirror") == 0
    err = capsys.readouterr().err
    assert err.count("change feed is unusable") == 1, err
    assert "/simple/" in chain.paths(since)
    assert wheel in packages(mirror_dir(chain.b))


@pytest.mark.parametrize("chain", ["frumious"], indirect=True)
def test_a_feed_that_went_backwards_falls_back_to_the_listing(chain: Chain, capsys: pytest.CaptureFixture[str]) -> None:
    path = mirror_dir(chain.a) / "web" / "feed" / "head.json"
    head = json.loads(path.read_text())
    head["serial"] = head["complete-from"] = 1  # as if A were restored from an old backup
    path.write_text(json.dumps(head))
    capsys.readouterr()
    since = chain.mark()
    assert run(chain.b, "mirror") == 0
    assert "behind this mirror's" in capsys.readouterr().err
    assert "/simple/" in chain.paths(since)


@pytest.mark.parametrize("chain", ["frumious"], indirect=True)
def test_a_project_removed_upstream_leaves_the_downstream_through_the_feed(chain: Chain) -> None:
    assert int((mirror_dir(chain.a) / "status").read_text()) == 6
    chain.pypi.index.remove_project("yanky")
    assert run(chain.a, "mirror") == 0  # first sighting
    assert run(chain.a, "mirror") == 0  # confirmed and removed: the serial did not move, the event waits
    assert not (mirror_dir(chain.a) / "web" / "simple" / "yanky").exists()
    chain.change_upstream("dep-lib", "0.2")
    assert run(chain.a, "mirror") == 0
    events = [json.loads(line.rstrip(",")) for line in _segment_lines(chain)]
    assert [event for event in events if event.get("removed")] == [{"name": "yanky", "serial": 6, "removed": True}]
    since = chain.mark()
    assert run(chain.b, "mirror") == 0  # B's first sighting (A answers 404) ...
    assert run(chain.b, "mirror") == 0  # ... confirmed on the next run, still from the feed
    assert "/simple/" not in chain.paths(since)
    assert not (mirror_dir(chain.b) / "web" / "simple" / "yanky").exists()
    assert chain.projects_asked(since) == {"yanky", "dep-lib"}


def _segment_lines(chain: Chain) -> list[str]:
    segments = sorted((mirror_dir(chain.a) / "web" / "feed" / "segments").iterdir())
    return [line for line in segments[-1].read_text().splitlines() if line.startswith("  {")]
