import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from frumious.errors import BadUpstreamData
from frumious.protocol import layout

BLAKE = "8e/3c/5a7b1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1ec56"


def test_constants_match_bandersnatch_tree() -> None:
    assert (layout.GENERATION, layout.STATUS, layout.TODO, layout.LOCK) == ("generation", "status", "todo", ".lock")
    assert layout.LAST_MODIFIED == "web/last-modified"
    assert layout.LOCAL_STATS == "web/local-stats/days"
    assert (layout.SIMPLE, layout.PACKAGES) == ("web/simple", "web/packages")
    assert (layout.JSON_DIR, layout.PYPI_DIR) == ("web/json", "web/pypi")


def test_simple_dir_flat_and_hashed() -> None:
    assert layout.simple_dir("foo-bar", False) == "web/simple/foo-bar"
    assert layout.simple_dir("foo-bar", True) == "web/simple/f/foo-bar"
    assert layout.simple_dir("69", True) == "web/simple/6/69"
    # Raw names (cleanup of legacy dirs) pass through untouched.
    assert layout.simple_dir("Foo_Bar", False) == "web/simple/Foo_Bar"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "a\x00b", "a\nb", "x" * 256])
def test_simple_dir_rejects_names_that_are_not_one_component(name: str) -> None:
    with pytest.raises(BadUpstreamData, match="refusing project name"):
        layout.simple_dir(name, False)
    with pytest.raises(BadUpstreamData):
        layout.json_key(name)


def test_page_keys() -> None:
    keys = layout.page_keys("web/simple/f/foo")
    assert keys == ("web/simple/f/foo/index.html", "web/simple/f/foo/index.v1_html", "web/simple/f/foo/index.v1_json")
    assert keys.html == "web/simple/f/foo/index.html"
    assert keys.v1_json == "web/simple/f/foo/index.v1_json"
    assert layout.root_page_keys().v1_html == "web/simple/index.v1_html"


@pytest.mark.parametrize(
    ("url", "key"),
    [
        (
            f"https://files.pythonhosted.org/packages/{BLAKE}/ACMPlus-0.0.3-py3-none-any.whl",
            f"web/packages/{BLAKE}/ACMPlus-0.0.3-py3-none-any.whl",
        ),
        # Decoded on disk, like bandersnatch's unquote().
        ("https://h/packages/aa/bb/c/foo%2Bbar-1.0.tar.gz", "web/packages/aa/bb/c/foo+bar-1.0.tar.gz"),
        ("https://h/packages/aa/bb/c/na%C3%AFve%20x-1.0.zip", "web/packages/aa/bb/c/naïve x-1.0.zip"),
        # Query and fragment are not part of the path.
        ("https://h/packages/aa/x-1.0.tar.gz?a=b#sha256=00", "web/packages/aa/x-1.0.tar.gz"),
        # Dots inside a segment are fine; only whole-segment . and .. are not.
        ("https://h/packages/aa/x..y-1.0.tar.gz", "web/packages/aa/x..y-1.0.tar.gz"),
        ("https://h/packages/aa/" + "x" * 255, "web/packages/aa/" + "x" * 255),
    ],
)
def test_path_key_accepts(url: str, key: str) -> None:
    # The mirror's own page links: the key is where the link points, whatever the rule that placed it.
    assert layout.path_key(url) == key


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://h/other/aa/x.tar.gz", "does not start with /packages/"),
        ("https://h/packagesx/aa/x.tar.gz", "does not start with /packages/"),
        ("https://h/packages", "does not start with /packages/"),
        ("https://h/x/../packages/aa/x.tar.gz", "does not start with /packages/"),
        ("https://h/packages/", "empty"),
        ("https://h/packages/aa//x.tar.gz", "empty"),
        ("https://h/packages/aa/x.tar.gz/", "empty"),
        ("https://h/packages/aa/../../etc/passwd", "'..'"),
        ("https://h/packages/aa/./x.tar.gz", "'.'"),
        ("https://h/packages/aa/%2e%2e/x.tar.gz", "'..'"),
        ("https://h/packages/aa/%2E/x.tar.gz", "'.'"),
        ("https://h/packages/aa%2F..%2F..%2Fetc/x.tar.gz", "slash"),
        ("https://h/packages/aa/x%5C..%5Cy.tar.gz", "slash"),
        ("https://h/packages/aa/x\\y.tar.gz", "slash"),
        ("https://h/packages/aa/x%00.tar.gz", "NUL"),
        ("https://h/packages/aa/x%0A.tar.gz", "control"),
        ("https://h/packages/aa/x%FF.tar.gz", "not valid UTF-8"),
        ("https://h/packages/aa/" + "x" * 256, "longer than 255 bytes"),
        # 128 two-byte characters: 128 characters but 256 bytes.
        ("https://h/packages/aa/" + "%C3%A9" * 128, "file systems refuse"),
        ("https://h/packages/x.tar.gz/" + "%2e%2e", "'..'"),
    ],
)
def test_path_key_rejects(url: str, reason: str) -> None:
    with pytest.raises(BadUpstreamData) as info:
        layout.path_key(url)
    message = str(info.value)
    assert url in message or repr(url) in message
    assert reason in message


