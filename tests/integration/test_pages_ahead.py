"""A run's project pages asked for on one connection ahead of the workers (``pagesahead``).

Through the CLI against the fake upstream, with more projects than one window of pages: each page
is asked once, on one connection; a page whose reply inside the run is faulty, stale or missing is
asked again on its own with its retries, and every project still lands whole.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from fakepypi import FakeIndex, FakePyPI, default_index, make_sdist, make_wheel
from frumious.http import client
from frumious.pagesahead import WINDOW

from .helpers import assert_mirrored_whole, failed_names, mirror_dir, run

JSON = "application/vnd.pypi.simple.v1+json"
PROJECTS = WINDOW + 9  # two windows, the second short


@pytest.fixture
def fake_index() -> FakeIndex:
    """The default catalogue plus ``proj-00`` .. ``proj-40``, one sdist and one wheel each."""
    index = default_index()
    for n in range(PROJECTS):
        name = f"proj-{n:02}"
        index.add(name, "1.0", make_sdist(name, "1.0"), make_wheel(name, "1.0"))
    return index


def names(pypi: FakePyPI) -> list[str]:
    return [project.canonical for project in pypi.index.projects()]


def page_paths(pypi: FakePyPI) -> list[str]:
    return [p for p in pypi.paths("/simple/", "GET") if p != "/simple/"]


def assert_all_right(pypi: FakePyPI, config) -> None:
    """The mirror whole, and a JSON page for every project."""
    assert_mirrored_whole(pypi, config)
    for name in names(pypi):
        assert (mirror_dir(config) / "web" / "simple" / name / "index.v1_json").is_file(), name


def test_every_page_is_asked_once_a_window_on_one_connection(fake_pypi, make_config, tmp_path, monkeypatch) -> None:
    # The fake upstream on a loaded machine can be slow to start a reply, which rightly stops writing ahead
    # (test_http_pipelining covers that); here the window is the subject.
    monkeypatch.setattr(client, "THINKS", 10.0)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert_all_right(fake_pypi, config)
    pages = page_paths(fake_pypi)
    assert sorted(pages) == sorted(f"/simple/{name}/" for name in names(fake_pypi))
    # The first window's pages on one connection (two workers asking alone would use two). Later ones may
    # take another connection, and a worker that outruns the next window asks its page alone.
    asked = [r for r in fake_pypi.log if r.path in pages]
    assert len({r.peer for r in asked[:WINDOW]}) == 1
    # Written ahead with the page's Accept header: the JSON form came back, as for a page asked alone.
    assert all(JSON in r.headers.get("Accept", "") for r in asked)


FAULTS: dict[str, Callable[[FakePyPI, str], object]] = {
    "server error": lambda pypi, path: pypi.fail(path, 503),
    "dropped before the reply": lambda pypi, path: pypi.drop(path),
    "dropped inside the body": lambda pypi, path: pypi.drop(path, after_bytes=10),
    "stale serial": lambda pypi, path: pypi.stale_serial(path),
}


@pytest.mark.parametrize("fault", FAULTS, ids=lambda name: name.replace(" ", "-"))
def test_a_faulty_page_inside_the_run_is_asked_again_on_its_own(fake_pypi, make_config, tmp_path, fault: str) -> None:
    path = "/simple/proj-05/"
    FAULTS[fault](fake_pypi, path)
    config = make_config(tmp_path, fake_pypi, timeout=5)
    assert run(config, "mirror") == 0
    assert_all_right(fake_pypi, config)
    assert fake_pypi.faults.pending == []  # the fault did fire
    pages = page_paths(fake_pypi)
    assert pages.count(path) == 2  # written ahead, then once more on its own
    assert all(pages.count(f"/simple/{name}/") == 1 for name in names(fake_pypi) if name != "proj-05")


def test_a_slow_page_inside_the_run_is_waited_for(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.delay("/simple/proj-03/", 0.3)
    config = make_config(tmp_path, fake_pypi, timeout=5)
    assert run(config, "mirror") == 0
    assert_all_right(fake_pypi, config)
    assert sorted(page_paths(fake_pypi)) == sorted(f"/simple/{name}/" for name in names(fake_pypi))


def test_a_page_answering_404_inside_the_run_is_not_asked_again(fake_pypi, make_config, tmp_path) -> None:
    # Listed, but its page answers 404: taken as a 404 asked alone would be (a glitch to retry next
    # run, never a deletion), not asked a second time; the others land whole.
    fake_pypi.fail("/simple/proj-07/", 404, times=2)
    config = make_config(tmp_path, fake_pypi, timeout=5)
    assert run(config, "mirror") == 1
    root = mirror_dir(config)
    assert failed_names(root) == {"proj-07"}
    # Asked ahead (the 404 taken, not asked again alone), then by the check that tells a glitch from a
    # project without releases (norelease.listed_404), which found it again; 3 if the 404 were not taken.
    assert page_paths(fake_pypi).count("/simple/proj-07/") == 2
    for name in names(fake_pypi):
        if name != "proj-07":
            assert (root / "web" / "simple" / name / "index.v1_json").is_file(), name
    assert run(config, "mirror") == 0  # the next run asks for it again
    assert_all_right(fake_pypi, config)


def test_pages_are_asked_one_at_a_time_with_a_request_limit(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, max_requests_per_second=1000)
    assert run(config, "mirror") == 0
    assert_all_right(fake_pypi, config)
    pages = page_paths(fake_pypi)
    assert sorted(pages) == sorted(f"/simple/{name}/" for name in names(fake_pypi))
    assert len({r.peer for r in fake_pypi.log if r.path in pages}) > 1  # the workers' own connections


def test_stop_on_error_ends_the_run_with_pages_drawn_ahead(fake_pypi, make_config, tmp_path) -> None:
    # The workers stop at the first failures with most of a window drawn and no worker to take it: the
    # run must still end (it waited for them forever once). In a child process, so a hang fails the test.
    fake_pypi.fail("/simple/proj-0[0-9]/", 403, times=None)
    config = make_config(tmp_path, fake_pypi, stop_on_error=True, workers=2)
    argv = [sys.executable, "-m", "frumious", "-c", str(config), "mirror"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "failed" in done.stderr
    assert not any("proj_" in path for path in fake_pypi.downloads)  # nothing after the failures was synced
