"""`frumious mirror` end to end against the fake PyPI: tree, state files, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from fakepypi import FakePyPI, make_wheel

from .helpers import failed_names, mirror_dir, packages, read, run, temp_files, tree


def test_full_sync_builds_the_bandersnatch_tree(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    files = tree(root)
    assert read(root, "generation") == "5"
    assert read(root, "status") == str(fake_pypi.index.serial)
    assert "todo" not in files
    assert read(root, "web/last-modified").endswith("\n")
    assert (root / "web/local-stats/days").is_dir()
    for name in ("foo-bar", "dep-lib", "yanky"):
        for page in ("index.html", "index.v1_html", "index.v1_json"):
            assert f"web/simple/{name}/{page}" in files
    for page in ("index.html", "index.v1_html", "index.v1_json"):
        assert f"web/simple/{page}" in files
    expected = {f.filename for p in fake_pypi.index.projects() for f in p.files()}
    assert packages(root) >= expected
    wheels = {f for f in expected if f.endswith(".whl")}
    assert {f"{w}.metadata" for w in wheels} <= packages(root)
    assert temp_files(root) == []


def test_files_land_at_the_upstream_url_path_with_verified_bytes(fake_pypi: FakePyPI, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    project = fake_pypi.index.project("foo-bar")
    for dist in project.files():
        stored = root / "web" / fake_pypi.file_path("foo-bar", dist.filename).lstrip("/")
        assert stored.read_bytes() == dist.artifact.content


def test_pages_carry_requires_python_yanked_metadata_size_and_upload_time(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    page = json.loads(read(root, "web/simple/yanky/index.v1_json"))
    assert page["meta"] == {"api-version": "1.1", "_last-serial": str(fake_pypi.index.project("yanky").last_serial)}
    by_name = {f["filename"]: f for f in page["files"]}
    yanked = next(f for n, f in by_name.items() if "1.0" in n)
    assert yanked["yanked"] == "broken build"
    for entry in page["files"]:
        assert entry["size"] > 0 and entry["upload-time"].endswith("Z")
        assert set(entry["core-metadata"]) == {"sha256"}
    html = read(root, "web/simple/foo-bar/index.html")
    assert 'data-requires-python="&gt;=3.8"' in html
    assert "data-core-metadata=" in html and "<!--SERIAL " in html
    assert 'data-yanked="broken build"' in read(root, "web/simple/yanky/index.html")


def test_second_run_downloads_nothing_and_uses_the_listing_etag(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    assert fake_pypi.downloads == []
    assert fake_pypi.paths("/pypi/") == []
    listing = [r for r in fake_pypi.log if r.path.startswith("/simple")]
    assert len(listing) == 1 and listing[0].headers.get("If-None-Match")


def test_incremental_run_fetches_only_changed_projects(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert fake_pypi.paths("/pypi/") == []  # the project page is the source
    assert fake_pypi.paths("/simple/dep-lib") == ["/simple/dep-lib/"]
    assert {Path(p).name for p in fake_pypi.downloads} == {
        "dep_lib-0.2-py3-none-any.whl",
        "dep_lib-0.2-py3-none-any.whl.metadata",
    }
    assert read(root, "status") == str(fake_pypi.index.serial)
    assert "dep_lib-0.2-py3-none-any.whl" in read(root, "web/simple/dep-lib/index.html")


def test_force_check_reprocesses_every_project_without_downloading(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    fake_pypi.reset_log()
    assert run(config, "mirror", "--force-check") == 0
    pages = sorted(p for p in fake_pypi.paths("/simple/") if p != "/simple/")
    assert pages == ["/simple/dep-lib/", "/simple/foo-bar/", "/simple/yanky/"]
    assert fake_pypi.downloads == []


def test_a_listed_project_answering_404_is_retried_next_run(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    fake_pypi.fail("/simple/yanky/", 404)
    assert run(config, "mirror") == 1
    assert failed_names(mirror_dir(config)) == {"yanky"}
    assert run(config, "mirror") == 0
    assert read(mirror_dir(config), "status") == str(fake_pypi.index.serial)
    assert "web/simple/yanky/index.html" in tree(mirror_dir(config))


def test_interrupted_run_resumes_from_todo(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    root.mkdir()
    (root / "generation").write_text("5")
    serial = fake_pypi.index.serial
    (root / "todo").write_text(f"{serial}\nyanky {serial}")
    assert run(config, "mirror") == 0
    assert fake_pypi.paths("/simple/") == ["/simple/yanky/"]  # its page only: no listing
    assert read(root, "status") == str(serial)
    assert not (root / "todo").exists()


def test_unusable_todo_is_discarded(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    root.mkdir()
    (root / "todo").write_text("None\nfoo 1")
    assert run(config, "mirror") == 0
    assert len([p for p in fake_pypi.paths("/simple/") if p != "/simple/"]) == 3


def test_old_generation_forces_a_full_sync(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    root.mkdir()
    (root / "generation").write_text("4")
    (root / "status").write_text("999999")
    assert run(config, "mirror") == 0
    assert read(root, "generation") == "5"
    assert read(root, "status") == str(fake_pypi.index.serial)


def test_unknown_generation_is_refused(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    root.mkdir()
    (root / "generation").write_text("9")
    assert run(config, "mirror") == 1
    assert not (root / "web").exists()
