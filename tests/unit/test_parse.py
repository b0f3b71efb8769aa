import copy
import json
from typing import Any

import pytest

from frumious.errors import BadUpstreamData
from frumious.models import ListingEntry
from frumious.protocol import layout, parse

# --------------------------------------------------------------------------- listing

PYPI_SHAPE = (
    b'{"meta":{"_last-serial":10333929,"api-version":"1.4"},"projects":'
    b'[{"_last-serial":3075854,"name":"0"},{"_last-serial":10333928,"name":"69"},{"_last-serial":5,"name":"Foo.Bar"}]}'
)
EXPECTED = [ListingEntry("0", 3075854), ListingEntry("69", 10333928), ListingEntry("Foo.Bar", 5)]


def test_listing_pypi_shape_takes_the_fast_path() -> None:
    assert parse.scan_listing(PYPI_SHAPE).span is not None
    listing = parse.read_listing(PYPI_SHAPE)
    assert listing == (EXPECTED, 10333929, 0, ())


def test_listing_pretty_printed_name_first() -> None:
    body = json.dumps(
        {"projects": [{"name": e.name, "_last-serial": e.serial} for e in EXPECTED], "meta": {}},
        indent=4,
    ).encode()
    assert parse.scan_listing(body).span is not None
    assert parse.read_listing(body, 10333928) == (EXPECTED, 10333928, 0, ())


def test_listing_raw_utf8_names_stay_on_the_fast_path() -> None:
    body = '{"meta": {}, "projects": [{"name": "café", "_last-serial": 1}]}'.encode()
    assert parse.scan_listing(body).span is not None
    assert parse.read_listing(body) == ([ListingEntry("café", 1)], None, 0, ())


@pytest.mark.parametrize(
    ("projects", "entries", "skipped"),
    [
        # Escapes go through json.loads and decode the same way.
        (
            '[{"name": "caf\\u00e9", "_last-serial": 1}, {"name": "a\\"b", "_last-serial": 2}]',
            [("café", 1), ('a"b', 2)],
            0,
        ),
        # Extra keys are fine.
        ('[{"name": "a", "_last-serial": 1, "extra": [1, {"x": 2}]}]', [("a", 1)], 0),
        # Missing either key, a null, wrong types, negative, empty name: skipped.
        (
            '[{"name": "a"}, {"_last-serial": 1}, {"name": null, "_last-serial": 1},'
            ' {"name": "b", "_last-serial": null},'
            ' {"name": 5, "_last-serial": 1}, {"name": "c", "_last-serial": "1"}, {"name": "d", "_last-serial": true},'
            ' {"name": "e", "_last-serial": 1.5}, {"name": "f", "_last-serial": -1}, {"name": "", "_last-serial": 1},'
            ' "g", 7, null, {"name": "ok", "_last-serial": 0}]',
            [("ok", 0)],
            13,
        ),
        # Duplicate keys: the last one wins, as in json.loads.
        ('[{"name": "a", "name": "b", "_last-serial": 3}]', [("b", 3)], 0),
        ('[{"name": "a", "name": "b"}]', [], 1),
        (
            '[{"name": "", "_last-serial": 1}, {"_last-serial": 2, "name": ""}, {"name": "x", "_last-serial": 3}]',
            [("x", 3)],
            2,
        ),
        ("[]", [], 0),
        # A serial past SQLite's (and PyPI's) integers is invalid, the entries beside it kept.
        ('[{"name": "big", "_last-serial": 9223372036854775808}, {"name": "ok", "_last-serial": 3}]', [("ok", 3)], 1),
    ],
)
def test_listing_odd_entries(projects: str, entries: list[tuple[str, int]], skipped: int) -> None:
    body = f'{{"meta": {{"_last-serial": 9, "api-version": "1.0"}}, "projects": {projects}}}'.encode()
    listing = parse.read_listing(body)
    assert listing.entries == [ListingEntry(n, s) for n, s in entries]
    # A named entry with a bad serial is invalid (still listed), an unnamed one skipped.
    assert listing.skipped + len(listing.invalid) == skipped
    assert listing.serial == 9


