"""PEP 691 negotiation, Range, validators and request paths, without a server."""

from __future__ import annotations

import json

import pytest

from frumious.protocol.serving import (
    FULL,
    UNSATISFIABLE,
    ByteRange,
    Variant,
    choose,
    document_serial,
    etag_matches,
    evaluate,
    is_fresh,
    make_etag,
    page_serial,
    parse_accept,
    parse_range,
    range_applies,
    split_path,
)

ALL = set(Variant)
HTML_ONLY = {Variant.V1_HTML, Variant.TEXT_HTML}
JSON_ONLY = {Variant.JSON}

PIP = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
UV = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
POETRY = "application/vnd.pypi.simple.v1+json, */*;q=0.1"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"

J, H, T = Variant.JSON, Variant.V1_HTML, Variant.TEXT_HTML


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (PIP, J),
        (UV, J),
        (POETRY, J),
        (None, T),  # missing Accept is */*: old clients that only parse HTML keep working
        ("", T),
        ("*/*", T),
        (BROWSER, T),
        ("text/html", T),
        ("text/*", T),
        ("application/*", J),  # json and v1+html tie: the server prefers JSON
        ("application/vnd.pypi.simple.v1+html", H),
        ("application/vnd.pypi.simple.latest+html", H),
        ("application/vnd.pypi.simple.latest+json", J),
        ("APPLICATION/VND.PYPI.SIMPLE.V1+JSON", J),
        ("application/vnd.pypi.simple.v1+json;q=0.5, application/vnd.pypi.simple.v1+html;q=0.5", J),
        ("application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.5", T),
        ("application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.4", J),
        ("application/vnd.pypi.simple.v1+html;q=0.3, text/html;q=0.2", H),
        ("application/vnd.pypi.simple.v1+html;q=0.3, text/html;q=0.3", T),
        ("*/*;q=0.1, application/vnd.pypi.simple.v1+json;q=0", T),  # the specific range wins
        ("application/vnd.pypi.simple.v1+json ; Q=1.000 ,text/html;q=0.999", J),
        ("application/json", None),
        ("image/png, application/vnd.pypi.simple.v2+json", None),
        ("*/*;q=0", None),
        ("text/html;q=abc", None),  # an unparsable q counts as 0
        ("text/html;q=1.5", None),
        ("garbage, ;;;,,, /, text/html", T),
    ],
)
def test_choose_over_accept(accept: str | None, expected: Variant | None) -> None:
    assert choose(accept, ALL) is expected


@pytest.mark.parametrize(
    ("accept", "available", "expected"),
    [
        (PIP, HTML_ONLY, H),  # v1+html q=0.1 beats text/html q=0.01
        (POETRY, HTML_ONLY, T),
        ("*/*", JSON_ONLY, J),
        ("text/html", JSON_ONLY, None),
        (PIP, JSON_ONLY, J),
        ("application/vnd.pypi.simple.v1+json", HTML_ONLY, None),
    ],
)
def test_only_variants_on_disk_are_offered(accept: str, available: set[Variant], expected: Variant | None) -> None:
    assert choose(accept, available) is expected


@pytest.mark.parametrize(
    ("fmt", "available", "expected"),
    [
        ("application/vnd.pypi.simple.v1+json", ALL, J),
        ("application/vnd.pypi.simple.v1 json", ALL, J),  # '+' decoded as a space in a query
        ("application/vnd.pypi.simple.latest+html", ALL, H),
        ("text/html", ALL, T),
        ("application/vnd.pypi.simple.v1+json", HTML_ONLY, None),
        ("text/plain", ALL, None),
    ],
)
def test_format_parameter_overrides_accept(fmt: str, available: set[Variant], expected: Variant | None) -> None:
    assert choose("text/html", available, fmt) is expected


def test_empty_format_parameter_is_ignored() -> None:
    assert choose(PIP, ALL, "") is J


def test_huge_accept_header_is_cheap_and_safe() -> None:
    header = ", ".join(["x/y;q=0.5"] * 10_000) + ", application/vnd.pypi.simple.v1+json"
    assert len(parse_accept(header)) == 64
    assert choose(header, ALL) is None  # only the first 64 entries count


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 100, FULL),
        ("bytes=0-9", 100, ByteRange(0, 9, 100)),
        ("bytes=90-", 100, ByteRange(90, 99, 100)),
        ("bytes=-10", 100, ByteRange(90, 99, 100)),
        ("bytes=-1000", 100, ByteRange(0, 99, 100)),
        ("bytes=50-5000", 100, ByteRange(50, 99, 100)),
        ("BYTES = 1-1", 100, ByteRange(1, 1, 100)),
        ("bytes=0-99999999999999999999999999999999", 100, ByteRange(0, 99, 100)),
        ("bytes=100-", 100, UNSATISFIABLE),
        ("bytes=99999999999999999999999999999999-", 100, UNSATISFIABLE),
        ("bytes=-0", 100, UNSATISFIABLE),
        ("bytes=5-4", 100, UNSATISFIABLE),
        ("bytes=abc", 100, UNSATISFIABLE),
        ("bytes=-", 100, UNSATISFIABLE),
        ("bytes=", 100, UNSATISFIABLE),
        ("bytes=1-2-3", 100, UNSATISFIABLE),
        ("bytes=" + "9" * 5000 + "-", 100, UNSATISFIABLE),
        ("bytes=0-1,5-6", 100, FULL),  # several ranges: served whole
        ("bytes=0-1,x", 100, UNSATISFIABLE),
        ("items=0-1", 100, FULL),  # an unknown unit is ignored
        ("garbage", 100, FULL),
        ("bytes=0-0", 0, FULL),
    ],
)
def test_parse_range(header: str | None, size: int, expected: object) -> None:
    assert parse_range(header, size) == expected


