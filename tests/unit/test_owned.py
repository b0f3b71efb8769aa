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