def test_listing_with_projects_in_meta_too() -> None:
    # A second "projects" key must not fool the fast path into reading the wrong array.
    body = (
        b'{"meta": {"_last-serial": 2, "projects": [{"name": "decoy", "_last-serial": 1}]},'
        b' "projects": [{"name": "real", "_last-serial": 2}]}'
    )
    assert parse.read_listing(body).entries == [ListingEntry("real", 2)]
    hidden = b'{"meta": {"projects": [{"name": "decoy", "_last-serial": 1}]}, "project\\u0073": []}'
    assert parse.read_listing(hidden).entries == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not valid JSON"),
        (b"<html><body></body></html>", "not valid JSON"),
        (b'{"projects": [{"name": "a", "_last-serial": 1}]', "not valid JSON"),
        (b'{"projects": [{"name": "a", "_last-serial": 1}]} trailing', "not valid JSON"),
        (b'{"projects": [{"name": "a", "_last-serial": 1},]}', "not valid JSON"),
        (b'{"projects": [{"name": "a", "_last-serial": 01}]}', "not valid JSON"),
        (b'{"projects": [{"name": "\xff", "_last-serial": 1}]}', "can't decode"),
        (b"[]", "not a PEP 691 project listing"),
        (b'{"meta": {"_last-serial": 1}}', "not a PEP 691 project listing"),
        (b'{"projects": {"a": 1}}', "not a PEP 691 project listing"),
        (b'{"meta": [], "projects": []}', "'meta' is not an object"),
        (b'{"meta": {"api-version": "2.0"}, "projects": []}', "api-version '2.0'"),
        (b'{"projects": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "not valid JSON"),
    ],
)
def test_listing_rejects(body: bytes, reason: str) -> None:
    with pytest.raises(BadUpstreamData, match=reason):
        parse.read_listing(body)


def test_listing_700k_projects() -> None:
    count = 700_000
    items = b",".join(b'{"_last-serial":%d,"name":"project-%d"}' % (1_000_000 + i, i) for i in range(count))
    body = b'{"meta":{"_last-serial":1700000,"api-version":"1.4"},"projects":[' + items + b"]}"
    del items
    listing = parse.read_listing(body)
    assert len(listing.entries) == count
    assert listing.serial == 1_700_000
    assert listing.skipped == 0
    assert listing.entries[0] == ListingEntry("project-0", 1_000_000)
    assert listing.entries[123_456] == ListingEntry("project-123456", 1_123_456)
    assert listing.entries[-1] == ListingEntry("project-699999", 1_699_999)


# --------------------------------------------------------------------------- project

SHA = "5c11f48399f9b1bca802751513f1f97bff6ce97e6facb576b7729e1351453c10"
URL = "https://files.pythonhosted.org/packages/d3/cc/95dc5434362bd333a1fec275231775d748315b26edf1e7e568e6f8660238"


def file_dict(filename: str = "foo_bar-1.0.tar.gz", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "comment_text": "",
        "digests": {"blake2b_256": "d3cc" + "0" * 60, "md5": "4328d962656395fbd3e730c9d30bb48c", "sha256": SHA},
        "downloads": -1,
        "filename": filename,
        "has_sig": False,
        "md5_digest": "4328d962656395fbd3e730c9d30bb48c",
        "packagetype": "sdist",
        "python_version": "source",
        "requires_python": ">=3.8",
        "size": 1078,
        "upload_time": "2018-05-17T03:37:19",
        "upload_time_iso_8601": "2018-05-17T03:37:19.330556Z",
        "url": f"{URL}/{filename}",
        "yanked": False,
        "yanked_reason": None,
    }
    data.update(changes)
    return data


def document(**releases: list[Any]) -> dict[str, Any]:
    return {
        "info": {"name": "Foo.Bar", "version": "2.0", "summary": "x"},
        "last_serial": 10333928,
        "releases": releases or {"1.0": [file_dict()]},
        "urls": [],
        "vulnerabilities": [],
    }


def body_of(data: Any) -> bytes:
    return json.dumps(data).encode()


