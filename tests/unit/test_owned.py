"""Reading ownership back from our own pages."""

from __future__ import annotations

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
    from frumious.protocol import pagelinks, parse

    too_big = b"9223372036854775808"
    huge = b"9" * 5000
    for value in (too_big, b'"' + huge + b'"'):
        body = b'{"meta": {"_last-serial": ' + value + b'}, "files": []}'
        assert pagelinks.read_json_page(body).serial is None
        assert parse.read_project_page(body).serial is None
    assert pagelinks.read_json_page(b'{"meta": {"_last-serial": "12"}, "files": []}').serial == 12
    assert pagelinks.read_html_page(b"<!--SERIAL " + too_big + b"-->").serial is None
    assert pagelinks.read_html_page(b"<!--SERIAL " + huge + b"-->").serial is None
    assert pagelinks.read_html_page(b"<!--SERIAL 7-->").serial == 7
