"""frumious and a real bandersnatch 6.8.0 continue each other's mirrors in place.

bandersnatch runs from a cached venv (see bandersnatch_venv.py) as a subprocess against the
fake PyPI; frumious runs in-process on the same config file and directory. Each direction
must download no release file again, and the trees the two write must agree.

The differences the comparison allows, all deliberate on frumious' side:

- frumious mirrors PEP 658 ``.metadata`` sidecars and advertises them
  (``data-core-metadata`` / ``data-dist-info-metadata`` in HTML, ``core-metadata`` in JSON,
  ``false`` for files without); bandersnatch 6.8.0 knows nothing of PEP 658.
- JSON pages keep the yank reason (``"yanked": "<reason>"``); bandersnatch writes ``true``.
- HTML links carry ``data-size`` and ``data-upload-time`` (pip and uv read them); bandersnatch's
  links do not. Each tool continues from the other's pages all the same.
- The root ``index.v1_json`` ``_last-serial``: frumious writes the serial reached, bandersnatch
  6.8.0 the serial its run started from (0 on a first sync). frumious also gives each project
  its ``_last-serial``, as PyPI's root does, so another mirror can sync from this one.
- ``web/last-modified`` holds the time of the run.
- The saved JSON (``web/json``, ``web/pypi``) is what the mirror holds: filtered files only, each
  ``url`` the mirror's (``/packages/...``, or under ``root_uri``), so a downstream mirror can use
  it; bandersnatch saves upstream's document as it came.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from fakepypi import Artifact, FakeIndex, FakePyPI, default_index, make_sdist, make_wheel

from .bandersnatch_venv import BandersnatchUnavailable, ensure_bandersnatch, run_bandersnatch
from .helpers import mirror_dir, read, run, temp_files, tree

pytestmark = pytest.mark.slow

# [mirror] keys per scenario (make_config spellings).
MODES: dict[str, dict[str, Any]] = {
    "xmlrpc": {},
    "simple+json": {"api_method": "simple", "json": True},
    "hash-index+stat": {"hash_index": True, "compare_method": "stat", "json": True},
    "md5+no-core-metadata": {"digest_name": "md5", "core_metadata": False, "api_method": "simple"},
}
YANK_REASON = 'bad <build> & "quotes"'


@pytest.fixture(scope="session")
def bandersnatch() -> Path:
    """The bandersnatch 6.8.0 executable; installed with pip on first use, then cached."""
    try:
        return ensure_bandersnatch()
    except BandersnatchUnavailable as exc:
        problem = str(exc)
    pytest.fail(f"could not install bandersnatch 6.8.0 for the compatibility tests:\n{problem}", pytrace=False)


@pytest.fixture
def fake_index() -> FakeIndex:
    """The default catalogue plus a project whose pages exercise sorting, escaping and yanks:
    versions 1.9 / 1.10 / 2.0rc1, a '<' in Requires-Python, a yank reason full of HTML
    specials, a yank without reason, and an opaque .zip without core metadata."""
    index = default_index()
    index.add("Zed_Thing", "1.9", make_wheel("Zed_Thing", "1.9", requires_python="<4,>=3.8"))
    index.add("Zed_Thing", "1.10", make_wheel("Zed_Thing", "1.10"), make_sdist("Zed_Thing", "1.10"))
    index.add("Zed_Thing", "2.0rc1", Artifact("zed_thing-2.0rc1.zip", b"an opaque pre-release archive"))
    index.yank("Zed_Thing", "1.9", YANK_REASON)
    index.yank("Zed_Thing", "2.0rc1")
    return index


# --- helpers -----------------------------------------------------------------------------


def bandersnatch_mirror(exe: Path, config: Path, *args: str) -> str:
    """``bandersnatch mirror ARGS`` must exit 0 and log no error; returns its output."""
    done = run_bandersnatch(exe, config, "mirror", *args)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"bandersnatch mirror {' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    assert not re.search(r"\b(ERROR|CRITICAL):", output), output[-4000:]
    return output


def assert_clean_state(root: Path, serial: int) -> None:
    assert read(root, "generation").strip() == "5"
    assert read(root, "status").strip() == str(serial)
    assert not (root / "todo").exists()
    assert temp_files(root) == []


def with_metadata(keys: dict[str, Any]) -> bool:
    return keys.get("core_metadata", True) is not False


def sidecars(paths: list[str], pypi: FakePyPI) -> list[str]:
    """The .metadata URL paths for those of ``paths`` (file URL paths) upstream has metadata for."""
    by_path = {f.path: f for f in pypi.index.all_files()}
    return [p + ".metadata" for p in paths if by_path[p].core_metadata]


def release_files(root: Path) -> dict[str, tuple[bytes, int]]:
    """web/packages files other than sidecars: path -> (bytes, mtime_ns)."""
    base = root / "web" / "packages"
    found = {}
    for rel in tree(base):
        if not rel.endswith(".metadata"):
            path = base / rel
            found[f"/packages/{rel}"] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def assert_mtimes_are_upload_times(root: Path, pypi: FakePyPI) -> None:
    """bandersnatch's compare-method = stat test, for every release file in the tree."""
    for f in pypi.index.all_files():
        path = root / "web" / f.path.lstrip("/")
        if path.exists():
            assert datetime.fromtimestamp(path.stat().st_mtime, UTC) == f.upload_time, f.filename