def test_project_happy_path() -> None:
    wheel = file_dict(
        "foo_bar-2.0-py3-none-any.whl",
        packagetype="bdist_wheel",
        python_version="py3",
        yanked=True,
        yanked_reason="broken",
        **{"core-metadata": {"sha256": "ab" * 32}},
    )
    no_rp = file_dict("foo_bar-2.0.tar.gz", **{"core-metadata": False})
    del no_rp["requires_python"], no_rp["upload_time_iso_8601"]
    data = document(**{"1.0": [file_dict(requires_python=None)], "2.0": [no_rp, wheel], "3.0": []})
    project = parse.parse_project(body_of(data), expected="foo-bar")

    assert project.name == "Foo.Bar"
    assert project.canonical == "foo-bar"
    assert project.serial == 10333928
    assert project.raw == data
    assert project.info == data["info"]
    assert list(project.releases) == ["1.0", "2.0", "3.0"]
    assert project.releases["3.0"] == ()

    (sdist,) = project.releases["1.0"]
    assert sdist.filename == "foo_bar-1.0.tar.gz"
    assert sdist.url == f"{URL}/foo_bar-1.0.tar.gz"
    assert sdist.size == 1078
    assert sdist.digests["sha256"] == SHA and sdist.digests["md5"] == "4328d962656395fbd3e730c9d30bb48c"
    assert sdist.version == "1.0"
    assert sdist.upload_time == "2018-05-17T03:37:19.330556Z"
    assert (sdist.requires_python, sdist.has_requires_python) == (None, True)
    assert (sdist.yanked, sdist.yanked_reason) == (False, None)
    assert (sdist.packagetype, sdist.python_version) == ("sdist", "source")
    assert sdist.core_metadata is None

    bare, whl = project.releases["2.0"]
    assert (bare.requires_python, bare.has_requires_python, bare.upload_time) == (None, False, "")
    assert bare.core_metadata is False
    assert (whl.yanked, whl.yanked_reason, whl.packagetype) == (True, "broken", "bdist_wheel")
    assert whl.core_metadata == {"sha256": "ab" * 32}
    assert whl.version == "2.0"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"core-metadata": True}, True),
        ({"data-dist-info-metadata": {"sha256": "cd" * 32}}, {"sha256": "cd" * 32}),
        ({"dist-info-metadata": False}, False),
        # The current spelling wins over the legacy ones; a null counts as absent.
        (
            {"core-metadata": {"sha256": "ef" * 32}, "data-dist-info-metadata": {"sha256": "cd" * 32}},
            {"sha256": "ef" * 32},
        ),
        ({"core-metadata": None, "dist-info-metadata": {"md5": "01" * 16}}, {"md5": "01" * 16}),
        ({"core-metadata": None}, None),
    ],
)
def test_project_core_metadata_spellings(extra: dict[str, Any], expected: object) -> None:
    project = parse.parse_project(body_of(document(**{"1.0": [file_dict(**extra)]})))
    assert project.releases["1.0"][0].core_metadata == expected


def test_project_accepts_string_serial_and_matching_spellings() -> None:
    data = document()
    data["last_serial"] = "42"
    assert parse.parse_project(body_of(data), expected="FOO_bar").serial == 42


def corrupt(path: tuple[Any, ...], value: Any) -> bytes:
    """The standard document with one value replaced (or deleted, for ...)."""
    data = copy.deepcopy(document())
    target = data
    for step in path[:-1]:
        target = target[step]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body_of(data)


