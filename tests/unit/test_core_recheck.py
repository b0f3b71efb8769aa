"""Changed release/file filters and the cooldown, through ``sync.mirror`` on in-memory fakes: mirrored
projects are filtered again from the stored upstream copy, with no upstream request for them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fakepypi import FakeIndex, default_index, make_wheel, mem_index
from frumious.testing.harness import Bench

pytestmark = pytest.mark.usefixtures("no_sockets")

WIN = "dep_lib-0.2-cp311-cp311-win_amd64.whl"
ANY = "dep_lib-0.1-py3-none-any.whl"
DAY = 86_400.0


def catalogue() -> FakeIndex:
    fake = default_index()
    fake.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2", tag="cp311-cp311-win_amd64"))
    return fake


def platforms(*tokens: str, prune: bool = False, json: bool = False, tmp_path: Path, fake: FakeIndex) -> Bench:
    sections = "[plugins]\nenabled =\n    exclude_platform\n[blocklist]\nplatforms = " + " ".join(tokens) + "\n"
    return Bench.create(tmp_path, mem_index(fake), sections, prune_filtered=str(prune).lower(), json=str(json).lower())


def files(bench: Bench) -> set[str]:
    return {key.rsplit("/", 1)[-1] for key in bench.stored("web/packages/") if not key.endswith(".metadata")}


def project_requests(bench: Bench) -> list[str]:
    """The last run's requests about one project: its JSON or its simple page (not the listing, not files)."""
    return [url for url in bench.requests if "/pypi/" in url or url.partition("/simple/")[2]]


def reconfigure(bench: Bench, fresh: Bench) -> Bench:
    """``bench``'s mirror (store, record) under ``fresh``'s config."""
    bench.settings = fresh.settings
    return bench


@pytest.mark.parametrize("json", [False, True])
async def test_a_tightened_file_filter_prunes_on_the_next_plain_run_without_asking_upstream(
    tmp_path: Path, json: bool
) -> None:
    fake = catalogue()
    bench = platforms("macos", prune=True, json=json, tmp_path=tmp_path, fake=fake)
    assert (await bench.mirror()).ok and WIN in files(bench)

    bench = reconfigure(bench, platforms("windows", prune=True, json=json, tmp_path=tmp_path, fake=fake))
    report = await bench.mirror()

    assert report.ok and WIN not in files(bench) and ANY in files(bench)
    assert WIN not in bench.read("web/simple/dep-lib/index.html").decode()
    assert project_requests(bench) == []  # the listing's 304 only: no project JSON, no page


async def test_without_prune_filtered_the_newly_excluded_files_are_reported_and_kept(tmp_path: Path) -> None:
    fake = catalogue()
    bench = platforms("macos", tmp_path=tmp_path, fake=fake)
    assert (await bench.mirror()).ok

    bench = reconfigure(bench, platforms("windows", tmp_path=tmp_path, fake=fake))
    report = await bench.mirror()

    assert WIN in files(bench) and any(key.endswith(WIN) for key in report.would_prune)
    assert WIN not in bench.read("web/simple/dep-lib/index.html").decode()
    assert project_requests(bench) == []


async def test_a_loosened_file_filter_fetches_the_files_it_now_allows(tmp_path: Path) -> None:
    fake = catalogue()
    bench = platforms("windows", tmp_path=tmp_path, fake=fake)
    assert (await bench.mirror()).ok and WIN not in files(bench)

    bench = reconfigure(bench, platforms("macos", tmp_path=tmp_path, fake=fake))
    report = await bench.mirror()

    assert report.ok and WIN in files(bench)
    assert WIN in bench.read("web/simple/dep-lib/index.html").decode()
    assert project_requests(bench) == [] and any(url.endswith(WIN) for url in bench.requests)


async def test_an_unchanged_filter_filters_nothing_again(tmp_path: Path) -> None:
    fake = catalogue()
    bench = platforms("windows", tmp_path=tmp_path, fake=fake)
    assert (await bench.mirror()).ok
    pages = bench.store.volume.objects["web/simple/dep-lib/index.html"]

    report = await bench.mirror()

    assert report.synced == [] and bench.store.volume.objects["web/simple/dep-lib/index.html"] is pages


def cooldown(tmp_path: Path, fake: FakeIndex, exempt: str = "") -> Bench:
    sections = f"[plugins]\nenabled =\n    cooldown_release_file\n[cooldown]\ndays = 7\nexempt = {exempt}\n"
    return Bench.create(tmp_path, mem_index(fake), sections)


def fresh_release(days_ago: float) -> FakeIndex:
    fake = default_index()
    when = datetime.now(UTC) - timedelta(days=days_ago)
    fake.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"), upload_time=when)
    return fake


NEW = "dep_lib-0.2-py3-none-any.whl"


async def test_cooldown_holds_young_files_and_brings_them_in_once_old_enough(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = cooldown(tmp_path, fresh_release(days_ago=2))
    assert (await bench.mirror()).ok
    assert NEW not in files(bench) and ANY in files(bench)
    assert "0.2" not in bench.read("web/simple/dep-lib/index.html").decode()
    assert b"dep-lib" in bench.read(".frumious/held")

    # Three days on: still too young; the run does not even look.
    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + 3 * DAY)
    assert (await bench.mirror()).synced == [] and NEW not in files(bench)

    # Six days on: old enough. Upstream's serial has not moved: no --force-check, no project request.
    monkeypatch.setattr(time, "time", lambda: start + 6 * DAY)
    report = await bench.mirror()
    assert report.ok and NEW in files(bench) and "0.2" in bench.read("web/simple/dep-lib/index.html").decode()
    assert project_requests(bench) == []
    assert ".frumious/held" not in bench.stored()


async def test_an_exempt_project_gets_new_files_at_once(tmp_path: Path) -> None:
    bench = cooldown(tmp_path, fresh_release(days_ago=0), exempt="dep-lib")
    assert (await bench.mirror()).ok
    assert NEW in files(bench)
