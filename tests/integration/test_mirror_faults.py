"""Upstream faults and bad upstream data: retried or reported, never in the tree."""

from __future__ import annotations

import asyncio

from fakepypi import FakePyPI
from frumious import upstream

from .helpers import failed_names, mirror_dir, packages, read, run, temp_files, tree


def assert_clean(fake_pypi: FakePyPI, config) -> None:
    root = mirror_dir(config)
    assert read(root, "status") == str(fake_pypi.index.serial)
    assert not (root / "todo").exists()
    assert failed_names(root) == set()
    assert temp_files(root) == []


def test_server_errors_are_retried(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.fail("/simple/foo-bar/", 500, times=2)
    fake_pypi.fail("/packages/*dep_lib-0.1-py3-none-any.whl", 503, times=1)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert_clean(fake_pypi, config)


def test_rate_limit_honours_retry_after(fake_pypi, make_config, tmp_path, monkeypatch) -> None:
    # The waits the client asks for are recorded, not timed: a timing breaks under load.
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(upstream.asyncio, "sleep", sleep)
    fault = fake_pypi.rate_limit("/simple/yanky/", retry_after=7, times=1)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert waits == [7.0]
    assert fault.fired == 1
    assert_clean(fake_pypi, config)


def test_dropped_connections_are_retried(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.drop("/simple/dep-lib/", times=1)
    fake_pypi.drop("/packages/*yanky-1.1-py3-none-any.whl", after_bytes=100, times=1)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert_clean(fake_pypi, config)


def test_truncated_body_is_retried_and_never_visible(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.truncate("/packages/*dep_lib-0.1-py3-none-any.whl", keep=50, times=1)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert_clean(fake_pypi, config)
    wheel = next((mirror_dir(config) / "web/packages").rglob("dep_lib-0.1-py3-none-any.whl"))
    assert wheel.read_bytes() == fake_pypi.index.file("dep-lib", wheel.name).artifact.content


def test_wrong_digest_fails_the_project_which_is_carried_by_name(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.corrupt("/packages/*dep_lib-0.1-py3-none-any.whl", times=None)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 1
    root = mirror_dir(config)
    assert "dep_lib-0.1-py3-none-any.whl" not in packages(root)
    assert failed_names(root) == {"dep-lib"}
    assert not (root / "todo").exists()
    assert "web/simple/dep-lib/index.html" not in tree(root)
    assert temp_files(root) == []
    # The other projects were mirrored completely.
    assert "web/simple/yanky/index.html" in tree(root)
    fake_pypi.clear_faults()
    assert run(config, "mirror") == 0
    assert_clean(fake_pypi, config)


def test_stale_serial_is_retried_then_reported(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.stale_serial("/simple/yanky/", times=1)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert_clean(fake_pypi, config)
    fake_pypi.index.touch("yanky")
    fake_pypi.stale_serial("/simple/yanky/", times=None)
    assert run(config, "mirror") == 1
    assert failed_names(mirror_dir(config)) == {"yanky"}


def test_missing_serial_header_falls_back_to_the_documents_serial(fake_pypi, make_config, tmp_path) -> None:
    # Mirrors of PyPI often drop X-PyPI-Last-Serial; the page's meta._last-serial is checked instead.
    fault = fake_pypi.omit_serial("/simple/?*/", times=None)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert fault.fired == 3
    assert_clean(fake_pypi, config)


def test_invalid_project_json_fails_only_that_project(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.bad_json("/simple/yanky/", times=None)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 1
    files = tree(mirror_dir(config))
    assert "web/simple/yanky/index.html" not in files
    assert "web/simple/foo-bar/index.html" in files


def test_file_url_outside_packages_lands_by_its_sha256(fake_pypi, make_config, tmp_path) -> None:
    file = fake_pypi.index.project("dep-lib").files()[0]
    fake_pypi.index.patch_file("dep-lib", file.filename, url="/elsewhere/" + file.filename)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    sha = file.artifact.sha256
    assert f"web/packages/{sha[:2]}/{sha[2:4]}/{sha[4:]}/{file.filename}" in tree(mirror_dir(config))
    assert "elsewhere" not in str(tree(mirror_dir(config)))
    assert "/elsewhere/" + file.filename in fake_pypi.paths("/elsewhere/", "GET")


def test_dot_dot_segments_never_reach_the_tree(fake_pypi, make_config, tmp_path) -> None:
    filename = fake_pypi.index.project("dep-lib").files()[0].filename
    fake_pypi.index.patch_file("dep-lib", filename, url="/packages/../../evil/" + filename)
    config = make_config(tmp_path, fake_pypi)
    run(config, "mirror")  # the file lands by its sha256 if the server answers, else the project fails
    assert not (tmp_path / "evil").exists() and not (mirror_dir(config) / "evil").exists()
    assert not any("evil" in key for key in tree(mirror_dir(config)))


def test_filename_with_a_slash_is_refused(fake_pypi, make_config, tmp_path) -> None:
    filename = fake_pypi.index.project("dep-lib").files()[0].filename
    fake_pypi.index.patch_file("dep-lib", filename, json_filename="a/" + filename)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 1
    assert "web/simple/dep-lib/index.html" not in tree(mirror_dir(config))


def test_permanently_wrong_digest_upstream_is_refused(fake_pypi, make_config, tmp_path) -> None:
    filename = fake_pypi.index.project("dep-lib").files()[0].filename
    fake_pypi.index.patch_file("dep-lib", filename, digests={"sha256": "0" * 64, "md5": "0" * 32})
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 1
    assert filename not in packages(mirror_dir(config))
    assert temp_files(mirror_dir(config)) == []


def test_relative_file_urls_from_a_mirror_upstream_are_resolved(fake_pypi, make_config, tmp_path) -> None:
    # A bandersnatch-style upstream answers with URLs relative to the JSON document.
    fake_pypi.files_url = "../.."
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert_clean(fake_pypi, config)
    assert "dep_lib-0.1-py3-none-any.whl" in packages(mirror_dir(config))
    assert len(fake_pypi.downloads) > 0
