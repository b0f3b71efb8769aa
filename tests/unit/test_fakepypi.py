"""The fake PyPI itself: artifacts, index, endpoints, faults, fixtures."""

from __future__ import annotations

import base64
import configparser
import hashlib
import http.client
import io
import json
import re
import subprocess
import sys
import tarfile
import tomllib
import xmlrpc.client
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from fakepypi import (
    Artifact,
    FakeIndex,
    FakePyPI,
    default_index,
    make_sdist,
    make_wheel,
    packages_path,
    run_fake_pypi,
    serve_fake_pypi,
)

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
ISO_8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(pypi: FakePyPI | str, path: str, method: str = "GET", headers: Mapping[str, str] | None = None) -> Reply:
    """One request, no redirect following; ``path`` may be an absolute URL."""
    url = urlsplit(path if path.startswith("http") else (pypi if isinstance(pypi, str) else pypi.url) + path)
    conn = http.client.HTTPConnection(url.netloc, timeout=10)
    try:
        conn.request(method, url.path + (f"?{url.query}" if url.query else ""), headers=dict(headers or {}))
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read())
    finally:
        conn.close()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- artifacts ---------------------------------------------------------------------------


def test_wheel_is_a_valid_zip_whose_record_verifies() -> None:
    wheel = make_wheel("Foo.Bar", "1.0", requires=["dep-lib>=0.1"], requires_python=">=3.8", extras={"x": ["extra"]})
    assert wheel.filename == "foo_bar-1.0-py3-none-any.whl"
    assert (wheel.packagetype, wheel.python_version, wheel.requires_python) == ("bdist_wheel", "py3", ">=3.8")
    with zipfile.ZipFile(io.BytesIO(wheel.content)) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        assert names == [
            "foo_bar/__init__.py",
            "foo_bar-1.0.dist-info/METADATA",
            "foo_bar-1.0.dist-info/WHEEL",
            "foo_bar-1.0.dist-info/RECORD",
        ]
        record = archive.read("foo_bar-1.0.dist-info/RECORD").decode().splitlines()
        for line in record:
            path, digest, size = line.rsplit(",", 2)
            if path.endswith("RECORD"):
                assert (digest, size) == ("", "")
                continue
            data = archive.read(path)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}" and int(size) == len(data)
        assert archive.read("foo_bar-1.0.dist-info/METADATA") == wheel.metadata
        assert b"Tag: py3-none-any" in archive.read("foo_bar-1.0.dist-info/WHEEL")
    meta = BytesParser().parsebytes(wheel.metadata or b"")
    assert meta["Name"] == "Foo.Bar" and meta["Requires-Python"] == ">=3.8"
    assert meta.get_all("Requires-Dist") == ["dep-lib>=0.1", 'extra; extra == "x"']
    assert meta.get_all("Provides-Extra") == ["x"]


def test_artifacts_are_deterministic() -> None:
    assert make_wheel("a", "1").content == make_wheel("a", "1").content
    assert make_sdist("a", "1").content == make_sdist("a", "1").content
    assert make_wheel("a", "1").sha256 != make_wheel("a", "2").sha256


def test_platform_wheel_tags() -> None:
    wheel = make_wheel("native", "2.0", tag="cp311-cp311-manylinux_2_17_x86_64")
    assert wheel.filename == "native-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    assert wheel.python_version == "cp311"
    with zipfile.ZipFile(io.BytesIO(wheel.content)) as archive:
        assert b"Root-Is-Purelib: false" in archive.read("native-2.0.dist-info/WHEEL")


