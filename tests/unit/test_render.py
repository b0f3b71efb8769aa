import dataclasses
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from frumious.errors import BadUpstreamData
from frumious.models import DistFile, Project
from frumious.protocol import parse, render

T = "2020-01-02T03:04:05.123456Z"
A1, B2, C3, D4, E5, F6 = ("a1" * 32, "b2" * 32, "c3" * 32, "d4" * 32, "e5" * 32, "f6" * 32)
MD5_B, MD5_C = "0b" * 16, "0c" * 16
FILES = "https://files.example/packages"
C60, D60, E60 = "c" * 60, "d" * 60, "e" * 60
# UNFETCHED is off PyPI's layout: it lands by its sha256.
OFF = f"{E5[:2]}/{E5[2:4]}/{E5[4:]}"

SDIST = DistFile(
    filename="foo_bar-1.0.tar.gz",
    url=f"{FILES}/aa/bb/{C60}/foo_bar-1.0.tar.gz",
    size=100,
    digests={"md5": "0a" * 16, "sha256": A1},
    version="1.0",
    upload_time=T,
    requires_python=None,
    core_metadata=False,
)
WHEEL = DistFile(
    filename="foo_bar-1.0-py3-none-any.whl",
    url=f"{FILES}/aa/bb/{D60}/foo_bar-1.0-py3-none-any.whl",
    size=200,
    digests={"md5": MD5_B, "sha256": B2},
    version="1.0",
    upload_time=T,
    requires_python=">=3.8,<4",
    yanked=True,
    yanked_reason="broken <b> & 'quoted'",
    core_metadata={"sha256": C3, "md5": MD5_C},
)
# A filename that needs escaping, a URL path with a raw '&', no requires_python
# key, yanked without a reason, no upload time.
ODD = DistFile(
    filename="foo&bar<2>.tar.gz",
    url=f"{FILES}/ee/ee/{E60}/foo&bar%3C2%3E.tar.gz",
    size=300,
    digests={"md5": "0d" * 16, "sha256": D4},
    version="2.0",
    has_requires_python=False,
    yanked=True,
)
# Upstream has core metadata for it, but we do not hold the .metadata file.
UNFETCHED = DistFile(
    filename="foo_bar-2.0-py3-none-any.whl",
    url="https://other.example/whl/foo_bar-2.0-py3-none-any.whl?token=x",
    size=400,
    digests={"md5": "0e" * 16, "sha256": E5},
    version="2.0",
    upload_time=T,
    requires_python="",
    core_metadata={"sha256": F6},
)
PROJECT = Project(
    name="Foo.Bar",
    serial=4242,
    releases={"1.0": (SDIST, WHEEL), "2.0": (ODD, UNFETCHED), "10.0": ()},
)


def held(file: DistFile) -> bool:
    return file is not UNFETCHED


def html(
    project: Project = PROJECT,
    *,
    raw_name: str = "Foo.Bar",
    digest_name: str = "sha256",
    root_uri: str = "",
    core_metadata: bool = True,
    has_metadata: Callable[[DistFile], bool] = held,
) -> bytes:
    return render.project_html(
        project,
        raw_name=raw_name,
        digest_name=digest_name,
        root_uri=root_uri,
        core_metadata=core_metadata,
        has_metadata=has_metadata,
    )


def page_json(
    project: Project = PROJECT,
    *,
    digest_name: str = "sha256",
    root_uri: str = "",
    core_metadata: bool = True,
    has_metadata: Callable[[DistFile], bool] = held,
) -> bytes:
    return render.project_json(
        project, digest_name=digest_name, root_uri=root_uri, core_metadata=core_metadata, has_metadata=has_metadata
    )


HEAD = '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.0">\n'