# --- page comparison ---------------------------------------------------------------------


class _Anchors(HTMLParser):
    """The <a> elements of a page: (attributes with entities decoded, text)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], str]] = []
        self._open: tuple[dict[str, str | None], list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open = (dict(attrs), [])

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._open is not None:
            self.anchors.append((self._open[0], "".join(self._open[1])))
            self._open = None


def anchors(text: str) -> list[tuple[dict[str, str | None], str]]:
    parser = _Anchors()
    parser.feed(text)
    parser.close()
    return parser.anchors


def sidecar_digest(web: Path, url: str) -> str | None:
    """sha256 of the .metadata stored beside the file a page links to, or None if there is none."""
    key = url.split("#", 1)[0]  # "../../packages/..." (or root_uri + "/packages/...")
    path = web / (key[key.index("packages/") :] + ".metadata")
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def stored_file(web: Path, url: str) -> Path:
    key = url.split("#", 1)[0]
    return web / key[key.index("packages/") :]


def assert_html_pages_agree(bs_page: Path, fr_page: Path, fr_web: Path) -> None:
    bs_text, fr_text = bs_page.read_text(encoding="utf-8"), fr_page.read_text(encoding="utf-8")
    # Everything but the links is byte-identical (head, title, h1, the SERIAL comment).
    assert [ln for ln in bs_text.splitlines() if "<a " not in ln] == [
        ln for ln in fr_text.splitlines() if "<a " not in ln
    ]
    fr_anchors = []
    for attrs, text in anchors(fr_text):
        core, dist_info = attrs.pop("data-core-metadata", None), attrs.pop("data-dist-info-metadata", None)
        assert core == dist_info, text
        held = sidecar_digest(fr_web, attrs["href"] or "")
        assert core == (f"sha256={held}" if held else None), f"{fr_page}: {text} advertises {core}, holds {held}"
        # frumious also writes each file's size and upload time (uv and pip read them from HTML).
        stored = stored_file(fr_web, attrs["href"] or "")
        assert attrs.pop("data-size", None) == str(stored.stat().st_size), text
        uploaded = datetime.fromisoformat((attrs.pop("data-upload-time", None) or "").replace("Z", "+00:00"))
        assert uploaded == datetime.fromtimestamp(stored.stat().st_mtime, UTC), text
        fr_anchors.append((attrs, text))
    assert anchors(bs_text) == fr_anchors


def assert_json_pages_agree(bs_page: Path, fr_page: Path, fr_web: Path, pypi: FakePyPI) -> None:
    bs_doc, fr_doc = json.loads(bs_page.read_text(encoding="utf-8")), json.loads(fr_page.read_text(encoding="utf-8"))
    project = pypi.index.project(fr_doc["name"])
    for entry in fr_doc["files"]:
        core = entry.pop("core-metadata", False)
        assert entry.pop("data-dist-info-metadata", core) == core
        held = sidecar_digest(fr_web, entry["url"])
        assert core == ({"sha256": held} if held else False), entry["filename"]
        if isinstance(entry["yanked"], str):
            assert entry["yanked"] == pypi.index.file(project.name, entry["filename"]).yanked_reason
            entry["yanked"] = True
    assert bs_doc == fr_doc


def assert_trees_agree(bs_root: Path, fr_root: Path, pypi: FakePyPI, metadata: bool) -> None:
    bs_web, fr_web = bs_root / "web", fr_root / "web"
    bs_files, fr_files = tree(bs_web), tree(fr_web)

    # Release files: the same paths, bytes and mtimes; frumious adds only the sidecars.
    bs_packages = {p for p in bs_files if p.startswith("packages/")}
    fr_packages = {p for p in fr_files if p.startswith("packages/")}
    fr_sidecars = {p for p in fr_packages if p.endswith(".metadata")}
    assert fr_packages - fr_sidecars == bs_packages
    upstream = [f.path for f in pypi.index.all_files()]
    expected_sidecars = {p.lstrip("/") for p in sidecars(upstream, pypi)} if metadata else set()
    assert fr_sidecars == expected_sidecars
    assert {"/" + p for p in bs_packages} == set(upstream)
    for rel in bs_packages:
        bs_stat, fr_stat = (bs_web / rel).stat(), (fr_web / rel).stat()
        assert (bs_web / rel).read_bytes() == (fr_web / rel).read_bytes(), rel
        assert bs_stat.st_mtime_ns == fr_stat.st_mtime_ns, rel

    # Every other file exists on both sides, at the same path.
    others = bs_files - bs_packages
    assert fr_files - fr_packages == others
    assert (bs_web / "local-stats" / "days").is_dir() and (fr_web / "local-stats" / "days").is_dir()
    for rel in sorted(others):
        name = rel.rsplit("/", 1)[-1]
        if rel == "last-modified":
            for web in (bs_web, fr_web):
                assert re.fullmatch(r"\d{8}T\d\d:\d\d:\d\d\n", read(web, rel)), read(web, rel)
        elif rel == "simple/index.v1_json":
            bs_doc, fr_doc = json.loads(read(bs_web, rel)), json.loads(read(fr_web, rel))
            assert fr_doc["meta"].pop("_last-serial") == pypi.index.serial
            bs_doc["meta"].pop("_last-serial")
            for entry in fr_doc["projects"]:
                assert entry.pop("_last-serial") == pypi.index.project(entry["name"]).last_serial
            assert bs_doc == fr_doc
        elif rel.startswith("simple/") and rel.count("/") > 1 and name in ("index.html", "index.v1_html"):
            assert_html_pages_agree(bs_web / rel, fr_web / rel, fr_web)
        elif rel.startswith("simple/") and rel.count("/") > 1 and name == "index.v1_json":
            assert_json_pages_agree(bs_web / rel, fr_web / rel, fr_web, pypi)
        elif rel.startswith(("json/", "pypi/")):  # the saved project JSON
            assert_saved_json_agrees(bs_web / rel, fr_web / rel)
        else:  # the root HTML pages
            assert (bs_web / rel).read_bytes() == (fr_web / rel).read_bytes(), rel


def assert_saved_json_agrees(bs_doc: Path, fr_doc: Path) -> None:
    """Byte for byte once bandersnatch's file URLs (upstream's) are turned into the mirror's path."""
    document = json.loads(bs_doc.read_bytes())
    for entry in [*document.get("urls", []), *(f for files in document["releases"].values() for f in files)]:
        entry["url"] = urlsplit(entry["url"]).path
    assert json.dumps(document, indent=4, sort_keys=True).encode("ascii") == fr_doc.read_bytes(), fr_doc