def test_sdist_has_pkg_info_and_pyproject() -> None:
    sdist = make_sdist("Foo.Bar", "1.0", requires=["dep-lib"], requires_python=">=3.8")
    assert sdist.filename == "foo_bar-1.0.tar.gz"
    assert (sdist.packagetype, sdist.python_version, sdist.metadata) == ("sdist", "source", None)
    with tarfile.open(fileobj=io.BytesIO(sdist.content), mode="r:gz") as archive:
        assert sorted(archive.getnames()) == [
            "foo_bar-1.0/PKG-INFO",
            "foo_bar-1.0/foo_bar/__init__.py",
            "foo_bar-1.0/pyproject.toml",
        ]
        pkg_info = archive.extractfile("foo_bar-1.0/PKG-INFO").read()  # type: ignore[union-attr]
        pyproject = tomllib.loads(archive.extractfile("foo_bar-1.0/pyproject.toml").read().decode())  # type: ignore[union-attr]
    assert pkg_info == sdist.pkg_info and b"Version: 1.0" in pkg_info
    assert pyproject["project"] == {
        "name": "Foo.Bar",
        "version": "1.0",
        "requires-python": ">=3.8",
        "dependencies": ["dep-lib"],
    }
    assert pyproject["build-system"]["build-backend"] == "setuptools.build_meta"


def test_artifact_from_arbitrary_bytes() -> None:
    blob = Artifact(filename="thing-1.0.tar.gz", content=b"not really a tarball")
    assert (blob.packagetype, blob.python_version, blob.metadata, blob.size) == ("sdist", "source", None, 20)
    assert blob.digests["sha256"] == sha256(b"not really a tarball")
    assert blob.digests["blake2b_256"] == hashlib.blake2b(blob.content, digest_size=32).hexdigest()
    b2 = blob.blake2b_256
    assert packages_path(blob) == f"/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/thing-1.0.tar.gz"
    assert Artifact("x-1-py2.py3-none-any.whl", b"").packagetype == "bdist_wheel"


# --- the index ---------------------------------------------------------------------------


def test_index_serials_and_changes() -> None:
    index = FakeIndex()
    index.add("Foo.Bar", "1.0", Artifact("foo_bar-1.0.tar.gz", b"a"))
    index.add("other", "1.0")
    assert index.serial == 2 and index.project("foo-bar").last_serial == 1 and index.project("OTHER").last_serial == 2
    assert "FOO_BAR" in index and index.project("foo.bar").name == "Foo.Bar"
    assert [p.name for p in index.projects()] == ["Foo.Bar", "other"]
    assert index.touch("foo-bar") == 3 and index.project("foo-bar").last_serial == 3
    index.add("foo-bar", "1.0", Artifact("foo_bar-1.0-py3-none-any.whl", b"b"))
    assert [f.filename for f in index.project("foo-bar").files()] == [
        "foo_bar-1.0.tar.gz",
        "foo_bar-1.0-py3-none-any.whl",
    ]
    index.yank("foo-bar", "1.0", "oops")
    assert all(f.yanked and f.yanked_reason == "oops" for f in index.project("foo-bar").files())
    index.remove_file("foo-bar", "foo_bar-1.0.tar.gz")
    index.rename("foo-bar", "FOO_bar")
    assert index.project("foo-bar").name == "FOO_bar"
    with pytest.raises(ValueError):
        index.rename("foo-bar", "baz")
    index.remove_project("other")
    assert "other" not in index and index.serial == 8
    assert [e.serial for e in index.journal] == list(range(1, 9))
    assert index.journal[-1].action == "remove project" and index.journal[-1].name == "other"


def test_latest_skips_yanked_and_prereleases() -> None:
    index = FakeIndex()
    for version in ("1.0", "2.0", "3.0a1", "2.1"):
        index.add("p", version, Artifact(f"p-{version}.tar.gz", version.encode()))
    index.yank("p", "2.1")
    latest = index.project("p").latest()
    assert latest is not None and latest.version == "2.0"
    assert [r.version for r in index.project("p").sorted_releases()] == ["1.0", "2.0", "2.1", "3.0a1"]


# --- endpoints ---------------------------------------------------------------------------


def test_simple_root_json(fake_pypi: FakePyPI) -> None:
    reply = fetch(fake_pypi, "/simple/", headers={"Accept": SIMPLE_JSON})
    assert reply.status == 200 and reply.headers["Content-Type"] == SIMPLE_JSON
    doc = reply.json()
    index = fake_pypi.index
    assert doc["meta"] == {"api-version": "1.1", "_last-serial": index.serial}
    assert reply.headers["X-PyPI-Last-Serial"] == str(index.serial)
    assert [p["name"] for p in doc["projects"]] == ["dep-lib", "Foo.Bar", "yanky"]
    assert all(p["_last-serial"] == index.project(p["name"]).last_serial for p in doc["projects"])
    assert fetch(fake_pypi, "/simple", headers={"Accept": SIMPLE_JSON}).json() == doc


