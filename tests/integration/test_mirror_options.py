"""Each [mirror] option's effect on the tree, state and exit code."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from fakepypi import FakePyPI

from .helpers import failed_names, mirror_dir, packages, read, run, tree


def test_hash_index_groups_project_dirs_by_first_letter(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, hash_index=True)
    assert run(config, "mirror") == 0
    files = tree(mirror_dir(config))
    assert "web/simple/f/foo-bar/index.html" in files
    assert "web/simple/d/dep-lib/index.v1_json" in files
    root_page = read(mirror_dir(config), "web/simple/index.html")
    assert '<a href="foo-bar/">foo-bar</a>' in root_page


def test_simple_format_html_only(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, simple_format="HTML")
    assert run(config, "mirror") == 0
    files = tree(mirror_dir(config))
    assert "web/simple/foo-bar/index.html" in files and "web/simple/foo-bar/index.v1_html" in files
    assert not any(f.endswith("index.v1_json") for f in files)


def test_simple_format_json_only(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, simple_format="json")
    assert run(config, "mirror") == 0
    files = tree(mirror_dir(config))
    assert "web/simple/foo-bar/index.v1_json" in files
    assert not any(f.endswith(("index.html", "index.v1_html")) for f in files)


def test_release_files_false_links_to_root_uri(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, release_files=False, root_uri="https://files.example.org")
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert packages(root) == set()
    assert fake_pypi.downloads == []
    html = read(root, "web/simple/dep-lib/index.html")
    assert 'href="https://files.example.org/packages/' in html
    page = json.loads(read(root, "web/simple/dep-lib/index.v1_json"))
    assert page["files"][0]["url"].startswith("https://files.example.org/packages/")


def test_json_true_saves_both_copies(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, json=True)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    saved = read(root, "web/json/foo-bar")
    assert saved == read(root, "web/pypi/foo-bar/json")
    data = json.loads(saved)
    assert data["info"]["name"] == "Foo.Bar" and "releases" in data
    assert saved.startswith('{\n    "info"')


def test_core_metadata_false_skips_sidecars_and_attributes(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, core_metadata=False)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert not any(name.endswith(".metadata") for name in packages(root))
    assert "data-core-metadata" not in read(root, "web/simple/foo-bar/index.html")


def test_metadata_missing_upstream_is_not_advertised(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.fail("*/dep_lib-0.1-py3-none-any.whl.metadata", 404, times=None)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    page = read(mirror_dir(config), "web/simple/dep-lib/index.html")
    assert "data-core-metadata" not in page


def test_keep_index_versions_writes_versions_and_symlinks(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, keep_index_versions=2)
    for _ in range(3):
        assert run(config, "mirror", "--force-check") == 0
    directory = mirror_dir(config) / "web/simple/yanky"
    index = directory / "index.html"
    assert index.is_symlink()
    assert index.resolve().parent == (directory / "versions").resolve()
    html_versions = sorted(p.name for p in (directory / "versions").iterdir() if p.name.endswith(".html"))
    assert len(html_versions) == 2
    assert all(name.startswith("index_") for name in html_versions)
    assert "yanky-1.1" in index.read_text().replace("_", "-")


def test_cleanup_removes_legacy_directories(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, cleanup=True)
    legacy = mirror_dir(config) / "web/simple/Foo.Bar"
    legacy.mkdir(parents=True)
    (legacy / "index.html").write_text("old")
    assert run(config, "mirror") == 0
    assert not legacy.exists()
    assert (mirror_dir(config) / "web/simple/foo-bar/index.html").exists()


def test_diff_file_lists_written_files(fake_pypi, make_config, tmp_path) -> None:
    diff = tmp_path / "diffs"
    diff.mkdir()
    config = make_config(tmp_path, fake_pypi, diff_file=str(diff))
    assert run(config, "mirror") == 0
    lines = (diff / "mirrored-files").read_text().split("\n")
    root = mirror_dir(config)
    assert all(Path(line).is_absolute() and Path(line).exists() for line in lines)
    assert str(root / "web/simple/foo-bar/index.html") in lines
    assert any(line.endswith(".whl") for line in lines) and any(line.endswith(".metadata") for line in lines)


def test_diff_append_epoch(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, diff_file=str(tmp_path / "new-files"), diff_append_epoch=True)
    assert run(config, "mirror") == 0
    made = [p.name for p in tmp_path.iterdir() if p.name.startswith("new-files-")]
    assert len(made) == 1 and made[0].split("-")[-1].isdigit()


def test_compare_method_stat_trusts_size_and_mtime(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, compare_method="stat")
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    wheel = next(p for p in (root / "web/packages").rglob("dep_lib-0.1-py3-none-any.whl"))
    upload = fake_pypi.index.file("dep-lib", wheel.name).upload_time.timestamp()
    assert abs(wheel.stat().st_mtime - upload) < 1e-3
    fake_pypi.reset_log()
    assert run(config, "mirror", "--force-check") == 0
    assert fake_pypi.downloads == []
    os.utime(wheel, (1, 1))  # same bytes, wrong mtime: hashed, then only re-stamped
    assert run(config, "mirror", "--force-check") == 0
    assert fake_pypi.downloads == []
    assert abs(wheel.stat().st_mtime - upload) < 1e-3


def test_hash_mode_replaces_a_damaged_file(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    wheel = next((mirror_dir(config) / "web/packages").rglob("dep_lib-0.1-py3-none-any.whl"))
    good = wheel.read_bytes()
    wheel.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    fake_pypi.reset_log()
    assert run(config, "mirror", "--force-check") == 0
    assert wheel.read_bytes() == good
    assert [Path(p).name for p in fake_pypi.downloads] == [wheel.name]


def test_md5_digest_name_does_not_redownload(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, digest_name="md5")
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    html = read(root, "web/simple/dep-lib/index.html")
    wheel = next((root / "web/packages").rglob("dep_lib-0.1-py3-none-any.whl"))
    assert f"#md5={hashlib.md5(wheel.read_bytes()).hexdigest()}" in html
    fake_pypi.reset_log()
    assert run(config, "mirror", "--force-check") == 0
    assert fake_pypi.downloads == []


def test_download_mirror_is_used_first(fake_pypi: FakePyPI, download_mirror: FakePyPI, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, **{"download-mirror": download_mirror.url})
    assert run(config, "mirror") == 0
    assert fake_pypi.downloads == []
    assert len(download_mirror.downloads) > 0


def test_download_mirror_falls_back_to_upstream(fake_pypi, download_mirror, make_config, tmp_path) -> None:
    download_mirror.fail("/packages/*", 404, times=None)
    config = make_config(tmp_path, fake_pypi, **{"download-mirror": download_mirror.url})
    assert run(config, "mirror") == 0
    assert len(fake_pypi.downloads) > 0


def test_download_mirror_without_fallback_fails_the_project(fake_pypi, download_mirror, make_config, tmp_path) -> None:
    download_mirror.fail("/packages/*dep_lib*", 404, times=None)
    config = make_config(
        tmp_path, fake_pypi, **{"download-mirror": download_mirror.url, "download-mirror-no-fallback": True}
    )
    assert run(config, "mirror") == 1
    assert not any("dep_lib" in p for p in fake_pypi.downloads)
    assert failed_names(mirror_dir(config)) == {"dep-lib"}


def test_stop_on_error_stops_after_the_first_failure(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.fail("/simple/dep-lib/", 403, times=None)
    config = make_config(tmp_path, fake_pypi, stop_on_error=True, workers=1)
    assert run(config, "mirror") == 1
    # Nothing after the failure was synced. The pages of the window asked ahead of the worker
    # (pagesahead: all three here) came, and went unused.
    root = mirror_dir(config)
    assert fake_pypi.downloads == []
    assert not any((root / "web" / "simple" / name).exists() for name in ("dep-lib", "foo-bar", "yanky"))
