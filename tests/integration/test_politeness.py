"""Politeness at scale: mirror-wide request and byte limits, and a User-Agent naming a contact.

The fake upstream stamps each request as it arrives and each response as it leaves
(``fakepypi.meter``); the limits are checked on what it saw over its busiest one-second window,
a count rather than a wall-clock assertion.
"""

from __future__ import annotations

import asyncio

import pytest

from fakepypi import Artifact, FakeIndex, run_fake_pypi
from fakepypi.meter import busiest_window
from frumious import __version__
from frumious.http.aio import Session
from frumious.http.budget import Budget
from frumious.http.client import Timeouts

from .helpers import mirror_dir, read, run


def tiny_index(projects: int, size: int) -> FakeIndex:
    """``projects`` projects of one file of ``size`` bytes each: a JSON and a file request apiece."""
    index = FakeIndex()
    for i in range(projects):
        index.add(f"polite-{i}", "1.0", Artifact(f"polite_{i}-1.0.tar.gz", bytes([i % 251]) * size))
    return index


def test_requests_per_second_hold_across_all_workers(make_config, tmp_path) -> None:
    with run_fake_pypi(tiny_index(50, 100)) as pypi:
        config = make_config(tmp_path, pypi, workers=4, max_requests_per_second=20)
        assert run(config, "mirror") == 0
        arrivals = [(record.at, 1) for record in pypi.log]
    assert read(mirror_dir(config), "status") == str(pypi.index.serial)
    assert len(arrivals) >= 100  # the listing, then each project's JSON and its file
    # Twenty a second, the gates spaced 1/20 s apart: a window can catch one more at its edge.
    assert busiest_window(arrivals) <= 21


def test_bytes_per_second_hold_across_all_workers(make_config, tmp_path) -> None:
    limit, size, workers = 64 * 1024, 8 * 1024, 2
    with run_fake_pypi(tiny_index(30, size)) as pypi:
        config = make_config(tmp_path, pypi, workers=workers, max_bytes_per_second="64K")
        assert run(config, "mirror") == 0
        sent = pypi.sent
    assert sum(weight for _, weight in sent) > 3 * limit  # long enough for the rate to show
    # The fake hands a whole body over as it answers; the client meters it as it reads. So a
    # window may also hold the answers already on their way to each worker (one file each) and
    # the piece the gate let through at its start (an eighth of the limit).
    assert busiest_window(sent) <= limit + workers * size + limit // 8


def test_the_user_agent_names_frumious_its_version_and_the_contact(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, contact="mirror-admin@example.org")
    assert run(config, "mirror") == 0
    agents = {record.headers.get("User-Agent", "") for record in fake_pypi.log}
    assert len(agents) == 1
    (agent,) = agents
    assert agent.startswith(f"frumious/{__version__} (")
    assert agent.endswith("; +mirror-admin@example.org)")


def test_the_user_agent_without_a_contact_is_unchanged(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    agent = fake_pypi.log[0].headers["User-Agent"]
    assert agent.startswith(f"frumious/{__version__} (") and "+" not in agent


def test_aiohttp_requests_share_the_budget() -> None:
    """The proxy path (aiohttp) waits on the same gates as the lean client."""

    async def fetch_all(url: str) -> None:
        session = Session(proxy="", timeouts=Timeouts(5.0, 5.0, 30.0), limit=8, user_agent="t/1", budget=Budget(20))
        try:

            async def one(i: int) -> None:
                async with session.get(f"{url}/pypi/polite-{i % 5}/json") as reply:
                    await reply.read()

            await asyncio.gather(*(one(i) for i in range(30)))
        finally:
            await session.close()

    with run_fake_pypi(tiny_index(5, 100)) as pypi:
        asyncio.run(fetch_all(pypi.url))
        arrivals = [(record.at, 1) for record in pypi.log]
    assert len(arrivals) == 30
    assert busiest_window(arrivals) <= 21


@pytest.mark.parametrize("share", [0.5])
def test_a_share_of_the_budget_is_that_part_of_each_limit(share: float) -> None:
    budget = Budget(20, 1000, share=share)
    assert budget.requests is not None and budget.requests.rate == 10
    assert budget.bytes is not None and budget.bytes.rate == 500
