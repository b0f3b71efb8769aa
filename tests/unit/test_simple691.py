"""Upstream project pages (PEP 691 JSON, PEP 503 HTML) to models: ``protocol.simple691``."""

from __future__ import annotations

import json

import pytest

from frumious.errors import BadUpstreamData
from frumious.protocol.simple691 import is_json, read_html_listing, read_project_page, version_of

SHA = "a" * 64
META = "b" * 64
BASE = "https://index.example/simple/foo-bar/"

JSON_PAGE = {
    "meta": {"api-version": "1.4", "_last-serial": 4242},
    "name": "foo-bar",
    "versions": ["1.0", "2.0rc1", "3.0"],
    "project-status": {"status": "deprecated", "reason": "use bar"},
    "tracks": ["https://other.example/simple/foo-bar/"],
    "alternate-locations": ["https://mirror.example/simple/foo-bar/"],
    "files": [
        {
            "filename": "foo_bar-1.0-py3-none-any.whl",
            "url": "../../packages/aa/bb/" + "c" * 60 + "/foo_bar-1.0-py3-none-any.whl",
            "hashes": {"sha256": SHA},
            "requires-python": ">=3.8",
            "size": 1234,
            "upload-time": "2024-01-02T03:04:05.123456Z",
            "yanked": "broken build",
            "core-metadata": {"sha256": META},
            "provenance": "https://index.example/integrity/foo-bar/1.0/foo_bar-1.0-py3-none-any.whl/provenance",
        },
        {
            "filename": "Foo.Bar-2.0rc1.tar.gz",
            "url": "https://files.example/x/Foo.Bar-2.0rc1.tar.gz",
            "hashes": {"sha256": SHA, "md5": "d" * 32},
            "requires-python": None,
            "size": 99,
            "yanked": False,
        },
        {
            "filename": "foo_bar-1.0-py2.7.egg",
            "url": "/eggs/foo_bar-1.0-py2.7.egg",
            "hashes": {"sha256": SHA},
        },
        {"filename": "setup-helper.zip", "url": "https://files.example/setup-helper.zip", "hashes": {}},
    ],
}


def test_a_pep_691_page_gives_every_field_grouped_by_version() -> None:
    page = read_project_page(json.dumps(JSON_PAGE).encode(), json_page=True, expected="Foo.Bar", base_url=BASE)
    project = page.project
    assert page.serial == 4242 and page.api_version == "1.4"
    assert project.name == "Foo.Bar" and project.source == "simple"
    assert (project.status, project.status_reason) == ("deprecated", "use bar")
    # What the mirror's pages pass through (render): the claimed version and PEP 708's URLs.
    assert project.api_version == "1.4"
    assert project.tracks == ("https://other.example/simple/foo-bar/",)
    assert project.alternate_locations == ("https://mirror.example/simple/foo-bar/",)
    assert list(project.releases) == ["1.0", "2.0rc1", "3.0"]  # PEP 700 versions, one without files
    assert project.releases["3.0"] == ()
    wheel, egg = project.releases["1.0"]
    assert wheel.url == "https://index.example/packages/aa/bb/" + "c" * 60 + "/foo_bar-1.0-py3-none-any.whl"
    assert (wheel.size, wheel.upload_time, wheel.requires_python) == (1234, "2024-01-02T03:04:05.123456Z", ">=3.8")
    assert wheel.yanked and wheel.yanked_reason == "broken build"
    assert wheel.core_metadata == {"sha256": META}
    assert wheel.provenance is not None and wheel.provenance.endswith("/provenance")
    assert (wheel.packagetype, wheel.python_version) == ("bdist_wheel", "py3")
    assert egg.url == "https://index.example/eggs/foo_bar-1.0-py2.7.egg" and egg.packagetype == "bdist_egg"
    assert egg.size is None and not egg.has_requires_python
    (sdist,) = project.releases["2.0rc1"]
    assert sdist.digests == {"sha256": SHA, "md5": "d" * 32} and sdist.requires_python is None
    assert sdist.has_requires_python and not sdist.yanked
    # A file whose version its name cannot tell is left out, and said so.
    assert page.unversioned == ("setup-helper.zip",)
    assert project.info == {"name": "Foo.Bar", "version": "1.0"}  # the newest final release with files