def test_project_html_bytes() -> None:
    page = html()
    expected = (
        HEAD + "    <title>Links for Foo.Bar</title>\n"
        "  </head>\n"
        "  <body>\n"
        "    <h1>Links for Foo.Bar</h1>\n"
        f'    <a href="../../packages/ee/ee/{E60}/foo&amp;bar%3C2%3E.tar.gz#sha256={D4}" data-yanked=""'
        ' data-size="300">'
        "foo&amp;bar&lt;2&gt;.tar.gz</a><br/>\n"
        f'    <a href="../../packages/aa/bb/{D60}/foo_bar-1.0-py3-none-any.whl#sha256={B2}"'
        ' data-requires-python="&gt;=3.8,&lt;4"'
        f' data-core-metadata="sha256={C3}" data-dist-info-metadata="sha256={C3}"'
        ' data-yanked="broken &lt;b&gt; &amp; &#x27;quoted&#x27;"'
        f' data-size="200" data-upload-time="{T}">foo_bar-1.0-py3-none-any.whl</a><br/>\n'
        f'    <a href="../../packages/aa/bb/{C60}/foo_bar-1.0.tar.gz#sha256={A1}" data-size="100"'
        f' data-upload-time="{T}">foo_bar-1.0.tar.gz</a><br/>\n'
        f'    <a href="../../packages/{OFF}/foo_bar-2.0-py3-none-any.whl#sha256={E5}" data-requires-python=""'
        f' data-size="400" data-upload-time="{T}">'
        "foo_bar-2.0-py3-none-any.whl</a><br/>\n"
        "  </body>\n"
        "</html>\n"
        "<!--SERIAL 4242-->"
    )
    assert page == expected.encode("utf-8")


def test_project_json_bytes() -> None:
    page = page_json()
    expected = (
        '{"files": ['
        f'{{"filename": "foo&bar<2>.tar.gz", "hashes": {{"sha256": "{D4}"}}, "requires-python": "", "size": 300, '
        f'"url": "../../packages/ee/ee/{E60}/foo&bar%3C2%3E.tar.gz", "yanked": true}}, '
        f'{{"filename": "foo_bar-1.0-py3-none-any.whl", "hashes": {{"sha256": "{B2}"}}, '
        f'"requires-python": ">=3.8,<4", "size": 200, "upload-time": "{T}", '
        f'"url": "../../packages/aa/bb/{D60}/foo_bar-1.0-py3-none-any.whl", '
        f'"yanked": "broken <b> & \'quoted\'", "core-metadata": {{"sha256": "{C3}"}}}}, '
        f'{{"filename": "foo_bar-1.0.tar.gz", "hashes": {{"sha256": "{A1}"}}, "requires-python": null, '
        f'"size": 100, "upload-time": "{T}", "url": "../../packages/aa/bb/{C60}/foo_bar-1.0.tar.gz", '
        '"yanked": false, "core-metadata": false}, '
        f'{{"filename": "foo_bar-2.0-py3-none-any.whl", "hashes": {{"sha256": "{E5}"}}, "requires-python": "", '
        f'"size": 400, "upload-time": "{T}", "url": "../../packages/{OFF}/foo_bar-2.0-py3-none-any.whl", '
        '"yanked": false}'
        '], "meta": {"api-version": "1.1", "_last-serial": "4242"}, "name": "foo-bar", '
        '"versions": ["1.0", "10.0", "2.0"]}'
    )
    assert page == expected.encode("ascii")


def test_md5_digest_name_and_root_uri() -> None:
    root = "https://mirror.example/pypi"
    project = Project(name="Foo.Bar", serial=7, releases={"1.0": (WHEEL,)})
    page = html(project, raw_name="foo-bar", digest_name="md5", root_uri=root).decode()
    assert (
        f'    <a href="https://mirror.example/pypi/packages/aa/bb/{D60}/foo_bar-1.0-py3-none-any.whl#md5={MD5_B}"'
        ' data-requires-python="&gt;=3.8,&lt;4"'
        f' data-core-metadata="md5={MD5_C}" data-dist-info-metadata="md5={MD5_C}"'
        ' data-yanked="broken &lt;b&gt; &amp; &#x27;quoted&#x27;"'
        f' data-size="200" data-upload-time="{T}">foo_bar-1.0-py3-none-any.whl</a><br/>\n'
    ) in page
    assert "<title>Links for foo-bar</title>" in page
    data = json.loads(page_json(project, digest_name="md5", root_uri=root))
    (entry,) = data["files"]
    assert entry["hashes"] == {"md5": MD5_B}
    assert entry["url"] == f"https://mirror.example/pypi/packages/aa/bb/{D60}/foo_bar-1.0-py3-none-any.whl"
    assert entry["core-metadata"] == {"md5": MD5_C}