def test_path_key_allows_a_file_directly_under_packages() -> None:
    assert layout.path_key("https://h/packages/x.whl") == "web/packages/x.whl"


SHA = "0123456789abcdef" * 4
BY_SHA = f"01/23/{SHA[4:]}"
TAIL = f"ab/cd/{'e' * 60}"


@pytest.mark.parametrize(
    ("url", "key", "href"),
    [
        # PyPI's tail is kept as it is, whatever comes before it (bandersnatch's key, so continuing downloads nothing).
        (f"https://files.pythonhosted.org/packages/{TAIL}/a-1.whl", f"web/packages/{TAIL}/a-1.whl", None),
        (f"https://mirror.example/pypi/packages/{TAIL}/a%2B1.whl", f"web/packages/{TAIL}/a+1.whl", f"{TAIL}/a%2B1.whl"),
        # A relative link resolved against a mirror upstream's page (/simple/a/ + ../../packages/...).
        (f"https://up.example/simple/packages/{TAIL}/a-1.whl", f"web/packages/{TAIL}/a-1.whl", None),
        # Query and fragment never reach the key.
        (f"https://h/x/{TAIL}/a-1.whl?token=s3cret#sha256=00", f"web/packages/{TAIL}/a-1.whl", None),
        # Anything else lands by content: the sha256 in the same shape, the filename the page gives.
        ("https://up.example/packages/a-1.whl", f"web/packages/{BY_SHA}/a-1.whl", None),
        ("https://up.example/packages/packages/a-1.whl", f"web/packages/{BY_SHA}/a-1.whl", None),
        ("https://download.pytorch.org/whl/cpu/a-1%2Bcpu.whl", f"web/packages/{BY_SHA}/a-1+cpu.whl", None),
        ("https://files.example:8443/get?id=7&name=a-1.whl", f"web/packages/{BY_SHA}/a-1.whl", None),
        (f"https://h/packages/AB/CD/{'E' * 60}/a-1.whl", f"web/packages/{BY_SHA}/a-1.whl", None),
    ],
)
def test_package_key_keeps_pypis_tail_else_places_by_sha256(url: str, key: str, href: str | None) -> None:
    filename = key.rsplit("/", 1)[1]
    place = layout.file_place(url, SHA.upper(), filename)
    assert place.key == key
    assert place.href == "/packages/" + (href or key.removeprefix("web/packages/").replace("+", "%2B"))
    # The mirror's own page links back to the same key.
    assert layout.path_key("http://mirror.invalid" + place.href) == key


def test_a_file_off_pypis_layout_without_a_sha256_is_refused() -> None:
    with pytest.raises(BadUpstreamData, match="no sha256 digest to place it by"):
        layout.package_key("https://up.example/packages/a-1.whl", "", "a-1.whl")
    with pytest.raises(BadUpstreamData, match="no sha256"):
        layout.package_key("https://up.example/packages/a-1.whl", "0b" * 16, "a-1.whl")  # an md5 is no sha256


