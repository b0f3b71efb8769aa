"""Filters in a real mirror run, and pruning after a filter is tightened."""

from __future__ import annotations

from pathlib import Path

from fakepypi import make_wheel
from frumious.http import checked

from .helpers import mirror_dir, packages, read, run, tree


def plugins(*names: str, **sections: dict) -> dict:
    return {"plugins": {"enabled": list(names)}, **sections}


def project_dirs(root: Path) -> set[str]:
    return {p.split("/")[2] for p in tree(root) if p.startswith("web/simple/") and p.count("/") == 3}


def test_allowlist_mirrors_only_listed_projects_without_the_full_listing(fake_pypi, make_config, tmp_path) -> None:
    sections = plugins("allowlist_project", allowlist={"packages": ["foo-bar"]})
    config = make_config(tmp_path, fake_pypi, sections=sections)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert project_dirs(root) == {"foo-bar"}
    # One request for the project: the page read for its serial is the one synced.
    assert fake_pypi.paths("/simple/") == ["/simple/foo-bar/"] and fake_pypi.paths("/pypi/") == []
    assert '<a href="foo-bar/">foo-bar</a>' in read(root, "web/simple/index.html")
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    assert fake_pypi.paths("/simple/") == ["/simple/foo-bar/"] and fake_pypi.downloads == []


def _allowlist_noop_peers(fake_pypi, make_config, tmp_path, **keys) -> tuple[list[str], set[int]]:
    """A second run of an allowlist of every project (workers = 1: two pages asked at a time): the pages
    it asked and the connections (client ports) they came on."""
    names = ["foo-bar", "dep-lib", "yanky", *(f"extra-{i}" for i in range(6))]
    for name in names[3:]:
        fake_pypi.index.add(name, "1.0", make_wheel(name, "1.0"))
    sections = plugins("allowlist_project", allowlist={"packages": names})
    config = make_config(tmp_path, fake_pypi, sections=sections, workers=1, **keys)
    assert run(config, "mirror") == 0
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    pages = [r for r in fake_pypi.log if r.path.startswith("/simple/")]
    assert sorted(r.path for r in pages) == sorted(f"/simple/{name}/" for name in names)
    assert fake_pypi.downloads == []
    return [r.path for r in pages], {r.peer for r in pages}


def test_an_allowlist_run_with_nothing_new_reads_the_small_pages_and_keeps_its_connections(
    fake_pypi, make_config, tmp_path
) -> None:
    pages, peers = _allowlist_noop_peers(fake_pypi, make_config, tmp_path)
    # Each page's serial says it is current; its body is read anyway, so the next page reuses the
    # connection (a dropped one would cost a TLS handshake a project on every run).
    assert len(peers) <= 2 < len(pages)


def test_an_allowlist_page_over_the_skim_limit_is_dropped_with_its_connection(
    fake_pypi, make_config, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(checked, "SKIM", 16)  # every page is bigger: none is read
    pages, peers = _allowlist_noop_peers(fake_pypi, make_config, tmp_path)
    assert len(peers) == len(pages)  # a new connection each, and the run still right


def test_an_allowlist_run_under_a_byte_limit_leaves_the_pages_it_does_not_need(
    fake_pypi, make_config, tmp_path
) -> None:
    # Read, their bytes would count against max-bytes-per-second and the run would wait for them.
    pages, peers = _allowlist_noop_peers(fake_pypi, make_config, tmp_path, max_bytes_per_second="10M")
    assert len(peers) == len(pages)


def test_blocklist_project(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, sections=plugins("blocklist_project", blocklist={"packages": ["yanky"]}))
    assert run(config, "mirror") == 0
    assert project_dirs(mirror_dir(config)) == {"foo-bar", "dep-lib"}


def test_exclude_platform_skips_windows_wheels(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2", tag="cp311-cp311-win_amd64"))
    config = make_config(tmp_path, fake_pypi, sections=plugins("exclude_platform", blocklist={"platforms": "windows"}))
    assert run(config, "mirror") == 0
    names = packages(mirror_dir(config))
    assert "dep_lib-0.1-py3-none-any.whl" in names
    assert not any("win_amd64" in name for name in names)


def test_latest_release_keeps_only_the_newest(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, sections=plugins("latest_release", latest_release={"keep": "1"}))
    assert run(config, "mirror") == 0
    names = packages(mirror_dir(config))
    assert "foo_bar-2.0-py3-none-any.whl" in names and "foo_bar-1.0-py3-none-any.whl" not in names
    assert "foo_bar-1.0" not in read(mirror_dir(config), "web/simple/foo-bar/index.html")


def test_unknown_plugin_is_a_config_error(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, sections=plugins("no_such_filter"))
    assert run(config, "mirror") == 2
    assert "no_such_filter" in capsys.readouterr().err
    assert fake_pypi.requests == []


def tighten_to_foo_bar(config: Path) -> None:
    text = config.read_text()
    config.write_text(text + "\n[plugins]\nenabled =\n    allowlist_project\n[allowlist]\npackages =\n    foo-bar\n")


def test_tightened_project_filter_is_reported_not_pruned_by_default(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    before = tree(mirror_dir(config))
    tighten_to_foo_bar(config)
    assert run(config, "mirror") == 0
    assert tree(mirror_dir(config)) >= {p for p in before if not p.startswith((".frumious", "web/last-modified"))}
    assert "prune-filtered" in capsys.readouterr().err


def test_tightened_project_filter_prunes_with_prune_filtered(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, prune_filtered=True, json=True, max_delete_share=1)
    assert run(config, "mirror") == 0
    tighten_to_foo_bar(config)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert project_dirs(root) == {"foo-bar"}
    assert not any(name.startswith(("dep_lib", "yanky")) for name in packages(root))
    assert not (root / "web/json/yanky").exists() and not (root / "web/pypi/yanky").exists()
    assert "yanky" not in read(root, "web/simple/index.html")
    assert "foo_bar-2.0-py3-none-any.whl" in packages(root)


def test_tightened_release_filter_prunes_on_force_check(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, prune_filtered=True)
    assert run(config, "mirror") == 0
    config.write_text(config.read_text() + "\n[plugins]\nenabled = latest_release\n[latest_release]\nkeep = 1\n")
    assert run(config, "mirror", "--force-check") == 0
    names = packages(mirror_dir(config))
    assert "foo_bar-1.0-py3-none-any.whl" not in names
    assert "foo_bar-1.0-py3-none-any.whl.metadata" not in names
    assert "foo_bar-2.0-py3-none-any.whl" in names


def test_newly_allowed_project_is_fetched_without_force_check(fake_pypi, make_config, tmp_path) -> None:
    sections = plugins("allowlist_project", allowlist={"packages": ["foo-bar", "dep-lib"]})
    config = make_config(tmp_path, fake_pypi, sections=sections)
    assert run(config, "mirror") == 0
    config.write_text(config.read_text().replace("    dep-lib", "    dep-lib\n    yanky"))
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    assert sorted(fake_pypi.paths("/simple/")) == ["/simple/dep-lib/", "/simple/foo-bar/", "/simple/yanky/"]
    assert project_dirs(mirror_dir(config)) == {"foo-bar", "dep-lib", "yanky"}