def test_core_metadata_off_emits_nothing() -> None:
    assert b"metadata" not in html(core_metadata=False)
    data = json.loads(page_json(core_metadata=False))
    assert all("core-metadata" not in f for f in data["files"])


def test_metadata_not_held_is_not_advertised() -> None:
    assert b"data-core-metadata" not in html(has_metadata=lambda f: False)
    data = json.loads(page_json(has_metadata=lambda f: False))
    # Upstream's explicit false is still passed on; digests we do not hold are not.
    assert [f.get("core-metadata") for f in data["files"]] == [None, None, False, None]


def test_index_v1_html_is_index_html_and_raw_name_is_escaped() -> None:
    project = Project(name="a<b", serial=1, releases={})
    assert (
        html(project, raw_name="a<b>&\"'")
        == (
            HEAD + "    <title>Links for a&lt;b&gt;&amp;&quot;&#x27;</title>\n"
            "  </head>\n"
            "  <body>\n"
            "    <h1>Links for a&lt;b&gt;&amp;&quot;&#x27;</h1>\n"
            # No files: bandersnatch leaves an empty line here.
            "\n"
            "  </body>\n"
            "</html>\n"
            "<!--SERIAL 1-->"
        ).encode()
    )


def test_empty_project_json() -> None:
    project = Project(name="Empty_Thing", serial=5, releases={"1.0": ()})
    assert page_json(
        project
    ) == b'{"files": [], "meta": {"api-version": "1.1", "_last-serial": "5"}, "name": "empty-thing", ' + (
        b'"versions": ["1.0"]}'
    )


def test_missing_digest_is_upstreams_fault() -> None:
    with pytest.raises(BadUpstreamData, match=r"no sha512 digest for foo&bar<2>\.tar\.gz"):
        html(digest_name="sha512")
    with pytest.raises(BadUpstreamData, match="no sha512 digest"):
        page_json(digest_name="sha512")


def test_non_ascii_is_escaped_in_json_and_utf8_in_html() -> None:
    file = DistFile(
        filename="naïve-1.0.tar.gz",
        url=f"{FILES}/aa/bb/{C60}/na%C3%AFve-1.0.tar.gz",
        size=1,
        digests={"sha256": A1},
        version="1.0",
    )
    project = Project(name="naïve", serial=1, releases={"1.0": (file,)})
    assert ">na\xefve-1.0.tar.gz</a>".encode() in html(project, raw_name="naïve")
    assert b'"filename": "na\\u00efve-1.0.tar.gz"' in page_json(project)


def test_metadata_digest_preference() -> None:
    def with_meta(meta: dict[str, str] | bool | None) -> DistFile:
        return DistFile("x.whl", f"{FILES}/aa/bb/{C60}/x.whl", 1, {"sha256": A1}, "1", core_metadata=meta)

    both = with_meta({"md5": MD5_C, "sha256": C3})
    assert render.metadata_digest(both, "md5") == ("md5", MD5_C)
    assert render.metadata_digest(both, "sha512") == ("sha256", C3)
    # Neither configured nor sha256: the first hashlib algorithm by name.
    assert render.metadata_digest(with_meta({"zz_unknown": "00", "sha1": "11", "blake2b": "22"}), "sha256") == (
        "blake2b",
        "22",
    )
    assert render.metadata_digest(with_meta({"zz_unknown": "00"}), "sha256") is None
    assert render.metadata_digest(with_meta(True), "sha256") is None
    assert render.metadata_digest(with_meta(False), "sha256") is None
    assert render.metadata_digest(with_meta(None), "sha256") is None


ROOT_HEAD = HEAD + "    <title>Simple Index</title>\n  </head>\n  <body>\n"