# --- the tests ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODES))
def test_frumious_continues_a_bandersnatch_mirror(
    bandersnatch: Path, fake_pypi: FakePyPI, make_config, tmp_path: Path, mode: str
) -> None:
    keys = MODES[mode]
    config = make_config(tmp_path, fake_pypi, **keys)
    root = mirror_dir(config)
    index = fake_pypi.index

    bandersnatch_mirror(bandersnatch, config)
    assert_clean_state(root, index.serial)
    assert sorted(fake_pypi.downloads) == sorted(f.path for f in index.all_files())  # no sidecars
    assert_mtimes_are_upload_times(root, fake_pypi)
    written_by_bandersnatch = release_files(root)

    # Same serial: frumious has nothing to do and touches no file.
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    assert fake_pypi.downloads == []
    assert fake_pypi.paths("/pypi/") == []
    assert_clean_state(root, index.serial)
    assert release_files(root) == written_by_bandersnatch

    # A new release upstream: frumious fetches its files and, as it processes the whole
    # project, the sidecars of that project's older wheels; no other release file.
    new = index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"), make_sdist("dep-lib", "0.2"))
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    new_paths = [f.path for f in new.files]
    dep_lib = [f.path for f in index.project("dep-lib").files()]
    fetched_sidecars = sidecars(dep_lib, fake_pypi) if with_metadata(keys) else []
    assert sorted(fake_pypi.downloads) == sorted(new_paths + fetched_sidecars)
    # frumious reads the project page, or Warehouse JSON where it is wanted (json = true, md5 digests).
    source = "/pypi/dep-lib/json" if keys.get("json") or keys.get("digest_name") == "md5" else "/simple/dep-lib/"
    assert [p for p in fake_pypi.paths("/") if p.startswith(("/pypi/", "/simple/")) and p != "/simple/"] == [source]
    assert_clean_state(root, index.serial)

    # --force-check: every file bandersnatch wrote is recognised as current. The only
    # downloads are the PEP 658 sidecars bandersnatch 6.8.0 never mirrored.
    fake_pypi.reset_log()
    assert run(config, "mirror", "--force-check") == 0
    never_mirrored = sidecars(list(written_by_bandersnatch), fake_pypi) if with_metadata(keys) else []
    assert sorted(fake_pypi.downloads) == sorted(set(never_mirrored) - set(fetched_sidecars))
    asked = "/pypi/" if source.startswith("/pypi/") else "/simple/"
    assert len([p for p in fake_pypi.paths(asked) if p != "/simple/"]) == len(index)
    assert_clean_state(root, index.serial)
    now = release_files(root)
    assert {p: now[p] for p in written_by_bandersnatch} == written_by_bandersnatch

    fake_pypi.reset_log()
    assert run(config, "mirror", "--force-check") == 0
    assert fake_pypi.downloads == []
    assert_clean_state(root, index.serial)