@pytest.mark.parametrize("filename", ["../x.whl", "..", "a/b.whl", ".frumious-1.whl"])
def test_a_file_placed_by_sha256_needs_a_safe_filename(filename: str) -> None:
    with pytest.raises(BadUpstreamData, match="refusing"):
        layout.package_key("https://up.example/a.whl", SHA, filename)


@pytest.mark.parametrize("last", ["%2e%2e", "a%2Fb.whl", "a%00.whl", "%FF.whl"])
def test_pypis_tail_file_segment_is_checked(last: str) -> None:
    with pytest.raises(BadUpstreamData, match="refusing file URL"):
        layout.package_key(f"https://h/packages/{TAIL}/{last}", SHA, "a.whl")


@pytest.mark.parametrize("name", ["x-1.0.tar.gz", "x..y.whl", "naïve-1.0.zip", "a" * 255])
def test_check_filename_accepts(name: str) -> None:
    layout.check_filename(name)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../x", "a\\b", "a\x00b", "a\rb", "a" * 256, "x\ud800"])
def test_check_filename_rejects(name: str) -> None:
    with pytest.raises(BadUpstreamData, match="refusing filename"):
        layout.check_filename(name)


def test_metadata_and_json_keys() -> None:
    assert layout.metadata_key("web/packages/aa/x.whl") == "web/packages/aa/x.whl.metadata"
    assert layout.json_key("foo-bar") == "web/json/foo-bar"
    assert layout.pypi_json_key("foo-bar") == "web/pypi/foo-bar/json"


def test_versioned_page_key_uses_bandersnatch_timestamp() -> None:
    d = "web/simple/foo"
    naive = datetime(2018, 10, 28, 0, 0, 0)
    assert layout.versioned_page_key(d, 12, naive, "html") == "web/simple/foo/versions/index_12_2018-10-28T000000Z.html"
    micro = datetime(2018, 10, 28, 12, 34, 56, 789012, tzinfo=UTC)
    assert (
        layout.versioned_page_key(d, 0, micro, "v1_json")
        == "web/simple/foo/versions/index_0_2018-10-28T123456.789012Z.v1_json"
    )
    # An aware non-UTC time is converted, never written with its offset.
    cet = datetime(2018, 10, 28, 1, 0, 0, tzinfo=timezone(timedelta(hours=1)))
    assert (
        layout.versioned_page_key(d, 5, cet, "v1_html") == "web/simple/foo/versions/index_5_2018-10-28T000000Z.v1_html"
    )
    with pytest.raises(ValueError, match="unknown page extension"):
        layout.versioned_page_key(d, 5, naive, "json")


def test_versions_to_prune_keeps_n_minus_one_newest_per_extension() -> None:
    names = [
        "index_9_2020-01-01T000000Z.html",
        "index_10_2020-01-02T000000Z.html",
        "index_11_2020-01-03T000000Z.html",
        "index_9_2020-01-01T000000Z.v1_html",
        "index_10_2020-01-02T000000Z.v1_html",
        "index_9_2020-01-01T000000Z.v1_json",
    ]
    # 3 html files, keep 2: delete 3 - 2 + 1 = 2, oldest as strings ("10" < "11" < "9").
    assert layout.versions_to_prune(names, 2) == [
        "index_10_2020-01-02T000000Z.html",
        "index_11_2020-01-03T000000Z.html",
        "index_10_2020-01-02T000000Z.v1_html",
    ]
    assert layout.versions_to_prune(names, 1) == [names[1], names[2], names[0], names[4], names[3], names[5]]
    assert layout.versions_to_prune(names, 5) == []
    assert layout.versions_to_prune(names, 0) == []


def test_versions_to_prune_accepts_whole_keys() -> None:
    keys = [f"web/simple/foo/versions/index_{n}_T.v1_json" for n in (1, 2, 3)]
    assert layout.versions_to_prune(keys, 2) == keys[:2]