def test_root_html_bytes() -> None:
    assert (
        render.root_html(["69", "foo", "zz-top"])
        == (
            ROOT_HEAD + '    <a href="69/">69</a><br/>\n'
            '    <a href="foo/">foo</a><br/>\n'
            '    <a href="zz-top/">zz-top</a><br/>\n'
            "  </body>\n"
            "</html>"
        ).encode()
    )
    assert render.root_html([]) == (ROOT_HEAD + "  </body>\n</html>").encode()
    # Names come in the caller's order and are escaped.
    assert render.root_html(iter(["b", 'a"<&'])).endswith(
        b'    <a href="b/">b</a><br/>\n    <a href="a&quot;&lt;&amp;/">a&quot;&lt;&amp;</a><br/>\n  </body>\n</html>'
    )


def test_root_json_bytes() -> None:
    assert render.root_json(["69", "foo"], 12345) == (
        b'{"meta": {"_last-serial": 12345, "api-version": "1.1"}, "projects": [{"name": "69"}, {"name": "foo"}]}'
    )
    assert render.root_json([], 0) == b'{"meta": {"_last-serial": 0, "api-version": "1.1"}, "projects": []}'
    assert render.root_json(["69", "foo", "gone"], 9, {"69": 3, "foo": 9}) == (
        b'{"meta": {"_last-serial": 9, "api-version": "1.1"}, "projects": '
        b'[{"name": "69", "_last-serial": 3}, {"name": "foo", "_last-serial": 9}, {"name": "gone"}]}'
    )


def test_saved_json_is_sorted_indented_ascii_without_final_newline() -> None:
    raw = {"releases": {"1.0": []}, "info": {"name": "Ça", "b": None, "a": [1, True]}, "last_serial": 3}
    assert render.saved_json(parse.parse_project(json.dumps(raw).encode())) == (
        b"{\n"
        b'    "info": {\n'
        b'        "a": [\n'
        b"            1,\n"
        b"            true\n"
        b"        ],\n"
        b'        "b": null,\n'
        b'        "name": "\\u00c7a"\n'
        b"    },\n"
        b'    "last_serial": 3,\n'
        b'    "releases": {\n'
        b'        "1.0": []\n'
        b"    }\n"
        b"}"
    )


def test_last_modified() -> None:
    assert render.last_modified(datetime(2023, 12, 5, 3, 43, 56)) == b"20231205T03:43:56\n"
    aware = datetime(2023, 12, 5, 4, 43, 56, 999, tzinfo=timezone(timedelta(hours=1)))
    assert render.last_modified(aware) == b"20231205T03:43:56\n"
    assert render.last_modified(datetime(2023, 1, 2, 3, 4, 5, tzinfo=UTC)) == b"20230102T03:04:05\n"


def test_saved_json_is_upstreams_document_though_the_project_keeps_no_copy_of_it() -> None:
    """Typed fields (info, files' own objects, the other top-level keys) rebuild the document exactly."""
    file = {
        "filename": "a-1.0.tar.gz", "url": "https://f/packages/a-1.0.tar.gz", "size": 5,
        "digests": {"sha256": "ab" * 32}, "comment_text": "", "has_sig": False, "yanked": False,
    }  # fmt: skip
    raw = {
        "info": {"name": "a", "classifiers": ["X"]}, "last_serial": "12", "releases": {"1.0": [file], "0.9": []},
        "urls": [file], "vulnerabilities": [{"id": "V-1", "n": 10**30}],
    }  # fmt: skip
    project = parse.parse_project(json.dumps(raw).encode())
    assert "raw" not in {f.name for f in dataclasses.fields(Project)}
    assert render.saved_json(project) == json.dumps(raw, indent=4, sort_keys=True).encode("ascii")
    assert project.raw == raw  # what older third-party metadata filters read


@pytest.mark.parametrize("char", ["&", "<", ">", '"', "'"])
def test_each_special_character_alone_is_escaped_in_a_page(char: str) -> None:
    # The escape is skipped for text without any of the five: each one alone must still be escaped.
    from html import escape

    name = f"a{char}b"
    page = render.project_html(
        Project(name=name, serial=1, releases={}),
        raw_name=name,
        digest_name="sha256",
        root_uri="",
        core_metadata=False,
        has_metadata=lambda _d: False,
    ).decode()
    assert f"<title>Links for {escape(name, quote=True)}</title>" in page
    assert name not in page
