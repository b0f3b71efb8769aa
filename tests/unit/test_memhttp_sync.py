"""``sync.mirror`` end to end on the in-memory PyPI (``frumious.testing.memhttp``): no sockets.

The filesystem store in a temp dir receives the run; the upstream is ``MemHTTP``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from frumious import sync
from frumious.cli.compose import locked_store
from frumious.config import loads
from frumious.filters import load_filters
from frumious.mirror import Mirror
from frumious.record import rebuild
from frumious.runreport import SyncReport
from frumious.settings import Settings
from frumious.stats import Progress
from frumious.testing.memhttp import BASE, MemHTTP, MemIndex
from frumious.upstream import Upstream


def settings(directory: Path) -> Settings:
    text = f"[mirror]\ndirectory = {directory}\nmaster = {BASE}\nworkers = 2\n"
    return loads(text)


async def run(config: Settings, client: MemHTTP) -> SyncReport:
    async with (
        locked_store(config) as store,
        rebuild.current_record(store, config.mirror) as record,
        Upstream(config.mirror.master, client) as upstream,
    ):
        return await sync.mirror(upstream, Mirror(store, record, config.mirror), load_filters(config), Progress())


@pytest.mark.usefixtures("no_sockets")
async def test_mirror_runs_end_to_end_against_the_in_memory_index(tmp_path: Path) -> None:
    index = MemIndex()
    index.add("Alpha", "1.0", {"alpha-1.0.tar.gz": b"alpha one", "alpha-1.0-py3-none-any.whl": b"wheel"})
    index.add("beta", "2.0", {"beta-2.0.tar.gz": b"beta two" * 100})
    client = MemHTTP(index)
    config = settings(tmp_path / "mirror")

    report = await run(config, client)

    assert report.ok and report.serial == index.serial == 2
    web = tmp_path / "mirror" / "web"
    for body in (b"alpha one", b"wheel", b"beta two" * 100):
        digest = hashlib.sha256(body).hexdigest()
        assert [p.read_bytes() for p in (web / "packages" / digest[:2] / digest[2:4] / digest[4:]).iterdir()] == [body]
    assert (web / "simple" / "alpha" / "index.html").read_text().count("alpha-1.0") >= 2
    assert (tmp_path / "mirror" / "generation").read_text().strip() == "5"
    assert (tmp_path / "mirror" / "status").read_text().strip() == "2"
    assert f"{BASE}/simple/" in client.requests and f"{BASE}/simple/alpha/" in client.requests
    assert client.closed

    # A new release upstream: the next run fetches only what changed.
    index.add("beta", "2.1", {"beta-2.1.tar.gz": b"beta newer"})
    client = MemHTTP(index)
    report = await run(config, client)
    assert report.ok and (tmp_path / "mirror" / "status").read_text().strip() == "3"
    assert f"{BASE}/simple/alpha/" not in client.requests
    assert "beta-2.1.tar.gz" in (web / "simple" / "beta" / "index.html").read_text()
