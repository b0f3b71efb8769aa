"""A frumious mirror of ``frumious serve``: B mirrors a filtered mirror A through A's server.

A keeps two of the fake PyPI's three projects, and only the newest release of each (``json =
true``, so ``serve`` offers ``/pypi/<name>/json``, the API today's sync reads). B, unfiltered,
must end with exactly A's files, every one fetched from A (the fake PyPI sees no request from
B), and a second run with nothing changed is one request: the listing, answered 304. And
bandersnatch 6.8 mirrors A through the same server.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakepypi import FakePyPI
from frumious.storage.filesystem import FilesystemStore

from .bandersnatch_venv import BandersnatchUnavailable, ensure_bandersnatch, run_bandersnatch
from .helpers import mirror_dir, packages, read, run, tree
from .test_serve import run_frumious

FILTERS = {
    "plugins": {"enabled": ["allowlist_project", "latest_release"]},
    "allowlist": {"packages": ["Foo.Bar", "dep-lib"]},
    "latest_release": {"keep": 1},
}


class Requests(logging.Handler):
    """The request lines ``serve`` logs (its access log), as ``METHOD PATH``."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage().split('"')[1].rsplit(" ", 1)[0])


@pytest.fixture
def served_a(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> Iterator[tuple[str, Path, Requests]]:
    (tmp_path / "a").mkdir()
    config = make_config(tmp_path / "a", fake_pypi, json=True, sections=FILTERS)
    assert run(config, "mirror") == 0
    access, requests = logging.getLogger("frumious.access"), Requests()
    access.addHandler(requests)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        with run_frumious(FilesystemStore(str(mirror_dir(config)))) as url:
            yield url, mirror_dir(config), requests
    finally:
        access.removeHandler(requests)
        access.setLevel(level)


def test_a_mirror_of_a_filtered_mirror_holds_its_files_fetched_from_it(
    served_a: tuple[str, Path, Requests], fake_pypi: FakePyPI, make_config, tmp_path: Path
) -> None:
    url, root_a, requests = served_a
    assert packages(root_a) and not any("yanky" in p or "1.0" in p for p in packages(root_a))  # A is filtered
    fake_pypi.reset_log()
    (tmp_path / "b").mkdir()
    config_b = make_config(tmp_path / "b", url)
    report = tmp_path / "b" / "run.json"
    assert run(config_b, "mirror", "--report", str(report)) == 0
    root_b = mirror_dir(config_b)
    held = tree(root_a / "web" / "packages")
    assert tree(root_b / "web" / "packages") == held  # the same paths: PyPI's layout kept
    for key in held:
        assert (root_b / "web" / "packages" / key).read_bytes() == (root_a / "web" / "packages" / key).read_bytes()
    assert fake_pypi.requests == []  # nothing from the original upstream
    assert read(root_b, "status").strip() == read(root_a, "status").strip()  # A's serial, from its root
    page = json.loads(read(root_b, "web/simple/foo-bar/index.v1_json"))
    assert page["versions"] == ["2.0"] and all(f["url"].startswith("../../packages/") for f in page["files"])

    requests.lines.clear()
    assert run(config_b, "mirror", "--report", str(report)) == 0
    assert json.loads(report.read_text())["requests"] == 1
    assert requests.lines == ["GET /simple/"]


def test_the_saved_json_a_serves_lists_its_files_only(served_a: tuple[str, Path, Requests]) -> None:
    root_a = served_a[1]
    document = json.loads(read(root_a, "web/pypi/foo-bar/json"))
    assert list(document["releases"]) == ["2.0"]
    urls = [f["url"] for files in document["releases"].values() for f in files] + [f["url"] for f in document["urls"]]
    assert urls and all(u.startswith("/packages/") and (root_a / "web" / u.lstrip("/")).is_file() for u in urls)


@pytest.mark.slow
def test_bandersnatch_mirrors_from_frumious_serve(
    served_a: tuple[str, Path, Requests], fake_pypi: FakePyPI, make_config, tmp_path: Path
) -> None:
    """bandersnatch 6.8 with ``api_method = simple``: the listing from the PEP 691 root's per-project
    ``_last-serial``, each project from ``/pypi/<name>/json`` (whose ``X-PyPI-Last-Serial`` it checks
    against the listing's), each file from the ``url`` there (its path must start with ``/packages``)."""
    try:
        exe = ensure_bandersnatch()
    except BandersnatchUnavailable as exc:
        pytest.fail(f"could not install bandersnatch 6.8.0:\n{exc}", pytrace=False)
    url, root_a, _ = served_a
    fake_pypi.reset_log()
    (tmp_path / "c").mkdir()
    config = make_config(tmp_path / "c", url, api_method="simple", json=True)
    done = run_bandersnatch(exe, config, "mirror")
    output = done.stdout + done.stderr
    assert done.returncode == 0 and not re.search(r"\b(ERROR|CRITICAL):", output), output[-4000:]
    root = mirror_dir(config)
    release_files = {key for key in tree(root_a / "web" / "packages") if not key.endswith(".metadata")}
    assert tree(root / "web" / "packages") == release_files  # bandersnatch 6.8 fetches no .metadata
    assert fake_pypi.requests == []
    assert read(root, "status").strip() == read(root_a, "status").strip()
    assert list(json.loads(read(root, "web/json/foo-bar"))["releases"]) == ["2.0"]
