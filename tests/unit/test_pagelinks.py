"""Reading ownership back from our own pages."""

from __future__ import annotations

import pytest

from frumious.protocol.pagelinks import file_keys, page_hrefs

HTML = b'<a href="../../packages/ab/cd/x/foo-1.0.tar.gz#sha256=00">foo</a><br/>\n<a href="https://other/x">x</a>'
JSON = b'{"files": [{"url": "../../packages/ab/cd/x/foo%2B1.whl"}], "meta": {}}'


def test_hrefs_from_html_and_json_pages() -> None:
    assert page_hrefs(HTML, json_page=False) == ["../../packages/ab/cd/x/foo-1.0.tar.gz", "https://other/x"]
    assert page_hrefs(JSON, json_page=True) == ["../../packages/ab/cd/x/foo%2B1.whl"]
    assert page_hrefs(b"not json", json_page=True) == []


def test_only_links_into_this_mirror_become_keys() -> None:
    hrefs = ["../../packages/ab/cd/x/foo%2B1.whl", "https://files.example/packages/a/b.whl", "../../evil/x"]
    assert file_keys("foo", hrefs) == {"web/packages/ab/cd/x/foo+1.whl"}


def test_our_pages_serials_are_read_like_upstream_pages() -> None:
    """One serial reader: a page's serial beyond 2**63 - 1 (or of 5,000 digits) is no serial."""
    from frumious.protocol import pagelinks

    too_big = b"9223372036854775808"
    huge = b"9" * 5000
    for value in (too_big, b'"' + huge + b'"'):
        body = b'{"meta": {"_last-serial": ' + value + b'}, "files": []}'
        assert pagelinks.read_page(body, json_page=True).serial is None
        assert pagelinks.read_page(body, json_page=True, strict=False).serial is None
    assert pagelinks.read_page(b'{"meta": {"_last-serial": "12"}, "files": []}', json_page=True).serial == 12
    assert pagelinks.read_page(b"<!--SERIAL " + too_big + b"-->", json_page=False).serial is None
    assert pagelinks.read_page(b"<!--SERIAL " + huge + b"-->", json_page=False).serial is None
    assert pagelinks.read_page(b"<!--SERIAL 7-->", json_page=False).serial == 7


def test_our_json_pages_read_with_a_5000_digit_integer() -> None:
    """A JSON integer Python refuses to convert is no size (and no ValueError), on our pages too."""
    from frumious.protocol import pagelinks

    huge = b"9" * 5000
    body = b'{"meta": {"_last-serial": 1}, "files": [{"url": "../../packages/ab/x/foo-1.whl",'
    body += b' "hashes": {"sha256": "aa"}, "size": ' + huge + b"}]}"
    page = pagelinks.read_page(body, json_page=True)
    assert (page.serial, page.listed, page.files[0].size, page.files[0].digest) == (1, 1, None, "aa")


def test_strict_reading_refuses_what_tolerant_reading_passes_over() -> None:
    """Our pages: a file without hash or URL is an error; upstream's: it is counted, not read."""
    from frumious.protocol import pagelinks

    body = b'{"files": [{"url": "../../packages/ab/x/a.whl"}, {"filename": "b.whl"}]}'
    with pytest.raises(ValueError):
        pagelinks.read_page(body, json_page=True)
    page = pagelinks.read_page(body, json_page=True, strict=False)
    assert (page.listed, [f.href for f in page.files]) == (2, ["../../packages/ab/x/a.whl"])
    with pytest.raises(ValueError):
        pagelinks.read_page(b"[]", json_page=True)
    assert pagelinks.read_page(b"\xff<a href=x>", json_page=False, strict=False).files == []