@pytest.mark.parametrize("mode", list(MODES))
def test_bandersnatch_continues_a_frumious_mirror(
    bandersnatch: Path, fake_pypi: FakePyPI, make_config, tmp_path: Path, mode: str
) -> None:
    keys = MODES[mode]
    config = make_config(tmp_path, fake_pypi, **keys)
    root = mirror_dir(config)
    index = fake_pypi.index

    assert run(config, "mirror") == 0
    assert_mtimes_are_upload_times(root, fake_pypi)
    written_by_frumious = tree(root / "web" / "packages")
    files_before = release_files(root)

    fake_pypi.reset_log()
    bandersnatch_mirror(bandersnatch, config)
    assert fake_pypi.downloads == []
    assert fake_pypi.paths("/pypi/") == []
    assert_clean_state(root, index.serial)

    # --force-check: bandersnatch reprocesses every project and finds every file current
    # (in stat mode: by mtime, which it would otherwise rewrite).
    fake_pypi.reset_log()
    bandersnatch_mirror(bandersnatch, config, "--force-check")
    assert fake_pypi.downloads == []
    assert sorted(fake_pypi.paths("/pypi/")) == sorted(f"/pypi/{p.canonical}/json" for p in index.projects())
    assert_clean_state(root, index.serial)
    assert release_files(root) == files_before
    assert tree(root / "web" / "packages") == written_by_frumious  # the sidecars stay

    # A new release upstream: bandersnatch fetches only its files.
    new = index.add("Foo.Bar", "3.0", make_wheel("Foo.Bar", "3.0"), make_sdist("Foo.Bar", "3.0"))
    new_paths = [f.path for f in new.files]
    fake_pypi.reset_log()
    bandersnatch_mirror(bandersnatch, config)
    assert sorted(fake_pypi.downloads) == sorted(new_paths)
    assert_clean_state(root, index.serial)

    # And back to frumious: nothing to do, then --force-check adds only the new sidecar.
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    assert fake_pypi.downloads == []
    fake_pypi.reset_log()
    assert run(config, "mirror", "--force-check") == 0
    assert sorted(fake_pypi.downloads) == sorted(sidecars(new_paths, fake_pypi) if with_metadata(keys) else [])
    assert_clean_state(root, index.serial)