def test_byte_range_headers() -> None:
    rng = ByteRange(90, 99, 100)
    assert (rng.length, rng.content_range) == (10, "bytes 90-99/100")


def test_etag_matching() -> None:
    assert etag_matches('"a", "b"', '"b"', weak=True)
    assert etag_matches('W/"b"', '"b"', weak=True)
    assert not etag_matches('W/"b"', '"b"', weak=False)
    assert etag_matches("*", '"b"', weak=True)
    assert not etag_matches('"c"', '"b"', weak=True)
    assert not etag_matches('"b"', 'W/"b"', weak=False)


def test_freshness_and_if_range() -> None:
    etag = make_etag(10, 1_700_000_000.5)
    assert etag == '"6553f100-a"'
    assert is_fresh(etag, None, etag, 1_700_000_000.5)
    assert not is_fresh('"other"', "Wed, 01 Jan 2100 00:00:00 GMT", etag, 1_700_000_000.5)  # INM wins
    assert is_fresh(None, "Tue, 14 Nov 2023 22:13:20 GMT", etag, 1_700_000_000.5)
    assert not is_fresh(None, "Tue, 14 Nov 2023 22:13:19 GMT", etag, 1_700_000_000.5)
    assert not is_fresh(None, "not a date", etag, 1_700_000_000.5)
    assert range_applies(None, etag, 1.0)
    assert range_applies(etag, etag, 1.0)
    assert not range_applies('"stale"', etag, 1.0)
    assert not range_applies("nonsense", etag, 1.0)


def test_evaluate() -> None:
    etag = make_etag(100, 5.0)
    assert evaluate({}, 100, etag, 5.0) == 200
    assert evaluate({"If-None-Match": etag}, 100, etag, 5.0) == 304
    assert evaluate({"Range": "bytes=0-0"}, 100, etag, 5.0) == ByteRange(0, 0, 100)
    assert evaluate({"Range": "bytes=0-0", "If-Range": '"old"'}, 100, etag, 5.0) == 200
    assert evaluate({"Range": "bytes=200-"}, 100, etag, 5.0) == 416


def test_etag_without_mtime() -> None:
    assert make_etag(3, None, {"sha256": "ab"}) == '"ab"'
    assert make_etag(3, None) == 'W/"3"'


def test_page_serial() -> None:
    assert page_serial(b"<html>...</html>\n<!--SERIAL 1234-->") == "1234"
    assert page_serial(b'{"files": [], "meta": {"api-version": "1.1", "_last-serial": "77"}}') == "77"
    assert page_serial(b'{"meta": {"_last-serial": 78, "api-version": "1.1"}, "projects": []}') == "78"
    assert page_serial(b"nothing") is None


def test_page_serial_reads_meta_wherever_it_is() -> None:
    files = [{"filename": f"x-{n}.tar.gz", "yanked": '"_last-serial": "9"'} for n in range(30)]
    page = json.dumps({"files": files, "meta": {"_last-serial": "12"}, "name": "x", "versions": ["1"] * 30})
    assert page_serial(page.encode()) == "12"
    root = {"meta": {"_last-serial": 40}, "projects": [{"name": "a", "_last-serial": 3}]}
    assert page_serial(json.dumps(root).encode()) == "40"  # not the last project's
    assert page_serial(b'{"meta": {"_last-serial": "-1"}}') is None
    assert page_serial(b'{"meta": ') is None


def test_document_serial_reads_the_top_level_last_serial() -> None:
    document = {"info": {"name": "x", "last_serial": 1}, "last_serial": 77, "releases": {}, "urls": []}
    assert document_serial(json.dumps(document, indent=4, sort_keys=True).encode()) == "77"
    assert document_serial(b'{"info": {}}') is None


@pytest.mark.parametrize(
    ("raw", "root", "expected"),
    [
        ("/", "/", ([], True)),
        ("/simple/", "/", (["simple"], True)),
        ("/simple", "/", (["simple"], False)),
        ("/simple/foo/?format=x", "/", (["simple", "foo"], True)),
        ("/packages/ab/c%20d.whl", "/", (["packages", "ab", "c d.whl"], False)),
        ("/mirror/simple/", "/mirror", (["simple"], True)),
        ("/mirror/simple/", "/mirror/", (["simple"], True)),
        ("/simple/", "/mirror/", None),
        ("/simple/../status", "/", None),
        ("/simple/%2e%2e/status", "/", None),
        ("/simple/%2E%2E/status", "/", None),
        ("/packages/a%2fb", "/", None),
        ("/packages/a%5cb", "/", None),
        ("/packages/a\\b", "/", None),
        ("/packages/a%00b", "/", None),
        ("/packages//etc", "/", None),
        ("/packages/./x", "/", None),
        ("/packages/%ff", "/", None),
        ("relative", "/", None),
    ],
)
def test_split_path(raw: str, root: str, expected: tuple[list[str], bool] | None) -> None:
    assert split_path(raw, root) == expected


def test_a_page_replaced_within_the_same_second_at_the_same_size_gets_a_new_etag() -> None:
    # Every page is replaced by a rename: a new inode. nginx's mtime-size alone would repeat.
    first = make_etag(10, 1_700_000_000.1, inode=41)
    second = make_etag(10, 1_700_000_000.9, inode=42)
    assert first != second
    assert first.startswith('"6553f100-a-')