FILE = ("releases", "1.0", 0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (corrupt(("info",), ...), "no 'info' object"),
        (corrupt(("info",), "x"), "no 'info' object"),
        (corrupt(("info", "name"), ...), "'name' string"),
        (corrupt(("info", "name"), 69), "'name' string"),
        (corrupt(("info", "name"), ""), "'name' string"),
        (corrupt(("releases",), ...), "missing 'releases'"),
        (corrupt(("last_serial",), ...), "missing 'last_serial'"),
        (corrupt(("last_serial",), -1), "'last_serial' must be a non-negative integer"),
        (corrupt(("last_serial",), True), "'last_serial' must be"),
        (corrupt(("last_serial",), 1.5), "'last_serial' must be"),
        (corrupt(("last_serial",), "x1"), "'last_serial' must be"),
        (corrupt(("releases",), []), "'releases' must be an object"),
        (corrupt(("releases", "1.0"), {"a": 1}), "release '1.0' must be a list"),
        (corrupt(FILE, "x"), "file #0: is not an object"),
        (corrupt((*FILE, "filename"), ...), "missing 'filename'"),
        (corrupt((*FILE, "url"), ...), "missing 'url'"),
        (corrupt((*FILE, "digests"), ...), "missing 'digests'"),
        (corrupt((*FILE, "size"), ...), "missing 'size'"),
        (corrupt((*FILE, "filename"), 5), "'filename' and 'url' must be strings"),
        (corrupt((*FILE, "url"), None), "'filename' and 'url' must be strings"),
        (corrupt((*FILE, "filename"), "../evil.tar.gz"), "slash"),
        (corrupt((*FILE, "filename"), ".."), "'..'"),
        (corrupt((*FILE, "filename"), "a\\b.tar.gz"), "slash"),
        (corrupt((*FILE, "filename"), "a\x00.tar.gz"), "NUL"),
        # A URL with PyPI's tail keeps it, so its file name segment is checked; any other lands by sha256.
        (corrupt((*FILE, "url"), f"https://h/packages/aa/bb/{'c' * 60}/%2e%2e"), "'..'"),
        (corrupt((*FILE, "url"), f"https://h/packages/aa/bb/{'c' * 60}/a%2F..%2Fx"), "slash"),
        (corrupt((*FILE, "url"), "file:///packages/aa/x.tar.gz"), "is not http(s)"),
        (corrupt((*FILE, "url"), "/packages/aa/x.tar.gz"), "is not http(s)"),
        (corrupt((*FILE, "size"), -1), "'size' must be a non-negative integer, got -1"),
        (corrupt((*FILE, "size"), "1078"), "'size' must be a non-negative integer"),
        (corrupt((*FILE, "size"), True), "'size' must be a non-negative integer"),
        (corrupt((*FILE, "size"), 10.0), "'size' must be a non-negative integer"),
        (corrupt((*FILE, "size"), None), "'size' must be a non-negative integer"),
        (corrupt((*FILE, "digests"), ["sha256"]), "'digests' must be an object"),
        (corrupt((*FILE, "digests", "sha256"), "not-hex"), "'digests' 'sha256' is not a hex digest"),
        (corrupt((*FILE, "digests", "sha256"), ""), "is not a hex digest"),
        (corrupt((*FILE, "digests", "sha256"), 5), "is not a hex digest"),
        (corrupt((*FILE, "digests", "md5"), "00 11"), "'md5' is not a hex digest"),
        (corrupt((*FILE, "yanked"), "yes"), "'yanked' must be a boolean"),
        (corrupt((*FILE, "yanked_reason"), 1), "'yanked_reason' must be a string or null"),
        (corrupt((*FILE, "requires_python"), [">=3"]), "'requires_python' must be a string or null"),
        (corrupt((*FILE, "upload_time_iso_8601"), 5), "'upload_time_iso_8601' must be a string"),
        (corrupt((*FILE, "packagetype"), 5), "'packagetype' must be a string"),
        (corrupt((*FILE, "core-metadata"), "sha256=00"), "'core-metadata' must be an object"),
        (corrupt((*FILE, "core-metadata"), {"sha256": "zz"}), "'core-metadata' 'sha256' is not a hex digest"),
        (corrupt((*FILE, "dist-info-metadata"), {"sha256": "<x>"}), "'dist-info-metadata' 'sha256' is not a hex"),
    ],
)
def test_project_rejects(body: bytes, reason: str) -> None:
    with pytest.raises(BadUpstreamData) as info:
        parse.parse_project(body)
    assert reason in str(info.value)


def test_project_errors_name_project_release_and_file() -> None:
    with pytest.raises(BadUpstreamData) as info:
        parse.parse_project(corrupt((*FILE, "size"), -5))
    assert str(info.value) == (
        "project 'Foo.Bar' release '1.0' file #0 ('foo_bar-1.0.tar.gz'): 'size' must be a non-negative integer, got -5"
    )