def test_the_answers_serial_is_built_into_the_project_over_the_pages() -> None:
    body = json.dumps(JSON_PAGE).encode()
    page = read_project_page(body, json_page=True, expected="Foo.Bar", base_url=BASE, serial=5000)
    assert (page.serial, page.project.serial) == (5000, 5000)
    # Without one (no valid X-PyPI-Last-Serial), the page's meta._last-serial; with neither, 0.
    assert read_project_page(body, json_page=True, expected="Foo.Bar", base_url=BASE).project.serial == 4242
    bare = {k: v for k, v in JSON_PAGE.items() if k != "meta"}
    page = read_project_page(json.dumps(bare).encode(), json_page=True, expected="Foo.Bar", base_url=BASE)
    assert (page.serial, page.project.serial) == (None, 0)


def test_a_pep_503_page_gives_what_its_attributes_carry() -> None:
    html = f"""<!DOCTYPE html><html><head>
    <meta name="pypi:repository-version" content="1.4">
    <meta name="pypi:project-status" content="quarantined">
    <meta name="pypi:tracks" content="https://a.example/simple/foo-bar/">
    <meta name="pypi:tracks" content="https://b.example/simple/foo-bar/">
    <title>Links for Foo.Bar</title></head><body>
    <a href="https://files.example/p/foo_bar-1.0-py3-none-any.whl#sha256={SHA}"
       data-requires-python="&gt;=3.8" data-core-metadata="sha256={META}" data-yanked=""
       data-size="10" data-upload-time="2024-01-01T00:00:00Z">foo_bar-1.0-py3-none-any.whl</a><br/>
    <a href='foo_bar-1.1.tar.gz#sha256={SHA}' data-dist-info-metadata="true">foo_bar-1.1.tar.gz</a>
    </body></html>
<!--SERIAL 77-->""".encode()
    page = read_project_page(html, json_page=False, expected="foo-bar", base_url=BASE)
    assert page.serial == 77 and page.project.status == "quarantined" and page.project.api_version == "1.4"
    assert page.project.tracks == ("https://a.example/simple/foo-bar/", "https://b.example/simple/foo-bar/")
    wheel = page.project.releases["1.0"][0]
    assert wheel.requires_python == ">=3.8" and wheel.yanked and wheel.yanked_reason is None
    assert wheel.core_metadata == {"sha256": META} and wheel.size == 10
    assert wheel.upload_time == "2024-01-01T00:00:00Z"
    sdist = page.project.releases["1.1"][0]
    assert sdist.url == BASE + "foo_bar-1.1.tar.gz" and sdist.core_metadata is True and sdist.size is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"files": [], "name": "other", "meta": {}}', "answered for 'other'"),
        (b'{"files": [], "meta": {"api-version": "2.0"}}', "api-version '2.0'"),
        (b'{"files": [{"filename": "a-1.tar.gz", "url": "ftp://x/a-1.tar.gz"}]}', "not http(s)"),
        (b'{"files": [{"filename": "../a-1.tar.gz", "url": "a-1.tar.gz"}]}', "a-1.tar.gz"),
        (b'{"files": [{"filename": "a-1.tar.gz", "url": "a", "hashes": {"sha256": "zz"}}]}', "hex digest"),
        (b'{"files": [{"filename": "a-1.tar.gz", "url": "a", "size": -1}]}', "non-negative"),
        (b"[1, 2", "not valid JSON"),
        (b'{"files": [], "meta": {"_last-serial": 9223372036854775808}}', "non-negative integer below"),
        (b'{"files": [], "tracks": "https://x/"}', "'tracks' must be a list"),
    ],
)
def test_bad_pages_are_refused_with_one_line(body: bytes, message: str) -> None:
    with pytest.raises(BadUpstreamData, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_project_page(body, json_page=True, expected="a", base_url=BASE)


def test_versions_come_from_filenames_in_the_listed_spelling() -> None:
    listed = {__import__("packaging.version").version.Version("1.0.0-1"): "1.0.0-1"}
    assert version_of("a-1.0.0.post1.tar.gz", "a", listed) == "1.0.0-1"
    assert version_of("a_b-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", "a.b") == "2.0"
    assert version_of("a-b-3.1.win32.exe", "a-b", {}) is None


def test_content_type_and_listing() -> None:
    assert is_json("application/vnd.pypi.simple.v1+json", b"")
    assert not is_json("text/html; charset=utf-8", b"{")
    assert is_json("", b' {"files": []}')
    assert read_html_listing(b'<a href="/simple/foo/">Foo</a><a href="bar/"></a>') == ["Foo", "bar"]