@pytest.mark.parametrize("mirror", ["https://dl.example", "https://dl.example/", "https://dl.example//"])
def test_download_url_joins_without_double_slash(mirror: str) -> None:
    href = layout.file_place(f"https://files.pythonhosted.org/packages/{TAIL}/x-1.0.tar.gz?x=1").href
    assert layout.download_url(href, mirror) == f"https://dl.example/packages/{TAIL}/x-1.0.tar.gz"


def test_download_url_keeps_a_mirror_path_prefix() -> None:
    # A download mirror is in this tree's layout: a file off PyPI's is fetched at its key there.
    href = layout.file_place("https://h/whl/x.whl", "ab" * 32, "x.whl").href
    assert layout.download_url(href, "https://dl/pypi/") == f"https://dl/pypi/packages/ab/ab/{'ab' * 30}/x.whl"


def test_page_key_is_the_one_builder_of_page_keys() -> None:
    directory = layout.simple_dir("foo", hash_index=True)
    assert layout.page_key(directory, "v1_json") == "web/simple/f/foo/index.v1_json"
    assert layout.page_keys(directory) == tuple(layout.page_key(directory, ext) for ext in layout.PAGE_EXTENSIONS)
    assert layout.root_page_keys().html == "web/simple/index.html"
    with pytest.raises(ValueError, match="unknown page extension"):
        layout.page_key(directory, "json")


def test_a_plain_pypi_url_is_placed_as_any_url_is() -> None:
    # file_place reads the common URL without urlsplit: the same place, or the same refusal, as the general reader.
    rng = random.Random(12)
    pieces = [
        ["https://", "HTTP://", "git+https://", "", " http://", "http:/", "//", "1x://"],
        ["files.example", "h:8080", "u@h", "[::1]", "[::1", "", "h%20", "hé", "h?x", "h#x"],
        ["", "/packages", "/a/b", "/a?b", "/a#b", "/é", "/a b"],
        ["/ab", "/AB", "/a", "/abc"],
        ["/cd", "/zz"],
        ["/" + "e" * 60, "/" + "e" * 59, "/" + "E" * 60],
        ["/a-1.0.tar.gz", "/", "/.", "/..", "/a%2Bb.whl", "/a%2Fb", "/a\\b", "/.frumious-x", "/" + "x" * 256],
        ["", "", "?q", "#f"],
    ]
    for _ in range(20_000):
        url = "".join(rng.choice(options) for options in pieces)
        if rng.random() < 0.2:
            at = rng.randrange(len(url) + 1)
            url = url[:at] + rng.choice(["\t", "\n", "\x00", "\x7f", " ", "%", "?", "#", "[", "/"]) + url[at:]
        args = (url, rng.choice([SHA, ""]), rng.choice(["", "n.whl"]))
        assert _outcome(layout.file_place, args) == _outcome(layout._placed, args), url


def _outcome(place: Callable[[str, str, str], layout.FilePlace], args: tuple[str, str, str]) -> object:
    try:
        return place(*args)
    except (BadUpstreamData, ValueError) as exc:  # urlsplit's ValueError for a broken IPv6 host
        return repr(exc)


def test_a_plain_segment_is_told_as_the_full_check_tells_it() -> None:
    # _check_segment answers the common name by one regular expression: never "safe" where the full check refuses.
    rng = random.Random(7)
    pieces = ["a", "Z", "0", ".", "-", "_", "+", "/", "\\", "\x00", "\x1f", "\x7f", " ", "é", "\ud800", "%"]
    pieces.append(layout.TEMP_PREFIX)
    cases = ["a" * 255, "a" * 256, "é" * 127, "é" * 128, ".", "..", "...", ".frumious-1"]
    cases += ["".join(rng.choice(pieces) for _ in range(rng.randrange(6))) for _ in range(50_000)]
    for segment in cases:
        assert layout._check_segment(segment, "x") == layout._segment_problem(segment, "x"), repr(segment)
