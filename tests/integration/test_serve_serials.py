"""``frumious serve`` as an upstream: ``X-PyPI-Last-Serial`` on the root, every page and the JSON API.

A downstream mirror (frumious, or bandersnatch with ``api_method = simple``) reads the mirror's
serial from the root and each project's from its page or ``/pypi/<name>/json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from frumious.serve.files import PAGE_MEMORY_LIMIT
from frumious.storage.filesystem import FilesystemStore

from .test_serve import JSON, PIP, RemoteStore, fetch, run_frumious

# More versions than fit in the last 64 bytes of a page, where the serial used to be looked for.
VERSIONS = [f"1.{n}" for n in range(40)]


def _project_json(name: str, serial: int, versions: list[str]) -> bytes:
    # Enough files that ``meta`` is neither in the first 512 bytes nor in the last 64.
    files = [{"filename": f"{name}-{v}.tar.gz", "hashes": {"sha256": "0" * 64}, "url": f"../../{v}"} for v in versions]
    page = {"files": files, "meta": {"api-version": "1.1", "_last-serial": str(serial)}, "name": name}
    return json.dumps({**page, "versions": versions}).encode()


def _warehouse(name: str, serial: int) -> bytes:
    document = {"info": {"name": name, "version": "1.0"}, "last_serial": serial, "releases": {}, "urls": []}
    return json.dumps(document, indent=4, sort_keys=True).encode()


def build(root: Path) -> Path:
    web = root / "web" / "simple"
    (web / "foo").mkdir(parents=True)
    (web / "big").mkdir()
    (web / "foo" / "index.v1_json").write_bytes(_project_json("foo", 31, VERSIONS))
    (web / "foo" / "index.html").write_bytes(b"<!DOCTYPE html>\n<html></html>\n<!--SERIAL 31-->")
    big_versions = [f"2.{n}" for n in range(PAGE_MEMORY_LIMIT // 6)]  # sent with sendfile, not kept in memory
    (web / "big" / "index.v1_json").write_bytes(_project_json("big", 35, big_versions))
    # The root as frumious writes it: the mirror's serial first, each project's after.
    projects = [{"name": "big", "_last-serial": 35}, {"name": "foo", "_last-serial": 31}]
    (web / "index.v1_json").write_bytes(json.dumps({"meta": {"_last-serial": 40}, "projects": projects}).encode())
    (web / "index.html").write_bytes(b"<!DOCTYPE html>\n<html></html>")
    for key in ("json/foo", "pypi/foo/json"):
        (root / "web" / key).parent.mkdir(parents=True, exist_ok=True)
        (root / "web" / key).write_bytes(_warehouse("foo", 31))
    (root / "status").write_text("40\n")
    return root


@pytest.fixture(params=["local", "remote"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = build(tmp_path / "mirror")
    store = FilesystemStore(str(root)) if request.param == "local" else RemoteStore(str(root))
    with run_frumious(store) as url:
        yield url, root


def serial(url: str, path: str, accept: str = PIP) -> str | None:
    reply = fetch(url, path, {"Accept": accept})
    assert reply.status == 200, (path, reply.status)
    return reply.headers.get("x-pypi-last-serial")


def test_the_root_carries_the_mirror_serial_not_the_last_project_serial(served: tuple[str, Path]) -> None:
    url, _ = served
    assert serial(url, "/simple/", JSON) == "40"
    assert serial(url, "/simple/", "text/html") == "40"  # an HTML root has no serial of its own


def test_every_project_page_carries_its_serial(served: tuple[str, Path]) -> None:
    url, _ = served
    assert serial(url, "/simple/foo/", JSON) == "31"
    assert serial(url, "/simple/foo/", "text/html") == "31"
    assert serial(url, "/simple/big/", JSON) == "35"


def test_the_json_api_carries_the_project_serial(served: tuple[str, Path]) -> None:
    url, _ = served
    assert serial(url, "/pypi/foo/json", "*/*") == "31"
    assert serial(url, "/json/foo", "*/*") == "31"


def test_a_new_status_is_seen_on_the_next_request(tmp_path: Path) -> None:
    root = build(tmp_path / "mirror")
    with run_frumious(FilesystemStore(str(root))) as url:
        assert serial(url, "/simple/", JSON) == "40"
        (root / "status").write_text("41\n")
        assert serial(url, "/simple/", JSON) == "41"
        (root / "status").write_text("")  # no serial yet: no header rather than a wrong one
        assert serial(url, "/simple/", JSON) is None


def test_a_root_replaced_in_the_same_second_at_the_same_size_is_not_a_304(tmp_path: Path) -> None:
    # A downstream mirror asks for the root with If-None-Match; nginx's mtime-size ETag would repeat
    # for a root rewritten within the same second with a serial of as many digits, and the change be missed.
    page = tmp_path / "web" / "simple" / "index.v1_json"
    page.parent.mkdir(parents=True)
    body = '{"meta": {"_last-serial": %d, "api-version": "1.1"}, "projects": []}'
    page.write_text(body % 7)
    stamp = page.stat().st_mtime
    with run_frumious(FilesystemStore(str(tmp_path))) as url:
        first = fetch(url, "/simple/", {"Accept": "application/vnd.pypi.simple.v1+json"})
        replacement = tmp_path / "web" / "simple" / ".next"
        replacement.write_text(body % 8)  # same size, as a run writes it: a new file renamed in place
        os.utime(replacement, (stamp, stamp))
        os.replace(replacement, page)
        again = fetch(
            url,
            "/simple/",
            {"Accept": "application/vnd.pypi.simple.v1+json", "If-None-Match": first.headers["etag"]},
        )
    assert again.status == 200 and b'"_last-serial": 8' in again.body
