"""A new project's small files fetched on one connection, requests written ahead (``download.fetch_ahead``).

Through the CLI against the fake upstream: the files of a new project share one connection, and a
fault inside the run of requests sends the files behind it the one-at-a-time way, with its retries,
so every file still arrives with its exact bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fakepypi import Artifact, FakeIndex, FakePyPI, default_index, make_wheel
from frumious.http import client

from .helpers import assert_mirrored_whole, mirror_dir, packages, read, run

FILES = 6


@pytest.fixture
def fake_index() -> FakeIndex:
    """The default catalogue plus ``many``: six releases of one sdist and one wheel each."""
    index = default_index()
    for n in range(FILES):
        sdist = Artifact(f"many-1.{n}.tar.gz", f"many 1.{n} ".encode() * 50)
        index.add("many", f"1.{n}", sdist, make_wheel("many", f"1.{n}"))
    return index


def many_files(pypi: FakePyPI) -> list[str]:
    return [f.path for f in pypi.index.all_files() if f.filename.startswith("many-")]


def test_a_new_projects_files_come_on_one_connection(fake_pypi, make_config, tmp_path, monkeypatch) -> None:
    # A loaded machine can make the fake upstream slow to start a reply, which rightly stops writing ahead
    # (test_http_pipelining covers that); here the one connection is the subject.
    monkeypatch.setattr(client, "THINKS", 10.0)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert_mirrored_whole(fake_pypi, config)
    wanted = set(many_files(fake_pypi))
    fetched = [r for r in fake_pypi.log if r.path in wanted]
    assert {r.path for r in fetched} == wanted and len(fetched) == len(wanted) == 2 * FILES
    assert len({r.peer for r in fetched}) == 1  # one connection, not one per file
    # The wheels' sidecars came on that connection too, each after its wheel.
    sidecars = [r for r in fake_pypi.log if r.path.startswith("/packages/") and "many-" in r.path]
    sidecars = [r for r in sidecars if r.path.endswith(".metadata")]
    assert len(sidecars) == FILES and {r.peer for r in sidecars} == {fetched[0].peer}


FAULTS: dict[str, Callable[[FakePyPI, str], object]] = {
    "server error": lambda pypi, path: pypi.fail(path, 503),
    "dropped before the reply": lambda pypi, path: pypi.drop(path),
    "dropped inside the body": lambda pypi, path: pypi.drop(path, after_bytes=10),
    "corrupt body": lambda pypi, path: pypi.corrupt(path),
    "short body": lambda pypi, path: pypi.truncate(path),
}


@pytest.mark.parametrize("fault", FAULTS, ids=lambda name: name.replace(" ", "-"))
def test_a_fault_inside_the_run_is_retried_one_at_a_time(fake_pypi, make_config, tmp_path, fault: str) -> None:
    third = sorted(many_files(fake_pypi))[2]
    FAULTS[fault](fake_pypi, third)
    config = make_config(tmp_path, fake_pypi, timeout=5)
    assert run(config, "mirror") == 0
    assert_mirrored_whole(fake_pypi, config)
    assert fake_pypi.faults.pending == []  # the fault did fire
    assert fake_pypi.paths().count(third) == 2  # once written ahead, once more on its own


def test_a_slow_reply_inside_the_run_is_waited_for(fake_pypi, make_config, tmp_path) -> None:
    third = sorted(many_files(fake_pypi))[2]
    fake_pypi.delay(third, 0.3)
    config = make_config(tmp_path, fake_pypi, timeout=5)
    assert run(config, "mirror") == 0
    assert_mirrored_whole(fake_pypi, config)
    assert fake_pypi.paths().count(third) == 1  # waited for, not asked again (what was written ahead stays)


def test_a_sidecar_missing_in_the_run_is_not_advertised(fake_pypi, make_config, tmp_path, capsys) -> None:
    wheel = next(f for f in fake_pypi.index.all_files() if f.filename == "many-1.1-py3-none-any.whl")
    fake_pypi.fail(wheel.path + ".metadata", 404, times=None)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert wheel.filename in packages(root) and wheel.filename + ".metadata" not in packages(root)
    page = read(root, "web/simple/many/index.html")
    assert f"{wheel.filename}#sha256=" in page
    line = next(line for line in page.splitlines() if wheel.filename in line)
    assert "data-core-metadata" not in line and "data-dist-info-metadata" not in line
    assert "upstream has no .metadata file" in capsys.readouterr().err
    others = [f for f in fake_pypi.index.all_files() if f.filename.startswith("many-") and f is not wheel]
    assert all(f.filename + ".metadata" in packages(root) for f in others if f.filename.endswith(".whl"))
    # The 404 was read to its end: the replies written behind it came on, none asked for twice.
    asked = fake_pypi.paths("/packages/")
    assert asked.count(wheel.path + ".metadata") == 2  # ahead, then once more on its own (the usual 404)
    assert all(asked.count(f.path) == 1 for f in fake_pypi.index.all_files())
    assert all(asked.count(f.path + ".metadata") == 1 for f in others if f.filename.endswith(".whl"))
    assert len([p for p in asked if "/many-" in p]) == 3 * FILES + 1  # 18 files, the missing sidecar twice


def test_an_upstream_that_stalls_requests_written_ahead_is_asked_one_at_a_time(
    fake_pypi, make_config, tmp_path
) -> None:
    # The second request written ahead is never answered: the read timeout ends the run of requests,
    # the files are fetched one by one, and no later project waits on a request written ahead.
    second = sorted(many_files(fake_pypi))[1]
    fake_pypi.delay(second, 30.0)
    config = make_config(tmp_path, fake_pypi, timeout=1)
    assert run(config, "mirror") == 0
    assert_mirrored_whole(fake_pypi, config)