def test_simple_root_html_by_default(fake_pypi: FakePyPI) -> None:
    reply = fetch(fake_pypi, "/simple/")
    assert reply.headers["Content-Type"].startswith("text/html")
    assert b'<a href="/simple/foo-bar/">Foo.Bar</a>' in reply.body
    assert b'name="pypi:repository-version" content="1.1"' in reply.body
    pip_accept = f"{SIMPLE_JSON}, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
    assert fetch(fake_pypi, "/simple/", headers={"Accept": pip_accept}).headers["Content-Type"] == SIMPLE_JSON


def test_etag_and_if_none_match(fake_pypi: FakePyPI) -> None:
    first = fetch(fake_pypi, "/simple/", headers={"Accept": SIMPLE_JSON})
    etag = first.headers["ETag"]
    again = fetch(fake_pypi, "/simple/", headers={"Accept": SIMPLE_JSON, "If-None-Match": etag})
    assert (again.status, again.body, again.headers["ETag"]) == (304, b"", etag)
    assert fetch(fake_pypi, "/simple/", headers={"If-None-Match": etag}).status == 200  # HTML has its own tag
    fake_pypi.index.touch("yanky")
    changed = fetch(fake_pypi, "/simple/", headers={"Accept": SIMPLE_JSON, "If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag


def test_warehouse_json(fake_pypi: FakePyPI) -> None:
    reply = fetch(fake_pypi, "/pypi/foo-bar/json")
    project = fake_pypi.index.project("foo-bar")
    assert reply.status == 200 and reply.headers["X-PyPI-Last-Serial"] == str(project.last_serial)
    doc = reply.json()
    assert doc["last_serial"] == project.last_serial
    info = doc["info"]
    assert (info["name"], info["version"], info["requires_python"]) == ("Foo.Bar", "2.0", ">=3.8")
    assert info["requires_dist"] == ["dep-lib>=0.1"] and info["summary"]
    assert list(doc["releases"]) == ["1.0", "2.0"]
    assert [f["filename"] for f in doc["urls"]] == ["foo_bar-2.0-py3-none-any.whl", "foo_bar-2.0.tar.gz"]
    wheel, sdist = doc["releases"]["1.0"]
    artifact = project.releases["1.0"].files[0].artifact
    b2 = artifact.blake2b_256
    assert wheel["url"] == f"{fake_pypi.url}/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/{wheel['filename']}"
    assert wheel["digests"] == {"md5": artifact.md5, "sha256": artifact.sha256, "blake2b_256": b2}
    assert wheel["md5_digest"] == artifact.md5 and wheel["size"] == artifact.size
    assert (wheel["packagetype"], wheel["python_version"]) == ("bdist_wheel", "py3")
    assert (sdist["packagetype"], sdist["python_version"]) == ("sdist", "source")
    assert ISO_8601.match(wheel["upload_time_iso_8601"]) and wheel["upload_time"] == wheel["upload_time_iso_8601"][:19]
    assert wheel["core-metadata"] == {"sha256": sha256(artifact.metadata or b"")} == wheel["data-dist-info-metadata"]
    assert sdist["core-metadata"] is False and sdist["data-dist-info-metadata"] is False
    assert wheel["yanked"] is False and wheel["yanked_reason"] is None and "requires_python" in wheel


def test_yanked_release_in_json(fake_pypi: FakePyPI) -> None:
    doc = fetch(fake_pypi, "/pypi/yanky/json").json()
    assert doc["info"]["version"] == "1.1"
    (old,) = doc["releases"]["1.0"]
    assert (old["yanked"], old["yanked_reason"]) == (True, "broken build")
    simple = fetch(fake_pypi, "/simple/yanky/", headers={"Accept": SIMPLE_JSON}).json()
    assert [f["yanked"] for f in simple["files"]] == ["broken build", False]
    assert b'data-yanked="broken build"' in fetch(fake_pypi, "/simple/yanky/").body


def test_version_json(fake_pypi: FakePyPI) -> None:
    doc = fetch(fake_pypi, "/pypi/foo-bar/1.0/json").json()
    assert doc["info"]["version"] == "1.0" and "releases" not in doc and len(doc["urls"]) == 2
    assert fetch(fake_pypi, "/pypi/foo-bar/9.9/json").status == 404


def test_non_canonical_names_redirect(fake_pypi: FakePyPI) -> None:
    reply = fetch(fake_pypi, "/pypi/Foo.Bar/json")
    assert (reply.status, reply.headers["Location"]) == (301, f"{fake_pypi.url}/pypi/foo-bar/json")
    assert fetch(fake_pypi, "/simple/Foo_Bar/").headers["Location"] == f"{fake_pypi.url}/simple/foo-bar/"
    assert fetch(fake_pypi, "/simple/foo-bar").headers["Location"] == f"{fake_pypi.url}/simple/foo-bar/"


def test_unknown_removed_and_empty_projects_404(fake_pypi: FakePyPI) -> None:
    assert fetch(fake_pypi, "/pypi/nope/json").status == 404
    wheel_path = fake_pypi.file_path("dep-lib", "dep_lib-0.1-py3-none-any.whl")
    fake_pypi.index.remove_project("dep-lib")
    assert fetch(fake_pypi, "/pypi/dep-lib/json").status == 404
    assert fetch(fake_pypi, wheel_path).status == 404
    assert fetch(fake_pypi, "/simple/dep-lib/").status == 404
    fake_pypi.index.add_project("empty")
    assert fetch(fake_pypi, "/pypi/empty/json").status == 404
    names = [p["name"] for p in fetch(fake_pypi, "/simple/", headers={"Accept": SIMPLE_JSON}).json()["projects"]]
    assert names == ["empty", "Foo.Bar", "yanky"]


def test_simple_project_pages(fake_pypi: FakePyPI) -> None:
    doc = fetch(fake_pypi, "/simple/foo-bar/", headers={"Accept": SIMPLE_JSON}).json()
    assert doc["meta"]["_last-serial"] == fake_pypi.index.project("foo-bar").last_serial
    assert doc["name"] == "foo-bar" and doc["versions"] == ["1.0", "2.0"]
    first = doc["files"][0]
    assert first["hashes"] == {"sha256": fake_pypi.index.project("foo-bar").files()[0].artifact.sha256}
    assert ISO_8601.match(first["upload-time"]) and isinstance(first["size"], int)
    html = fetch(fake_pypi, "/simple/foo-bar/").body.decode()
    assert html.endswith(f"<!--SERIAL {doc['meta']['_last-serial']}-->")
    assert 'data-requires-python="&gt;=3.8"' in html and "data-core-metadata=" in html


def test_files_and_metadata(fake_pypi: FakePyPI) -> None:
    wheel = fake_pypi.index.file("foo-bar", "foo_bar-2.0-py3-none-any.whl")
    listed = fetch(fake_pypi, "/pypi/foo-bar/json").json()["urls"][0]
    got = fetch(fake_pypi, listed["url"])
    assert got.body == wheel.artifact.content and got.headers["Content-Length"] == str(wheel.artifact.size)
    assert sha256(got.body) == listed["digests"]["sha256"]
    meta = fetch(fake_pypi, listed["url"] + ".metadata")
    with zipfile.ZipFile(io.BytesIO(got.body)) as archive:
        assert meta.body == archive.read("foo_bar-2.0.dist-info/METADATA")
    assert sha256(meta.body) == listed["core-metadata"]["sha256"]
    head = fetch(fake_pypi, wheel.path, method="HEAD")
    assert (head.status, head.body, head.headers["Content-Length"]) == (200, b"", str(wheel.artifact.size))
    sdist = fake_pypi.file_path("foo-bar", "foo_bar-2.0.tar.gz")
    assert fetch(fake_pypi, sdist + ".metadata").status == 404
    assert fetch(fake_pypi, "/packages/00/00/0000/nothing.whl").status == 404
    assert fake_pypi.downloads == [
        wheel.path,
        wheel.path + ".metadata",
        sdist + ".metadata",
        "/packages/00/00/0000/nothing.whl",
    ]


def test_request_log(fake_pypi: FakePyPI) -> None:
    fetch(fake_pypi, "/simple/", headers={"User-Agent": "probe/1"})
    fetch(fake_pypi, "/pypi/yanky/json")
    assert fake_pypi.requests == [("GET", "/simple/"), ("GET", "/pypi/yanky/json")]
    assert fake_pypi.log[0].headers["User-Agent"] == "probe/1"
    fake_pypi.reset_log()
    assert fake_pypi.requests == [] and fake_pypi.downloads == []


def test_files_url_and_download_mirror(fake_pypi: FakePyPI, download_mirror: FakePyPI) -> None:
    fake_pypi.files_url = download_mirror.url
    listed = fetch(fake_pypi, "/pypi/dep-lib/json").json()["urls"][0]
    assert listed["url"].startswith(download_mirror.url + "/packages/")
    assert sha256(fetch(fake_pypi, listed["url"]).body) == listed["digests"]["sha256"]
    assert download_mirror.downloads == [urlsplit(listed["url"]).path] and fake_pypi.downloads == []


def test_xmlrpc_for_old_bandersnatch(fake_pypi: FakePyPI) -> None:
    index = fake_pypi.index
    with xmlrpc.client.ServerProxy(fake_pypi.url + "/pypi") as proxy:
        assert proxy.list_packages_with_serial() == {p.name: p.last_serial for p in index.projects()}
        changes = proxy.changelog_since_serial(index.serial - 1)
    assert changes == [["yanky", "1.0", index.journal[-1].timestamp, "yank release", index.serial]]


# --- bad data in the index ----------------------------------------------------------------


def test_patched_files_lie_permanently(fake_pypi: FakePyPI) -> None:
    index = fake_pypi.index
    real = index.file("dep-lib", "dep_lib-0.1-py3-none-any.whl")
    index.patch_file("dep-lib", real.filename, url="/elsewhere/dep_lib-0.1-py3-none-any.whl", json_filename="a/b.whl")
    listed = fetch(fake_pypi, "/pypi/dep-lib/json").json()["urls"][0]
    assert (
        listed["url"] == f"{fake_pypi.url}/elsewhere/dep_lib-0.1-py3-none-any.whl" and listed["filename"] == "a/b.whl"
    )
    assert fetch(fake_pypi, "/elsewhere/dep_lib-0.1-py3-none-any.whl").body == real.artifact.content
    index.patch_file("dep-lib", real.filename, url="/packages/../../etc/passwd", digests={"sha256": "0" * 64})
    doc = fetch(fake_pypi, "/pypi/dep-lib/json").json()
    assert doc["urls"][0]["url"].endswith("/packages/../../etc/passwd")
    assert doc["urls"][0]["digests"] == {"sha256": "0" * 64}
    assert fetch(fake_pypi, real.path).body == real.artifact.content  # the bytes are still the real ones
    index.patch_file("dep-lib", real.filename, url=None, digests=None, json_filename=None)
    assert fetch(fake_pypi, "/pypi/dep-lib/json").json()["urls"][0]["digests"] == real.artifact.digests


# --- faults ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_fail_fires_exactly_n_times(fake_pypi: FakePyPI, status: int) -> None:
    fault = fake_pypi.fail("/pypi/yanky/json", status, times=2)
    statuses = [fetch(fake_pypi, "/pypi/yanky/json").status for _ in range(3)]
    assert statuses == [status, status, 200] and fault.fired == 2 and fault.remaining == 0
    assert fetch(fake_pypi, "/pypi/foo-bar/json").status == 200


def test_rate_limit(fake_pypi: FakePyPI) -> None:
    fault = fake_pypi.rate_limit("/simple/", retry_after=7, times=1)
    first = fetch(fake_pypi, "/simple/")
    assert (first.status, first.headers["Retry-After"]) == (429, "7")
    assert fetch(fake_pypi, "/simple/").status == 200 and fault.fired == 1


def test_glob_and_method_filters(fake_pypi: FakePyPI) -> None:
    fault = fake_pypi.fail("/packages/*.whl", 404, times=None, method="HEAD")
    path = fake_pypi.file_path("yanky", "yanky-1.1-py3-none-any.whl")
    assert fetch(fake_pypi, path).status == 200
    assert [fetch(fake_pypi, path, method="HEAD").status for _ in range(3)] == [404, 404, 404]
    assert fault.remaining is None and fault.fired == 3
    fake_pypi.clear_faults()
    assert fetch(fake_pypi, path, method="HEAD").status == 200


def test_drop_before_response(fake_pypi: FakePyPI) -> None:
    fault = fake_pypi.drop("/pypi/yanky/json", times=2)
    for _ in range(2):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            fetch(fake_pypi, "/pypi/yanky/json")
    assert fetch(fake_pypi, "/pypi/yanky/json").status == 200 and fault.fired == 2
    assert fake_pypi.requests.count(("GET", "/pypi/yanky/json")) == 3


def test_drop_mid_body(fake_pypi: FakePyPI) -> None:
    path = fake_pypi.file_path("foo-bar", "foo_bar-2.0.tar.gz")
    fault = fake_pypi.drop(path, after_bytes=100)
    with pytest.raises(http.client.IncompleteRead) as caught:
        fetch(fake_pypi, path)
    assert len(caught.value.partial) == 100 and fault.fired == 1
    assert len(fetch(fake_pypi, path).body) == fake_pypi.index.file("foo-bar", "foo_bar-2.0.tar.gz").artifact.size


async def test_drop_mid_body_with_aiohttp(fake_pypi: FakePyPI) -> None:
    path = fake_pypi.file_path("foo-bar", "foo_bar-2.0-py3-none-any.whl")
    fake_pypi.drop(path, after_bytes=10)
    async with aiohttp.ClientSession() as session, session.get(fake_pypi.url + path) as response:
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()


def test_truncate(fake_pypi: FakePyPI) -> None:
    artifact = fake_pypi.index.file("foo-bar", "foo_bar-2.0-py3-none-any.whl").artifact
    path = packages_path(artifact)
    fault = fake_pypi.truncate(path, keep=50, times=2)
    short = [fetch(fake_pypi, path) for _ in range(2)]
    assert [(r.status, len(r.body), r.headers["Content-Length"]) for r in short] == [(200, 50, "50")] * 2
    assert fetch(fake_pypi, path).body == artifact.content and fault.fired == 2


def test_corrupt(fake_pypi: FakePyPI) -> None:
    artifact = fake_pypi.index.file("yanky", "yanky-1.1-py3-none-any.whl").artifact
    fault = fake_pypi.corrupt(packages_path(artifact))
    bad = fetch(fake_pypi, packages_path(artifact)).body
    assert len(bad) == artifact.size and sha256(bad) != artifact.sha256
    assert fetch(fake_pypi, packages_path(artifact)).body == artifact.content and fault.fired == 1


def test_corrupt_every_nth(fake_pypi: FakePyPI) -> None:
    artifact = fake_pypi.index.file("yanky", "yanky-1.1-py3-none-any.whl").artifact
    fault = fake_pypi.corrupt("/packages/*", times=None, every=3)
    bodies = [fetch(fake_pypi, packages_path(artifact)).body for _ in range(6)]
    assert [body == artifact.content for body in bodies] == [True, True, False, True, True, False]
    assert fault.fired == 2


def test_stale_and_missing_serial(fake_pypi: FakePyPI) -> None:
    real = fake_pypi.index.project("yanky").last_serial
    fake_pypi.stale_serial("/pypi/yanky/json", times=2)
    fake_pypi.stale_serial("/pypi/foo-bar/json", serial=1)
    got = [fetch(fake_pypi, "/pypi/yanky/json").headers["X-PyPI-Last-Serial"] for _ in range(3)]
    assert got == [str(real - 1), str(real - 1), str(real)]
    assert fetch(fake_pypi, "/pypi/foo-bar/json").headers["X-PyPI-Last-Serial"] == "1"
    fault = fake_pypi.omit_serial("/pypi/yanky/json")
    assert fetch(fake_pypi, "/pypi/yanky/json").headers.get("X-PyPI-Last-Serial") is None
    assert fetch(fake_pypi, "/pypi/yanky/json").headers["X-PyPI-Last-Serial"] == str(real) and fault.fired == 1


def test_bad_json(fake_pypi: FakePyPI) -> None:
    fault = fake_pypi.bad_json("/pypi/yanky/json")
    reply = fetch(fake_pypi, "/pypi/yanky/json")
    assert reply.status == 200 and reply.headers["X-PyPI-Last-Serial"]
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    assert fetch(fake_pypi, "/pypi/yanky/json").json()["info"]["name"] == "yanky" and fault.fired == 1


async def test_delay_and_client_timeout(fake_pypi: FakePyPI) -> None:
    fault = fake_pypi.delay("/simple/", 0.3, times=2)
    timeout = aiohttp.ClientTimeout(total=0.1)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TimeoutError):
            await session.get(fake_pypi.url + "/simple/", timeout=timeout)
        async with session.get(fake_pypi.url + "/simple/") as slow:
            assert slow.status == 200
        assert fault.fired == 2
        async with session.get(fake_pypi.url + "/simple/", timeout=timeout) as fast:
            assert fast.status == 200


def test_faults_validate_times(fake_pypi: FakePyPI) -> None:
    with pytest.raises(ValueError):
        fake_pypi.fail("/x", times=-1)
    assert fake_pypi.fail("/x", times=0).live is False
    assert len(fake_pypi.faults.pending) == 0


# --- running it ----------------------------------------------------------------------------


async def test_serve_fake_pypi_in_async_code() -> None:
    index = FakeIndex()
    index.add("solo", "1.0", make_wheel("solo", "1.0"))
    async with serve_fake_pypi(index) as pypi, aiohttp.ClientSession() as session:
        async with session.get(f"{pypi.url}/simple/", headers={"Accept": SIMPLE_JSON}) as response:
            doc = await response.json(content_type=None)
        assert doc["projects"] == [{"name": "solo", "_last-serial": 1}]
        index.touch("solo")  # changes while the server runs are seen at once
        async with session.get(f"{pypi.url}/pypi/solo/json") as response:
            assert response.headers["X-PyPI-Last-Serial"] == "2"
    with pytest.raises(OSError):
        fetch(pypi, "/simple/")


def test_run_fake_pypi_stops_and_default_index() -> None:
    with run_fake_pypi() as pypi:
        assert fetch(pypi, "/simple/", headers={"Accept": SIMPLE_JSON}).json()["projects"] == []
    with pytest.raises(OSError):
        fetch(pypi, "/simple/")
    assert [p.name for p in default_index().projects()] == ["dep-lib", "Foo.Bar", "yanky"]


def test_make_config(tmp_path: Path, fake_pypi: FakePyPI, make_config: Callable[..., Path]) -> None:
    path = make_config(
        tmp_path,
        fake_pypi,
        json=True,
        release_files=False,
        digest_name="md5",
        workers=None,
        sections={"plugins": {"enabled": ["allowlist_project"]}, "allowlist": {"packages": ["foo", "bar"]}},
        **{"download-mirror": "http://127.0.0.1:1"},
    )
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    mirror = parser["mirror"]
    assert mirror["directory"] == str(tmp_path / "mirror") and mirror["master"] == fake_pypi.url
    assert mirror["allow-non-https"] == "true" and mirror["json"] == "true" and mirror["release-files"] == "false"
    assert mirror["digest_name"] == "md5" and mirror["download-mirror"] == "http://127.0.0.1:1"
    assert "workers" not in mirror
    assert parser["allowlist"]["packages"].split() == ["foo", "bar"]
    assert parser["plugins"]["enabled"].strip() == "allowlist_project"


def test_pip_installs_from_the_fake(tmp_path: Path, fake_pypi: FakePyPI) -> None:
    command = [sys.executable, "-m", "pip", "install", "--isolated", "--disable-pip-version-check", "--no-cache-dir"]
    command += ["--index-url", f"{fake_pypi.url}/simple/", "--target", str(tmp_path / "site"), "foo.bar", "yanky"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    installed = {p.name for p in (tmp_path / "site").iterdir()}
    assert {"foo_bar", "dep_lib", "yanky", "foo_bar-2.0.dist-info", "yanky-1.1.dist-info"} <= installed
    assert fake_pypi.paths("/simple/") == ["/simple/foo-bar/", "/simple/yanky/", "/simple/dep-lib/"]
