"""A sharded mirror served (`frumious serve`) and read by a downstream through its change feed."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fakepypi import FakePyPI, make_wheel

from .helpers import mirror_dir, packages, run
from .test_feed import served_by_frumious
from .test_serve import fetch
from .test_shard_ops import shard_size

REQUEST = re.compile(r'"(?:GET|HEAD) (\S+) HTTP/[\d.]+"')


def shard_round(config: Path, count: int) -> None:
    """Every shard syncs once; the last publishes."""
    for index in range(count):
        assert run(config, "mirror", "--shard", f"{index}/{count}") == 0


def asked(log: Path, since: int) -> list[str]:
    return [m[1] for line in log.read_text().splitlines()[since:] if (m := REQUEST.search(line))]


def test_a_downstream_follows_a_sharded_mirrors_feed(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = make_config(tmp_path / "a", fake_pypi, shards=2, feed=True, json=True)
    shard_round(a, 2)
    assert (mirror_dir(a) / "web/feed/head.json").exists()
    with served_by_frumious(a, tmp_path) as (url, log):
        b = make_config(tmp_path / "b", url)
        assert run(b, "mirror") == 0
        assert packages(mirror_dir(b)) == packages(mirror_dir(a))
        # A change in each shard's projects (yanky: shard 0 of 2; foo-bar: shard 1), then a second round.
        added = set()
        for name, version in (("yanky", "3.0"), ("foo-bar", "2.0")):
            wheel = make_wheel(name, version)
            fake_pypi.index.add(name, version, wheel)
            added.add(wheel.filename)
        shard_round(a, 2)
        since = len(log.read_text().splitlines())
        assert run(b, "mirror") == 0
        paths = asked(log, since)
        assert "/feed/head.json" in paths and "/simple/" not in paths  # the feed, not the listing
        assert added <= packages(mirror_dir(b))
        assert packages(mirror_dir(b)) == packages(mirror_dir(a))
        assert (mirror_dir(b) / "status").read_text() == (mirror_dir(a) / "status").read_text()


def test_serve_answers_for_a_sharded_mirror(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path, fake_pypi, shards=2)
    shard_round(config, 2)
    root = mirror_dir(config)
    assert not (root / "frumious.sqlite").exists()  # each shard's record is its own
    serial = int((root / "status").read_text())
    with served_by_frumious(config, tmp_path) as (url, _log):
        index = fetch(url, "/simple/", {"Accept": "application/vnd.pypi.simple.v1+json"})
        assert index.status == 200
        assert sorted(p["name"] for p in json.loads(index.body)["projects"]) == ["dep-lib", "foo-bar", "yanky"]
        page = fetch(url, "/simple/foo-bar/", {"Accept": "application/vnd.pypi.simple.v1+json"})
        assert page.status == 200 and json.loads(page.body)["files"]
        health = fetch(url, "/-/health")
        assert health.status == 200 and json.loads(health.body)["serial"] == serial
        fake_pypi.fail("/simple/yanky/", 403, times=None)
        assert run(config, "mirror", "--shard", "0/2", "--force-check") == 1
        status = fetch(url, "/-/status.json")
        assert status.status == 200, status.body
        doc = json.loads(status.body)
        # No record at the top: each shard's is read, their totals summed, their runs labelled.
        assert (doc["projects"], doc["serial"]) == (3, serial)
        sizes = [shard_size(root, label) for label in ("0-of-2", "1-of-2")]
        assert (doc["files"], doc["bytes"]) == (sum(f for f, _ in sizes), sum(b for _, b in sizes))
        assert all(files for files, _ in sizes)
        commands = [row["command"] for row in doc["history"]]
        assert {"mirror 0/2", "mirror 1/2"} <= set(commands), commands
        assert [failing["name"] for failing in doc["failing"]] == ["yanky"]
        assert "HTTP 403" in (doc["failing"][0]["reason"] or "")
        page = fetch(url, "/")
        assert page.status == 200 and b"yanky" in page.body