def test_project_expected_name_must_match() -> None:
    with pytest.raises(
        BadUpstreamData, match=r"asked for the metadata of 'foo-baz' but upstream answered for 'Foo\.Bar'"
    ):
        parse.parse_project(body_of(document()), expected="foo-baz")
    with pytest.raises(BadUpstreamData, match="the metadata of 'foo-bar' is not valid JSON"):
        parse.parse_project(b"nope", expected="foo-bar")


def test_read_listing_leaves_garbage_collection_as_it_found_it() -> None:
    import gc

    body = b'{"meta": {}, "projects": [{"name": "a", "_last-serial": 1}]}'
    assert gc.isenabled()
    assert parse.read_listing(body).entries == [ListingEntry("a", 1)]
    assert gc.isenabled()
    gc.disable()
    try:
        parse.read_listing(body)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("meta", [{}, {"_last-serial": 5}])
def test_a_19_digit_serial_beyond_2_63_is_invalid_on_the_fast_path(meta: dict[str, Any]) -> None:
    projects = [{"name": "good", "_last-serial": 3}, {"name": "poisoned", "_last-serial": 9300000000000000000}]
    body = json.dumps({"meta": {"api-version": "1.1", **meta}, "projects": projects}).encode()
    listing = parse.read_listing(body)
    assert listing.entries == [ListingEntry("good", 3)]
    assert listing.invalid == ("poisoned",)


def test_a_file_off_pypis_layout_lands_by_its_sha256_or_is_refused_without_one() -> None:
    data = copy.deepcopy(document())
    data["releases"]["1.0"][0]["url"] = "https://evil.example/etc/passwd?x=1"
    project = parse.parse_project(body_of(data))
    sdist = project.releases["1.0"][0]
    assert layout.dist_key(sdist) == f"web/packages/{SHA[:2]}/{SHA[2:4]}/{SHA[4:]}/{sdist.filename}"
    del data["releases"]["1.0"][0]["digests"]["sha256"]
    with pytest.raises(BadUpstreamData, match="no sha256 digest to place it by"):
        parse.parse_project(body_of(data))


def test_bounded_json_decodes_a_page_with_msgspec(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    fast = parse._fast_json

    def spy(text: bytes) -> Any:
        calls.append(text)
        return fast(text)

    monkeypatch.setattr(parse, "_fast_json", spy)
    page = {"meta": {"_last-serial": 2**63 - 1}, "files": [{"size": 20480, "yanked": False, "x": [1.5, None, "é"]}]}
    body = json.dumps(page, ensure_ascii=False).encode()
    assert parse.bounded_json(body) == page
    assert calls == [body]


@pytest.mark.parametrize(
    "body",
    [
        b'{"size": ' + b"9" * 41 + b"}",  # longer than _MAX_DIGITS: the marker, not an int
        b'{"size": ' + b"9" * 40 + b"}",
        b'{"size": -' + b"9" * 40 + b"}",  # the sign counts: 41 characters, the marker as before
        b'{"size": ' + b"9" * 5000 + b"}",
        b'{"a": NaN, "b": -Infinity, "c": 1e999}',
        b'{"a": "\\ud800"}',
        '\ufeff{"a": 1}'.encode(),
        '{"a": 1}'.encode("utf-16"),
        b'{"a": 1, "a": 2, "b": -0, "c": 1.5e-320}',
    ],
)
def test_bounded_json_is_json_loads_with_bounded_integers(body: bytes) -> None:
    slow = json.loads(body, parse_int=parse._bounded_int)
    fast = parse.bounded_json(body)
    assert repr(fast) == repr(slow)
    assert [type(v) for v in fast.values()] == [type(v) for v in slow.values()]


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"a": 1} x', b"\xff{}", b""])
def test_bounded_json_fails_as_json_loads_does(body: bytes) -> None:
    with pytest.raises((ValueError, RecursionError)) as slow:
        json.loads(body, parse_int=parse._bounded_int)
    with pytest.raises((ValueError, RecursionError)) as fast:
        parse.bounded_json(body)
    assert type(fast.value) is type(slow.value)