@pytest.mark.parametrize("mode", ["simple+json", "hash-index+stat", "md5+no-core-metadata"])
def test_frumious_tree_matches_bandersnatch(
    bandersnatch: Path, fake_pypi: FakePyPI, make_config, tmp_path: Path, mode: str
) -> None:
    keys = MODES[mode]
    (tmp_path / "bs").mkdir()
    (tmp_path / "fr").mkdir()
    bs_config = make_config(tmp_path / "bs", fake_pypi, **keys)
    fr_config = make_config(tmp_path / "fr", fake_pypi, **keys)
    bandersnatch_mirror(bandersnatch, bs_config)
    assert run(fr_config, "mirror") == 0
    bs_root, fr_root = mirror_dir(bs_config), mirror_dir(fr_config)
    for root in (bs_root, fr_root):
        assert_clean_state(root, fake_pypi.index.serial)
    assert_trees_agree(bs_root, fr_root, fake_pypi, with_metadata(keys))


def test_keep_index_versions_round_trip(bandersnatch: Path, fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    """Versioned pages and their symlinks (bandersnatch: absolute, frumious: relative) are
    taken over and pruned by either tool; the live page is always the newest one."""
    config = make_config(tmp_path, fake_pypi, keep_index_versions=2, api_method="simple")
    root = mirror_dir(config)
    simple = root / "web" / "simple" / "dep-lib"

    def assert_live_page_lists(filename: str) -> None:
        for page in ("index.html", "index.v1_html", "index.v1_json"):
            link = simple / page
            assert link.is_symlink(), page
            target = link.resolve()
            assert target.parent == (simple / "versions").resolve(), target
            assert filename in target.read_text(encoding="utf-8"), page
        versions = [p.name for p in (simple / "versions").iterdir()]
        for ext in ("html", "v1_html", "v1_json"):
            assert 1 <= sum(n.endswith("." + ext) for n in versions) <= 2, versions

    bandersnatch_mirror(bandersnatch, config)
    assert_live_page_lists("dep_lib-0.1-py3-none-any.whl")
    for version, tool in (("0.2", "frumious"), ("0.3", "bandersnatch"), ("0.4", "frumious"), ("0.5", "bandersnatch")):
        release = fake_pypi.index.add("dep-lib", version, make_wheel("dep-lib", version))
        fake_pypi.reset_log()
        if tool == "frumious":
            assert run(config, "mirror") == 0
        else:
            bandersnatch_mirror(bandersnatch, config)
        assert release.files[0].path in fake_pypi.downloads
        assert not [p for p in fake_pypi.downloads if "dep_lib-0.1-" in p and not p.endswith(".metadata")]
        assert_live_page_lists(release.files[0].filename)
        assert_clean_state(root, fake_pypi.index.serial)
