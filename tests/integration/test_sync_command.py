"""`frumious sync NAME...`: just those projects, with project filters, leaving status alone."""

from __future__ import annotations

import json

import filelock

from fakepypi import make_wheel

from .helpers import mirror_dir, packages, read, run, tree

BLOCK_YANKY = {"plugins": {"enabled": ["blocklist_project"]}, "blocklist": {"packages": ["yanky"]}}


def root_names(root) -> list[str]:
    return [p["name"] for p in json.loads(read(root, "web/simple/index.v1_json"))["projects"]]


def test_sync_mirrors_only_the_named_projects(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "sync", "Foo_Bar", "foo.bar") == 0  # two spellings, one project
    root = mirror_dir(config)
    # Its page only: no listing, no Warehouse JSON.
    assert fake_pypi.paths("/simple/") == ["/simple/foo-bar/"] and fake_pypi.paths("/pypi/") == []
    assert {p.split("/")[2] for p in tree(root) if p.startswith("web/simple/") and p.count("/") == 3} == {"foo-bar"}
    assert packages(root) >= {f.filename for f in fake_pypi.index.project("foo-bar").files()}
    assert root_names(root) == ["foo-bar"]
    files = tree(root)
    assert "status" not in files and "todo" not in files
    assert "Projects: 1 synced, 0 failed" in capsys.readouterr().out


def test_sync_leaves_status_alone_and_updates_the_root(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, max_delete_share=0.5)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    serial = read(root, "status")
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    fake_pypi.index.add("Newcomer", "1.0", make_wheel("Newcomer", "1.0"))
    fake_pypi.reset_log()
    assert run(config, "sync", "dep-lib", "newcomer") == 0
    assert read(root, "status") == serial and "todo" not in tree(root)
    assert "dep_lib-0.2-py3-none-any.whl" in packages(root)
    assert root_names(root) == ["dep-lib", "foo-bar", "newcomer", "yanky"]
    root_page = json.loads(read(root, "web/simple/index.v1_json"))
    assert root_page["meta"]["_last-serial"] == int(serial)
    # The next mirror still sees the upstream changes as new, and finds the files current.
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    assert fake_pypi.downloads == []


def test_sync_applies_project_filters(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, sections=BLOCK_YANKY)
    assert run(config, "sync", "yanky", "dep-lib") == 0
    assert fake_pypi.paths("/simple/") == ["/simple/dep-lib/"]
    assert not any(name.startswith("yanky") for name in packages(mirror_dir(config)))
    out = capsys.readouterr().out
    assert "Excluded by project filters, not synced: yanky" in out


def test_skip_simple_root(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "sync", "--skip-simple-root", "yanky") == 0
    files = tree(mirror_dir(config))
    assert "web/simple/yanky/index.html" in files
    assert not any(p.startswith("web/simple/index.") for p in files)


def test_sync_failures_exit_1_and_are_named(fake_pypi, make_config, tmp_path, capsys) -> None:
    fake_pypi.fail("/simple/yanky/", 403, times=None)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "sync", "yanky", "no-such-project", "dep-lib") == 1
    out = capsys.readouterr().out
    assert "yanky: HTTP 403" in out
    assert "no-such-project: not found upstream (404)" in out
    assert root_names(mirror_dir(config)) == ["dep-lib"]


def test_sync_keeps_the_display_name_of_a_known_project(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    assert run(config, "sync", "FOO_bar") == 0
    assert "<title>Links for Foo.Bar</title>" in read(mirror_dir(config), "web/simple/foo-bar/index.html")


def test_sync_waits_for_no_one(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    root.mkdir()
    with filelock.FileLock(str(root / ".lock")):
        assert run(config, "sync", "yanky") == 1
    assert "another run holds" in capsys.readouterr().err
    assert fake_pypi.requests == []
